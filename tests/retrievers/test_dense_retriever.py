from __future__ import annotations

import numpy as np
import pytest

from ragkit.indexes.index import IndexMismatchError
from ragkit.registry import build
from ragkit.retrievers.dense import DenseRetriever


def test_semantic_hits_with_chunks(index_dir):
    retriever = build("retriever", {"type": "dense", "index": index_dir})
    hits = retriever.retrieve(["my kitten is purring", "power cycle the modem"], k=2)
    assert "Cats" in hits[0][0].chunk.text
    assert "router" in hits[1][0].chunk.text.lower()
    assert all(h.retriever == "dense" and h.rank == r for r, h in enumerate(hits[0], start=1))


def test_retrieve_vectors_matches_retrieve(index_dir):
    retriever = DenseRetriever(index_dir)
    queries = ["warranty period"]
    by_text = retriever.retrieve(queries, k=3)[0]
    by_vector = retriever.retrieve_vectors(retriever.embed_queries(queries), k=3)[0]
    assert [h.chunk_id for h in by_text] == [h.chunk_id for h in by_vector]
    vectors = retriever.embed_queries(queries + ["cats"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_filters_apply_to_dense_search(index_dir):
    hits = DenseRetriever(index_dir, filters={"language": "go"}).retrieve(["cats purring"], k=5)[0]
    assert [h.chunk.language for h in hits] == ["go"]


def test_another_embedder_is_refused(index_dir, tmp_path):
    retriever = DenseRetriever(index_dir, embedder=str(tmp_path / "other-model"))
    with pytest.raises(IndexMismatchError, match="built with embedder"):
        retriever.retrieve(["x"])
    DenseRetriever(index_dir, embedder="minilm").retrieve(["x"], k=1)
