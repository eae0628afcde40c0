"""Cross-encoder reranker on a tiny CrossEncoder built here (no cross-encoder ships offline)."""

from __future__ import annotations

import pytest

from ragkit.registry import build
from ragkit.types import Chunk, Hit


def _hits():
    texts = ["green tea is brewed", "hold the power button to reset the router", "lava rock", "cats purr"]
    return [Hit(f"d{i}", 1.0 - i / 10, i + 1, "bm25", Chunk(text=t, source=f"d{i}.md")) for i, t in enumerate(texts)]


def test_loads_a_local_dir_and_orders_by_the_models_scores(tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    reranker = build("reranker", {"type": "cross-encoder", "model": tiny_cross_encoder, "device": "cpu", "precision": "fp32"})
    queries = ["how do i reset the router", "why do cats purr"]
    out = reranker.rerank(queries, [_hits(), _hits()], k=3)
    # independent check: the same model through sentence-transformers directly
    model = CrossEncoder(tiny_cross_encoder, device="cpu")
    for query, hits in zip(queries, out):
        expected = model.predict([(query, h.chunk.text) for h in _hits()])
        order = sorted(range(4), key=lambda i: (-expected[i], i))[:3]
        assert [h.chunk_id for h in hits] == [f"d{i}" for i in order]
        assert [h.score for h in hits] == pytest.approx([float(expected[i]) for i in order], abs=1e-5)
        assert [h.rank for h in hits] == [1, 2, 3] and all(h.retriever == "cross-encoder" and h.chunk for h in hits)
    assert reranker.rerank([], [], k=3) == []


def test_needs_a_model_and_one_hit_list_per_query(tiny_cross_encoder):
    with pytest.raises(ValueError, match="needs model=DIR"):
        build("reranker", "cross-encoder")
    reranker = build("reranker", {"type": "cross-encoder", "model": tiny_cross_encoder})
    with pytest.raises(ValueError, match="one list per query"):
        reranker.rerank(["a", "b"], [_hits()], k=2)
    assert reranker.to_config() == {"type": "cross-encoder", "model": tiny_cross_encoder, "batch_size": 32,
                                    "max_length": 512, "device": None, "precision": "auto", "first_stage_weight": 0.0}
    with pytest.raises(ValueError, match="first_stage_weight"):
        build("reranker", {"type": "cross-encoder", "model": tiny_cross_encoder, "first_stage_weight": 1.5})
    with pytest.raises(ValueError, match="unknown precision"):
        build("reranker", {"type": "cross-encoder", "model": tiny_cross_encoder, "precision": "fp8"})


def test_first_stage_weight_blends_minmax_scores(tiny_cross_encoder):
    spec = {"type": "cross-encoder", "model": tiny_cross_encoder, "device": "cpu", "precision": "fp32"}
    query = "how do i reset the router"
    ce = build("reranker", spec).score([(query, h.chunk.text) for h in _hits()])
    first = [h.score for h in _hits()]

    def minmax(xs):
        return [(x - min(xs)) / (max(xs) - min(xs)) for x in xs]

    for w in (0.3, 1.0):
        out = build("reranker", {**spec, "first_stage_weight": w}).rerank([query], [_hits()], k=4)[0]
        want = [(1 - w) * a + w * b for a, b in zip(minmax(ce), minmax(first))]
        order = sorted(range(4), key=lambda i: (-want[i], i))
        assert [h.chunk_id for h in out] == [f"d{i}" for i in order]
        assert [h.score for h in out] == pytest.approx([want[i] for i in order], abs=1e-6)
    # weight 1 keeps the first stage's order exactly
    assert [h.chunk_id for h in out] == ["d0", "d1", "d2", "d3"]


def test_bf16_scores_track_fp32(tiny_cross_encoder):
    from ragkit.precision import native_bf16

    if not native_bf16("cpu"):
        pytest.skip("this CPU has no native bf16")
    pairs = [(q, h.chunk.text) for q in ("how do i reset the router", "why do cats purr") for h in _hits()]
    spec = {"type": "cross-encoder", "model": tiny_cross_encoder, "device": "cpu"}
    exact = build("reranker", {**spec, "precision": "fp32"}).score(pairs)
    fast = build("reranker", {**spec, "precision": "bf16"}).score(pairs)
    assert fast != exact  # bf16 really ran
    assert fast == pytest.approx(exact, abs=0.02)
