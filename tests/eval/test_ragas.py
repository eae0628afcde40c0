"""ragas integration: non-LLM metrics on hand-checked cases; LLM metrics through a fake judge,
with parse failures, NaNs and inapplicable metrics counted instead of averaged in."""

from __future__ import annotations

import json

import pytest

from ragkit.eval.ragas import JudgeParseError, RagasSample, RagkitJudge, extract_json, ragas_scores
from ragkit.llm import FakeLLM

PASSAGE = "The standard warranty period is 12 years from the date of installation."


def test_extract_json_finds_the_first_object():
    assert extract_json('Sure! ```json\n{"verdict": 1, "reason": "ok"}\n``` done') == {"verdict": 1, "reason": "ok"}
    assert extract_json('noise {not json} then {"a": {"b": [1, 2]}} tail') == {"a": {"b": [1, 2]}}
    assert extract_json('[1, 2] {"x": 1}') == {"x": 1}  # a list is not an object
    with pytest.raises(JudgeParseError, match="no JSON object"):
        extract_json("The answer is faithful.")


def test_judge_parses_into_the_schema_and_counts_failures():
    from pydantic import BaseModel

    class Verdict(BaseModel):
        verdict: int
        reason: str

    judge = RagkitJudge(FakeLLM(responses=['{"verdict": 1, "reason": "stated"}', '{"verdict": "yes-ish"}', "no"]))
    assert judge.generate("p", Verdict) == Verdict(verdict=1, reason="stated")
    with pytest.raises(JudgeParseError, match="does not fit Verdict"):
        judge.generate("p", Verdict)  # JSON, but not the schema
    with pytest.raises(JudgeParseError):
        judge.generate("p", Verdict)  # no JSON at all
    assert (judge.calls, judge.parse_errors) == (3, 2)
    assert json.loads(judge.description)["type"] == "fake"


def test_judge_schema_caps_strings_and_holds_integers_to_verdicts():
    from pydantic import BaseModel

    class Verdict(BaseModel):
        verdict: int
        reason: str

    class Verdicts(BaseModel):
        statements: list[Verdict]

    judge = RagkitJudge(FakeLLM(default="{}"), max_new_tokens=200, max_items=3)
    schema = judge.schema(Verdicts)
    inner = schema["$defs"]["Verdict"]["properties"]
    assert inner["verdict"]["enum"] == [0, 1] and inner["reason"]["maxLength"] == 100
    assert schema["properties"]["statements"]["maxItems"] == 3
    assert "enum" not in Verdicts.model_json_schema()["$defs"]["Verdict"]["properties"]["verdict"]  # a copy


def test_non_llm_metrics_hand_checked():
    samples = [
        RagasSample("How long is the warranty?", "12 years", "12 years", [PASSAGE], [PASSAGE]),
        RagasSample("How long is the warranty?", "It is 12 years", "12 years", None, [PASSAGE]),
        RagasSample("q", "the warranty lasts twelve years from installation", "the warranty lasts twelve years from installation"),
    ]
    r = ragas_scores(samples, metrics=["exact_match", "string_presence", "bleu", "rouge_l",
                                       "non_llm_context_precision", "non_llm_context_recall"])
    rows = r["per_query"]
    assert [row["exact_match"] for row in rows] == [1.0, 0.0, 1.0]
    assert [row["string_presence"] for row in rows] == [1.0, 1.0, 1.0]  # the reference occurs in each
    assert rows[0]["bleu"] == 0.0  # sentence BLEU has no 4-gram in two tokens
    assert rows[2]["bleu"] == pytest.approx(1.0) and rows[2]["rouge_l"] == pytest.approx(1.0)
    assert rows[1]["rouge_l"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)  # LCS 2 of 4 vs 2 tokens
    assert rows[0]["non_llm_context_recall"] == 1.0
    assert rows[0]["non_llm_context_precision"] == pytest.approx(1.0)
    # the closed-book sample has no contexts: counted as not applicable, never a number
    assert rows[1]["non_llm_context_recall"] is None
    assert rows[1]["missing"]["non_llm_context_recall"] == "not_applicable"
    assert r["missing"]["non_llm_context_recall"] == {"not_applicable": 2}
    assert r["counts"]["non_llm_context_recall"] == 1
    assert r["aggregate"]["exact_match"] == pytest.approx(2 / 3)
    assert r["judge"] is None


def test_semantic_similarity_uses_the_local_embedder():
    samples = [RagasSample("q", "The warranty is 12 years.", "The warranty is 12 years."),
               RagasSample("q", "Bananas are yellow.", "The warranty is 12 years.")]
    r = ragas_scores(samples, metrics=["semantic_similarity"])
    same, different = (row["semantic_similarity"] for row in r["per_query"])
    assert same == pytest.approx(1.0, abs=1e-4)
    assert different < 0.5


def _judge() -> FakeLLM:
    return FakeLLM(responses={
        "Break down each sentence": '{"statements": ["The warranty is 12 years.", "The warranty is free."]}',
        "judge the faithfulness": json.dumps({"statements": [
            {"statement": "The warranty is 12 years.", "reason": "stated", "verdict": 1},
            {"statement": "The warranty is free.", "reason": "not stated", "verdict": 0}]}),
        "noncommittal": '{"question": "How long is the warranty?", "noncommittal": 0}',
        "useful in arriving at the given answer": '{"reason": "holds it", "verdict": 1}',
        "attributed": "I think the context supports it.",  # context recall: never parses
    })


def test_llm_metrics_with_a_fake_judge_count_parse_failures():
    samples = [
        RagasSample("How long is the warranty?", "The warranty is 12 years and free.", "12 years", [PASSAGE], [PASSAGE]),
        RagasSample("How long is the warranty?", "12 years", "12 years", None, []),
    ]
    r = ragas_scores(samples, llm_metrics=True, judge=_judge(),
                     metrics=["faithfulness", "answer_relevancy", "context_precision", "context_recall"])
    first, second = r["per_query"]
    assert first["faithfulness"] == pytest.approx(0.5)  # 1 of 2 statements supported
    assert first["context_precision"] == pytest.approx(1.0)
    assert first["answer_relevancy"] == pytest.approx(1.0, abs=1e-4)  # generated question == the question
    assert first["context_recall"] is None and first["missing"]["context_recall"] == "parse_error"
    assert r["missing"]["context_recall"] == {"parse_error": 1, "not_applicable": 1}
    assert second["missing"]["faithfulness"] == "not_applicable"
    assert second["answer_relevancy"] == pytest.approx(1.0, abs=1e-4)  # needs no contexts
    assert r["aggregate"]["context_recall"] is None and r["counts"]["context_recall"] == 0
    assert r["judge_stats"]["parse_errors"] == 1
    assert json.loads(r["judge"])["type"] == "fake"


def test_no_statement_is_a_counted_nan():
    judge = FakeLLM(default='{"statements": []}')
    r = ragas_scores([RagasSample("q", "yes", "yes", [PASSAGE])], llm_metrics=True, judge=judge, metrics=["faithfulness"])
    assert r["per_query"][0]["faithfulness"] is None
    assert r["missing"]["faithfulness"] == {"nan": 1}


def test_prompt_too_long_and_llm_errors_are_counted():
    class ShortWindow(FakeLLM):
        def chat(self, conversations, max_new_tokens=None, stop=None):
            raise ValueError("prompt 0 has 3000 tokens; it exceeds the model's context window (2048)")

    sample = [RagasSample("q", "yes", "yes", [PASSAGE])]
    r = ragas_scores(sample, llm_metrics=True, judge=ShortWindow(), metrics=["faithfulness"])
    assert r["missing"]["faithfulness"] == {"prompt_too_long": 1}
    r = ragas_scores(sample, llm_metrics=True, judge=FakeLLM(fail=True), metrics=["context_recall"])
    assert r["missing"]["context_recall"] == {"llm_error": 1}


def test_bad_metric_requests():
    with pytest.raises(ValueError, match="unknown ragas metric"):
        ragas_scores([], metrics=["perplexity"])
    with pytest.raises(ValueError, match="need a judge"):
        ragas_scores([], metrics=["faithfulness"])
