"""Embedder (real bundled MiniLM) and the chunk-id embedding cache."""

from __future__ import annotations

import numpy as np
import pytest

from ragkit.indexes.embed import Embedder, EmbeddingCache

TEXTS = ["cats purr when they are happy", "the stock market fell sharply", "python lists are mutable"]


@pytest.fixture(scope="module")
def embedder():
    return Embedder("minilm", show_progress=False)


def test_encode_gives_unit_vectors_that_rank_by_meaning(embedder):
    docs = embedder.encode(TEXTS)
    assert docs.shape == (3, 384) and docs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    query = embedder.encode_queries(["kittens purring"])
    assert int(np.argmax(docs @ query[0])) == 0
    assert embedder.model_id == "sentence-transformers/all-MiniLM-L6-v2" and embedder.dimension == 384
    assert embedder.encode([]).shape == (0, 384)


def test_cache_embeds_only_new_chunks(embedder, monkeypatch):
    calls: list[list[str]] = []
    original = embedder.encode
    monkeypatch.setattr(embedder, "encode", lambda texts: calls.append(list(texts)) or original(texts))
    cache = EmbeddingCache(embedder.model_id)
    first = embedder.embed(["a", "b"], TEXTS[:2], cache)
    again = embedder.embed(["b", "c", "a"], [TEXTS[1], TEXTS[2], TEXTS[0]], cache)
    assert calls == [TEXTS[:2], [TEXTS[2]]]
    np.testing.assert_array_equal(again[[2, 0]], first)
    assert embedder.embed(["a", "b", "c"], TEXTS, cache).shape == (3, 384) and len(calls) == 2


def test_cache_round_trips_prunes_and_ignores_other_models(tmp_path):
    cache = EmbeddingCache("model-a")
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.put(["x", "y", "z"], vectors)
    cache.put(["x"], vectors[2:])  # already cached: kept as is
    cache.keep(["z", "x"])
    cache.save(tmp_path)
    loaded = EmbeddingCache.load(tmp_path, "model-a")
    assert len(loaded) == 2 and "y" not in loaded
    np.testing.assert_array_equal(loaded.get(["x", "z"]), vectors[[0, 2]])
    assert len(EmbeddingCache.load(tmp_path, "model-b")) == 0
    assert len(EmbeddingCache.load(tmp_path / "absent", "model-a")) == 0
    with pytest.raises(ValueError, match="dimension"):
        loaded.put(["w"], np.ones((1, 5), np.float32))


def test_a_cache_for_another_model_is_refused(embedder):
    with pytest.raises(ValueError, match="embedding cache is for"):
        embedder.embed(["a"], ["text"], EmbeddingCache("other/model"))
