"""Long-context reorder: the best hits sit at both ends, the weakest in the middle."""

from __future__ import annotations

import pytest

from ragkit.registry import build
from ragkit.rerankers.reorder import both_ends
from ragkit.types import Chunk, Hit


def _hits(scores):
    return [Hit(chunk_id=f"d{s}", score=float(s), rank=r) for r, s in enumerate(scores, start=1)]


def test_positions_alternate_front_and_back():
    assert both_ends(0) == [] and both_ends(1) == [0] and both_ends(4) == [0, 3, 1, 2]


def test_best_at_both_ends_weakest_in_the_middle():
    reorder = build("reranker", "reorder")
    [out] = reorder.rerank(["q"], [_hits([2, 5, 1, 4, 3])], k=5)
    scores = [h.score for h in out]
    assert scores == [5, 3, 1, 2, 4]
    assert scores[0] == max(scores) and scores[-1] == sorted(scores)[-2] and scores[len(scores) // 2] == min(scores)
    assert [h.rank for h in out] == [1, 2, 3, 4, 5]


def test_keeps_top_k_only_and_checks_the_batch():
    reorder = build("reranker", {"type": "reorder"})
    [out] = reorder.rerank(["q"], [_hits([1, 2, 3, 4, 5, 6])], k=3)
    assert [h.score for h in out] == [6, 4, 5]
    with pytest.raises(ValueError, match="one list per query"):
        reorder.rerank(["q", "r"], [_hits([1])], k=1)


def test_chain_runs_stages_in_order():
    chain = build("reranker", {"type": "chain", "rerankers": [
        {"type": "llm", "llm": {"type": "fake", "responses": {"d1": "yes", "d2": "yes"}, "default": "no"}},
        "reorder",
    ]})
    hits = [Hit(chunk_id=f"d{i}", score=1.0, rank=i, chunk=Chunk(text=f"passage d{i}", source="s")) for i in range(1, 6)]
    [out] = chain.rerank(["q"], [hits], k=3)
    # the LLM stage scores d1, d2 = 1 and the rest 0 (first-stage order), reorder puts #2 last
    assert [h.chunk_id for h in out] == ["d1", "d3", "d2"]
    assert chain.to_config()["rerankers"][1] == "reorder"
    with pytest.raises(ValueError, match="at least one"):
        build("reranker", {"type": "chain", "rerankers": []})
