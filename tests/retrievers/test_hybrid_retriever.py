from __future__ import annotations

import pytest

from ragkit.defaults import CODE_FUSION
from ragkit.indexes import fusion
from ragkit.indexes.index import Index
from ragkit.registry import build
from ragkit.retrievers.bm25 import BM25Retriever
from ragkit.retrievers.dense import DenseRetriever
from ragkit.retrievers.hybrid import HybridRetriever
from tests.retrievers.conftest import CHUNKS


def test_rrf_hybrid_equals_fusing_the_two_retrievers(index_dir):
    queries = ["reset router", "purring cat", "warranty"]
    hybrid = build("retriever", {"type": "hybrid", "index": index_dir, "depth": 6, "fusion": "rrf"})
    fused = hybrid.retrieve(queries, k=4)
    sparse = BM25Retriever(index_dir).retrieve(queries, k=6)
    dense = DenseRetriever(index_dir).retrieve(queries, k=6)
    for got, s, d in zip(fused, sparse, dense):
        expected = fusion.rrf([s, d], rrf_k=60, limit=4)
        assert [(h.chunk_id, h.score) for h in got] == [(h.chunk_id, h.score) for h in expected]
        assert all(h.retriever == "hybrid" and h.chunk is not None for h in got)
        assert [h.rank for h in got] == list(range(1, len(got) + 1))


def test_a_code_index_fuses_by_the_code_default_and_prose_by_rrf(index_dir, tmp_path):
    queries = ["reset router", "warranty claim"]
    sparse = BM25Retriever(index_dir).retrieve(queries, k=6)
    dense = DenseRetriever(index_dir).retrieve(queries, k=6)
    code = HybridRetriever(index_dir, depth=6)  # the fixture holds code: code-aware BM25 analysis
    assert code.resolved() == {**CODE_FUSION, "weights": list(CODE_FUSION["weights"])}
    for got, s, d in zip(code.retrieve(queries, k=4), sparse, dense):
        expected = fusion.weighted([s, d], weights=CODE_FUSION["weights"], normalization="minmax", limit=4)
        assert [(h.chunk_id, h.score) for h in got] == [(h.chunk_id, h.score) for h in expected]
    # a fusion asked for wins; its weights default to [1, 1], not the code fusion's
    assert HybridRetriever(index_dir, fusion="weighted").resolved() == {
        "fusion": "weighted", "weights": None, "normalization": "minmax"}
    assert HybridRetriever(index_dir, weights=[0.5, 0.5]).resolved()["weights"] == [0.5, 0.5]
    prose = tmp_path / "prose"
    Index.create(prose, [c for c in CHUNKS if c.language is None], show_progress=False)
    assert HybridRetriever(str(prose)).resolved() == {"fusion": "rrf", "weights": None, "normalization": "minmax"}


def test_weighted_fusion_and_weights(index_dir):
    dense_only = HybridRetriever(index_dir, fusion="weighted", weights=[0.0, 1.0], depth=6)
    dense = DenseRetriever(index_dir).retrieve(["purring cat"], k=3)[0]
    assert [h.chunk_id for h in dense_only.retrieve(["purring cat"], k=3)[0]] == [h.chunk_id for h in dense]
    zscore = HybridRetriever(index_dir, fusion="weighted", normalization="zscore")
    assert "router" in zscore.retrieve(["reset router"], k=2)[0][0].chunk.text.lower()


def test_filters_apply_to_both_parts(index_dir):
    hits = HybridRetriever(index_dir, filters={"path": "docs/**"}).retrieve(["router reset"], k=10)[0]
    assert hits and all(h.chunk.source.startswith("docs/") for h in hits)


def test_bad_arguments(index_dir):
    with pytest.raises(ValueError, match="unknown fusion"):
        HybridRetriever(index_dir, fusion="borda")
    with pytest.raises(ValueError, match=r"\[bm25, dense\]"):
        HybridRetriever(index_dir, weights=[1.0])
    with pytest.raises(ValueError, match="unknown normalization"):
        HybridRetriever(index_dir, normalization="rank")
