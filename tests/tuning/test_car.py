"""CAR: ambiguity detection, rewrite validation, rewriting with a FakeLLM that sees the document."""

from __future__ import annotations

from ragkit.llm import FakeLLM
from ragkit.tuning.car import car_rewrite, is_ambiguous, valid_rewrite
from ragkit.tuning.data import QAPair

DOC = "Aspirin lowers the risk of a first heart attack in adults over fifty by inhibiting platelet aggregation."


def test_ambiguity_short_or_low_overlap():
    assert is_ambiguous("aspirin heart", DOC)  # short
    assert not is_ambiguous("aspirin lowers heart attack risk in adults over fifty", DOC)
    assert is_ambiguous("salicylate cardioprotection elderly population outcomes", DOC)  # long, no overlap
    assert not is_ambiguous("salicylate cardioprotection elderly population outcomes", DOC, min_overlap=0.0)


def test_valid_rewrite_rules():
    assert valid_rewrite("does aspirin lower first heart attack risk in older adults", "aspirin heart", DOC)
    assert not valid_rewrite("aspirin heart", "aspirin heart", DOC)  # unchanged
    assert not valid_rewrite("a b", "q", DOC)  # too short
    assert not valid_rewrite("line one\nline two three four", "q", DOC)
    assert not valid_rewrite(DOC, "q", DOC)  # copies the document
    assert not valid_rewrite(" ".join(["word"] * 50), "q", DOC)


def test_car_rewrites_only_ambiguous_queries_with_their_document():
    llm = FakeLLM(responses={"Query: aspirin heart": "Rewritten query: does aspirin reduce first heart attack risk?"},
                  default="aspirin heart")
    pairs = [
        QAPair(question="aspirin heart", contexts=[DOC], chunk_id="d1"),
        QAPair(question="aspirin lowers heart attack risk in adults over fifty", contexts=[DOC], chunk_id="d1"),
        QAPair(question="salicylate cardioprotection elderly population outcomes", contexts=[DOC], chunk_id="d1"),
        QAPair(question="no passage"),
    ]
    out, stats = car_rewrite(pairs, llm)
    assert stats == {"pairs": 4, "ambiguous": 2, "rewritten": 1, "rejected": 1}
    assert out[0].question == "does aspirin reduce first heart attack risk?"
    assert out[0].metadata == {"original_question": "aspirin heart", "rewrite": "car"}
    assert [p.question for p in out[1:]] == [p.question for p in pairs[1:]]
    assert len(llm.calls) == 2 and DOC in llm.calls[0]  # the LLM saw the relevant document
    both, _ = car_rewrite(pairs, FakeLLM(responses=llm.responses, default=""), keep_original=True)
    assert [p.question for p in both[:2]] == ["aspirin heart", "does aspirin reduce first heart attack risk?"]
