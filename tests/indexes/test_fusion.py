"""Fusion: RRF and weighted score fusion on hand-checkable runs."""

from __future__ import annotations

import pytest

from ragkit.indexes.fusion import normalize, rrf, weighted
from ragkit.types import Chunk, Hit


def _run(*pairs, name="x"):
    return [Hit(chunk_id=c, score=s, rank=r, retriever=name) for r, (c, s) in enumerate(pairs, start=1)]


BM25 = _run(("a", 12.0), ("b", 8.0), ("c", 4.0), name="bm25")
DENSE = _run(("c", 0.9), ("a", 0.7), ("d", 0.5), name="dense")


def test_rrf_sums_reciprocal_ranks():
    fused = rrf([BM25, DENSE], rrf_k=60)
    expected = {"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 63}
    assert {h.chunk_id: h.score for h in fused} == pytest.approx(expected)
    assert [h.chunk_id for h in fused] == ["a", "c", "b", "d"]
    assert [h.rank for h in fused] == [1, 2, 3, 4] and {h.retriever for h in fused} == {"rrf"}


def test_rrf_weights_and_limit():
    fused = rrf([BM25, DENSE], rrf_k=1, weights=[1.0, 3.0], limit=2)
    # c: 1/4 + 3/2 = 1.75; a: 1/2 + 3/3 = 1.5
    assert [(h.chunk_id, round(h.score, 6)) for h in fused] == [("c", 1.75), ("a", 1.5)]
    with pytest.raises(ValueError, match="one weight per run"):
        rrf([BM25, DENSE], weights=[1.0])


def test_ties_are_broken_by_chunk_id():
    fused = rrf([_run(("z", 1.0)), _run(("y", 1.0))])
    assert [h.chunk_id for h in fused] == ["y", "z"]


def test_normalize_minmax_and_zscore():
    assert normalize([2.0, 4.0, 6.0]) == [0.0, 0.5, 1.0]
    assert normalize([3.0, 3.0]) == [1.0, 1.0]
    z = normalize([1.0, 2.0, 3.0], "zscore")
    assert z == pytest.approx([-1.224744871, 0.0, 1.224744871])
    assert normalize([5.0], "zscore") == [0.0] and normalize([5.0], "none") == [5.0]
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalize([1.0], "softmax")


def test_weighted_minmax_treats_missing_documents_as_the_runs_minimum():
    fused = weighted([BM25, DENSE], weights=[0.5, 0.5])
    # bm25 minmax: a 1, b .5, c 0 (d missing -> 0); dense: c 1, a .5, d 0 (b missing -> 0)
    expected = {"a": 0.75, "b": 0.25, "c": 0.5, "d": 0.0}
    assert {h.chunk_id: h.score for h in fused} == pytest.approx(expected)
    assert [h.chunk_id for h in fused] == ["a", "c", "b", "d"] and fused[0].retriever == "weighted"


def test_weighted_zscore():
    fused = weighted([BM25, DENSE], normalization="zscore", limit=1)
    zb = dict(zip("abc", normalize([12.0, 8.0, 4.0], "zscore")))
    zd = dict(zip("cad", normalize([0.9, 0.7, 0.5], "zscore")))
    assert fused[0].chunk_id == "a" and fused[0].score == pytest.approx(zb["a"] + zd["a"])
    assert len(fused) == 1


def test_fused_hits_keep_their_chunks():
    chunk = Chunk(text="t", source="s.md")
    run = [Hit(chunk_id=chunk.id, score=1.0, rank=1, chunk=chunk)]
    other = [Hit(chunk_id=chunk.id, score=0.3, rank=1)]
    assert rrf([other, run])[0].chunk is chunk
    assert weighted([other, run])[0].chunk is chunk
    assert rrf([]) == [] and weighted([[], []]) == []


def test_interpolate_blends_minmax_scores():
    from ragkit.indexes.fusion import interpolate

    assert interpolate([2.0, 4.0, 3.0], [10.0, 0.0, 5.0], 0.25) == pytest.approx([0.25, 0.75, 0.5])
    assert interpolate([2.0, 4.0], [1.0, 0.0], 0.0) == [2.0, 4.0]  # reranker alone: scores untouched
    assert interpolate([2.0, 4.0], [1.0, 0.0], 1.0) == [1.0, 0.0]
    with pytest.raises(ValueError, match="first-stage scores"):
        interpolate([1.0], [1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        interpolate([1.0], [1.0], -0.1)
