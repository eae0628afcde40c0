"""DenseIndex: exact search vs numpy, approximate types, deletes, filters, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from ragkit.indexes.faiss_index import DenseIndex


def _data(n=400, d=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:8] + 0.3 * rng.normal(size=(8, d)).astype(np.float32)
    return [f"c{i}" for i in range(n)], x, q


def _ids(results):
    return [[h.chunk_id for h in hits] for hits in results]


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_flat_search_equals_brute_force(metric):
    ids, x, q = _data()
    index = DenseIndex(32, metric=metric)
    index.add(ids, x)
    if metric == "ip":
        scores = q @ x.T
    else:
        scores = -((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    results = index.search(q, k=5)
    for row, hits in enumerate(results):
        top = np.argsort(-scores[row])[:5]
        assert [h.chunk_id for h in hits] == [ids[i] for i in top]
        np.testing.assert_allclose([h.score for h in hits], scores[row, top], rtol=1e-4, atol=1e-4)
        assert [h.rank for h in hits] == [1, 2, 3, 4, 5] and hits[0].retriever == "dense"


def test_incremental_add_and_delete_equal_a_rebuild():
    ids, x, q = _data()
    incremental = DenseIndex(32)
    incremental.add(ids[:300], x[:300])
    assert incremental.delete(["c0", "c5", "nope"]) == ["c0", "c5"]
    incremental.add(ids[300:], x[300:])
    keep = [n for n, i in enumerate(ids) if i not in ("c0", "c5")]
    rebuilt = DenseIndex(32)
    rebuilt.add([ids[n] for n in keep], x[keep])
    assert _ids(incremental.search(q, k=10)) == _ids(rebuilt.search(q, k=10))
    assert "c0" not in incremental and len(incremental) == 398


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_save_load_round_trip(tmp_path, index_type):
    ids, x, q = _data()
    index = DenseIndex(32, index_type=index_type)
    index.add(ids, x)
    index.save(tmp_path)
    loaded = DenseIndex.load(tmp_path)
    assert loaded.config() == index.config()
    assert _ids(loaded.search(q, k=10)) == _ids(index.search(q, k=10))
    loaded.add(["extra"], q[:1])
    assert loaded.search(q[:1], k=1)[0][0].chunk_id == "extra"


def test_hnsw_finds_the_exact_neighbours_and_supports_delete():
    ids, x, q = _data()
    exact, hnsw = DenseIndex(32), DenseIndex(32, index_type="hnsw")
    for index in (exact, hnsw):
        index.add(ids, x)
    truth, approx = _ids(exact.search(q, k=10)), _ids(hnsw.search(q, k=10))
    recall = np.mean([len(set(a) & set(t)) / 10 for a, t in zip(approx, truth)])
    assert recall >= 0.9
    hnsw.delete(["c1", "c2"])
    assert len(hnsw) == 398
    assert not {"c1", "c2"} & {h.chunk_id for hits in hnsw.search(q, k=20) for h in hits}


def test_ivfpq_trains_on_first_add_and_refuses_tiny_corpora():
    ids, x, q = _data(n=600)
    index = DenseIndex(32, index_type="ivfpq", nprobe=64)
    with pytest.warns(UserWarning, match="IVF-PQ trained on 600 vectors"):
        index.add(ids, x)
    assert index.config()["nlist"] >= 1 and index.config()["pq_m"] == 4
    top = [hits[0].chunk_id for hits in index.search(x[:20], k=1)]
    assert sum(t == i for t, i in zip(top, ids[:20])) >= 15  # self-retrieval through PQ codes
    index.delete(ids[:10])
    assert len(index) == 590 and not set(ids[:10]) & {h.chunk_id for h in index.search(x[:10], k=5)[0]}
    with pytest.raises(ValueError, match="at least 256 vectors"):
        DenseIndex(32, index_type="ivfpq").add(ids[:50], x[:50])


def test_allowed_ids_widen_the_search_until_k_hits():
    ids, x, q = _data()
    index = DenseIndex(32)
    index.add(ids, x)
    allowed = frozenset(ids[-7:])
    for hits in index.search(q, k=5, allowed=allowed):
        assert len(hits) == 5 and {h.chunk_id for h in hits} <= allowed
    assert all(len(h) == 7 for h in index.search(q, k=20, allowed=allowed))


def test_empty_index_and_bad_shapes():
    index = DenseIndex(4)
    assert index.search(np.ones((2, 4), np.float32), k=3) == [[], []]
    with pytest.raises(ValueError, match="shape"):
        index.add(["a"], np.ones((1, 5), np.float32))
    with pytest.raises(ValueError, match="unknown index_type"):
        DenseIndex(4, index_type="annoy")
    with pytest.raises(ValueError, match="must divide"):
        DenseIndex(10, pq_m=3)


def test_requiring_a_gpu_without_one_is_a_clear_error():
    import faiss

    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        pytest.skip("a GPU is present")
    ids, x, q = _data(n=10)
    index = DenseIndex(32, gpu=True)
    index.add(ids, x)
    with pytest.raises(RuntimeError, match="faiss-gpu"):
        index.search(q, k=1)
