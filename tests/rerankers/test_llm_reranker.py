"""LLM yes/no reranker: fake LLM (text answers), failure fallback, and the real SmolLM2 (P(yes))."""

from __future__ import annotations

import pytest

from ragkit.registry import build
from ragkit.rerankers.llm import RerankWarning, parse_yes_no
from ragkit.types import Chunk, Hit

PASSAGES = [
    "Green tea is brewed at eighty degrees for two minutes.",
    "Lava flows cool into basalt rock after an eruption.",
    "To reset the router, hold the power button for ten seconds.",
    "Products can be returned within thirty days with the receipt.",
]


def _hits():
    return [Hit(chunk_id=f"p{i}", score=1.0 - i / 10, rank=i + 1, chunk=Chunk(text=t, source=f"p{i}.md"))
            for i, t in enumerate(PASSAGES)]


def test_parse_yes_no():
    assert parse_yes_no("Yes.") == 1.0 and parse_yes_no(" no, it is not") == 0.0
    assert parse_yes_no("maybe") == 0.5 and parse_yes_no("nothing") == 0.5


def test_fake_llm_moves_the_relevant_passage_first():
    reranker = build("reranker", {"type": "llm", "llm": {"type": "fake", "responses": {"hold the power": "Yes"}, "default": "No"}})
    [out] = reranker.rerank(["how do I reset my router?"], [_hits()], k=3)
    assert [h.chunk_id for h in out] == ["p2", "p0", "p1"]  # yes first, then the no's in first-stage order
    assert out[0].score == 1.0 and out[0].retriever == "llm" and [h.rank for h in out] == [1, 2, 3]
    assert len(reranker._model().calls) == 4


def test_failed_llm_keeps_the_first_stage_order():
    reranker = build("reranker", {"type": "llm", "llm": {"type": "fake", "fail": True}})
    with pytest.warns(RerankWarning, match="keeping the first-stage order"):
        [out] = reranker.rerank(["q"], [_hits()], k=2)
    assert [h.chunk_id for h in out] == ["p0", "p1"] and [h.rank for h in out] == [1, 2]


def test_hits_need_text():
    reranker = build("reranker", {"type": "llm", "llm": {"type": "fake"}})
    with pytest.raises(ValueError, match="no chunk text"):
        reranker.rerank(["q"], [[Hit("x", 1.0)]], k=1)


QUESTIONS = {  # question -> index of the passage that answers it
    "How do I reset the router?": 2,
    "How long is green tea brewed?": 0,
    "What happens to lava after an eruption?": 1,
    "Can I return a product?": 3,
}


@pytest.mark.slow
def test_smollm2_yes_no_puts_the_obviously_relevant_passage_first():
    reranker = build("reranker", "llm")  # bundled SmolLM2-135M-Instruct, P(yes) from the logits
    [out] = reranker.rerank(["How do I reset the router?"], [_hits()], k=4)
    assert out[0].chunk_id == "p2", [(h.chunk_id, round(h.score, 3)) for h in out]
    assert all(0.0 <= h.score <= 1.0 for h in out)
    # batching and padding do not change a pair's score
    single = reranker.score([("How do I reset the router?", PASSAGES[2])])[0]
    assert single == pytest.approx(out[0].score, abs=1e-4)


@pytest.mark.slow
def test_smollm2_query_likelihood_finds_each_answering_passage():
    reranker = build("reranker", {"type": "llm", "method": "query-likelihood", "batch_size": 3})
    questions = list(QUESTIONS)
    out = reranker.rerank(questions, [_hits() for _ in questions], k=1)
    assert [hits[0].chunk_id for hits in out] == [f"p{QUESTIONS[q]}" for q in questions]
    assert all(hits[0].score < 0 for hits in out)  # mean log-probabilities
    single = reranker.score([(questions[0], PASSAGES[2])])[0]
    assert single == pytest.approx(out[0][0].score, abs=1e-4)


def test_query_likelihood_needs_token_probabilities():
    reranker = build("reranker", {"type": "llm", "method": "query-likelihood", "llm": {"type": "fake"}})
    with pytest.raises(ValueError, match="token probabilities"):
        reranker.rerank(["q"], [_hits()], k=1)
    with pytest.raises(ValueError, match="unknown method"):
        build("reranker", {"type": "llm", "method": "listwise"})
