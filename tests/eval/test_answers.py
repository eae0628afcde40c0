"""Answer metrics on hand-checked cases; ROUGE-L also against the rouge-score package."""

from __future__ import annotations

import math

import pytest

from ragkit.eval.answers import (
    Gold,
    _lcs,
    citation_precision,
    embedding_similarity,
    exact_match,
    gold_in_context,
    normalize_answer,
    rouge_l,
    score_answers,
    strip_citations,
    token_f1,
)
from ragkit.types import Answer, Chunk, Citation, Hit


def test_normalize_answer_follows_squad():
    assert normalize_answer("The  X2-5K!") == "x25k"
    assert normalize_answer("An apple, a day.") == "apple day"
    assert normalize_answer("  Theory of THE   mind ") == "theory of mind"


def test_exact_match_takes_the_best_gold():
    assert exact_match("The 12 years.", "12 years") == 1.0
    assert exact_match("12 years", ["20 years", "twelve years"]) == 0.0
    assert exact_match("twelve years", ["20 years", "Twelve years!"]) == 1.0


def test_token_f1_hand_checked():
    # prediction tokens {12, years, warranty}, gold {12, years}: P = 2/3, R = 1, F1 = 0.8
    assert token_f1("12 years warranty", "12 years") == pytest.approx(0.8)
    assert token_f1("five years", "12 years") == pytest.approx(0.5)  # P = R = 1/2
    assert token_f1("nothing shared", "12 years") == 0.0
    assert token_f1("the", "a") == 1.0  # both normalise to empty
    assert token_f1("", "12 years") == 0.0
    # repeated tokens count once per occurrence: pred [years, years], gold [years] -> P 1/2, R 1
    assert token_f1("years years", "years") == pytest.approx(2 / 3)


def test_gold_without_answers_is_an_error():
    with pytest.raises(ValueError, match="no gold answer"):
        token_f1("x", [])


def test_lcs_hand_checked():
    assert _lcs("a b c d".split(), "a c d".split()) == 3
    assert _lcs("x y".split(), "a b".split()) == 0
    assert _lcs("a b a b".split(), "b a b a".split()) == 3


def test_rouge_l_hand_checked():
    # pred [battery lasts five years], gold [five years battery]: LCS "five years" = 2,
    # P = 2/4, R = 2/3, F = 2PR / (P + R) = 4/7
    assert rouge_l("The battery lasts five years.", "five years battery") == pytest.approx(4 / 7)
    assert rouge_l("same words here", "same words here") == 1.0
    assert rouge_l("unrelated", "five years") == 0.0


@pytest.mark.parametrize(
    "pred, gold",
    [("battery lasts five years", "five years battery"), ("police killed gunman", "police kill gunman"),
     ("x2 weighs 21 kg", "weight of x2 is 21 kg")],
)
def test_rouge_l_matches_rouge_score_package(pred, gold):
    from rouge_score import rouge_scorer

    expected = rouge_scorer.RougeScorer(["rougeL"]).score(gold, pred)["rougeL"].fmeasure
    assert rouge_l(pred, gold) == pytest.approx(expected)


def test_embedding_similarity_with_hand_vectors():
    vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0], "d": [3.0, 0.0]}

    def embed(texts):
        return [vectors.get(t, [0.0, 0.0]) for t in texts]

    sims = embedding_similarity(["a", "a", ""], [["b", "c"], "d", "a"], embed=embed)
    assert sims[0] == pytest.approx(math.sqrt(0.5))  # best of cos(a,b)=0, cos(a,c)=0.707
    assert sims[1] == pytest.approx(1.0)  # same direction, different length
    assert sims[2] == 0.0  # an empty prediction scores 0
    with pytest.raises(ValueError, match="2 predictions but 1"):
        embedding_similarity(["a", "b"], ["a"], embed=embed)


def _hit(text: str, source: str = "doc.md") -> Hit:
    chunk = Chunk(text=text, source=source)
    return Hit(chunk_id=chunk.id, score=1.0, chunk=chunk)


def _answer(text: str, hits: list[Hit], cited: list[int], mode: str = "rag") -> Answer:
    citations = [Citation(number=n, chunk_id=hits[n - 1].chunk_id, source=hits[n - 1].chunk.source) for n in cited]
    return Answer(question="q", text=text, citations=citations, hits=hits, mode=mode)


def test_citation_precision_counts_gold_ids_and_answer_holding_chunks():
    gold_chunk = _hit("The pump runs at 6 bar.")
    holder = _hit("Warranty: the battery warranty lasts five years.")
    other = _hit("Clean the filter every three months.")
    not_whole_word = _hit("It lasts fifty-five years.")  # "five years" is not a whole-word span here
    gold = Gold(question="q", answers=["five years"], chunk_ids=[gold_chunk.chunk_id])
    answer = _answer("five years [1][2][3]", [gold_chunk, holder, other, not_whole_word], [1, 2, 3, 4])
    assert citation_precision(answer, gold) == pytest.approx(2 / 4)
    assert citation_precision(_answer("five years", [holder], []), gold) is None


def test_citation_precision_accepts_gold_passages():
    passage = _hit("Clean the filter every three months.")
    gold = Gold(question="q", answers=["quarterly"], contexts=["Clean the filter every three months."])
    assert citation_precision(_answer("quarterly [1]", [passage], [1]), gold) == 1.0


def test_gold_in_context():
    gold = Gold(question="q", answers=["6 bar"])
    holder, other = _hit("maximum pressure is 6 bar"), _hit("no pressure here")
    assert gold_in_context(_answer("x", [other, holder], []), gold) == 1.0
    assert gold_in_context(_answer("x", [other], []), gold) == 0.0
    assert gold_in_context(Answer(question="q", text="x", mode="closed-book"), gold) is None
    by_id = Gold(question="q", answers=["not in any chunk"], chunk_ids=[other.chunk_id])
    assert gold_in_context(_answer("x", [holder, other], []), by_id) == 1.0


def test_score_answers_aggregates_and_skips_undefined_values():
    holder = _hit("The battery warranty lasts five years.")
    golds = [Gold("q1", ["five years"]), Gold("q2", "6 bar"), Gold("q3", ["90 minutes"])]
    answers = [
        _answer("five years [1]", [holder], [1]),
        Answer(question="q2", text="6 bar", mode="closed-book"),
        Answer(question="q3", text="I don't know.", mode="closed-book", metadata={"idk_reason": "model"}),
    ]
    result = score_answers(answers, golds, ["exact_match", "token_f1", "citation_precision", "gold_in_context"])
    agg = result["aggregate"]
    assert agg["exact_match"] == pytest.approx(2 / 3)
    assert agg["citation_precision"] == 1.0 and agg["n_citation_precision"] == 1
    assert agg["gold_in_context"] == 1.0 and agg["n_gold_in_context"] == 1
    assert agg["idk_rate"] == pytest.approx(1 / 3) and agg["n"] == 3
    assert [r["idk"] for r in result["per_query"]] == [False, False, True]
    assert result["per_query"][1]["citation_precision"] is None


def test_score_answers_ignores_citation_markers():
    holder = _hit("The battery warranty lasts five years.")
    result = score_answers([_answer("Five years [1, 2].", [holder], [1])], [Gold("q", ["five years"])],
                           ["exact_match", "token_f1"])
    assert result["per_query"][0]["exact_match"] == 1.0 and result["per_query"][0]["token_f1"] == 1.0
    assert strip_citations("6 bar [1][2] and more [3, 4]") == "6 bar and more"


def test_score_answers_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown answer metric"):
        score_answers([], [], ["bleu"])
    with pytest.raises(ValueError, match="1 answers but 0 golds"):
        score_answers([Answer(question="q", text="x")], [], ["exact_match"])
