"""Retriever tuning on a tiny BERT: trains, saves a loadable SentenceTransformer, records the run,
and an exception mid-training leaves the previous model dir intact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragkit.tuning.data import QAPair
from ragkit.tuning.evaluate import RetrievalTask
from ragkit.tuning.retriever import RetrieverTuner
from ragkit.tuning.run import TUNING_FILE, read_tuning_record

DOCS = {
    "d1": "the cat sat on the mat",
    "d2": "red apple fruit",
    "d3": "the car drive fast on the road",
    "d4": "battery charge volt",
    "d5": "warranty two years",
    "d6": "water pump valve pressure",
}
QUESTIONS = {
    "d1": ["what sat on the mat", "where is the cat"],
    "d2": ["which fruit is red", "what is a red apple"],
    "d3": ["what does a car drive on", "how fast car"],
    "d4": ["what does the battery charge", "battery volt"],
    "d5": ["how many years warranty", "what is the warranty"],
    "d6": ["what is the pump pressure", "water valve"],
}


def _pairs() -> list[QAPair]:
    return [QAPair(question=q, chunk_id=d, source=d, contexts=[DOCS[d]]) for d, qs in QUESTIONS.items() for q in qs]


def _task() -> RetrievalTask:
    queries = {f"{d}-{i}": q for d, qs in QUESTIONS.items() for i, q in enumerate(qs)}
    return RetrievalTask(queries=queries, corpus=DOCS, qrels={qid: {qid.split("-")[0]: 1} for qid in queries})


def _tuner(base, **kw) -> RetrieverTuner:
    args = dict(base=str(base), epochs=8, batch_size=4, learning_rate=5e-3, max_seq_length=32, progress=False, eval_k=6)
    args.update(kw)
    return RetrieverTuner(**args)


def test_full_training_improves_saves_and_records(tiny_st_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "tuned"
    result = _tuner(tiny_st_dir).fit(_pairs(), out, evaluation=_task())
    before, after = result.metrics_before["ndcg@10"], result.metrics_after["ndcg@10"]
    assert after > before, (before, after)
    record = read_tuning_record(out)
    assert record["kind"] == "retriever"
    assert record["hyper_parameters"]["learning_rate"] == 5e-3
    assert record["n_train"] == 12 and len(record["data_hash"]) == 64
    assert record["metrics_after"] == result.metrics_after and record["wall_time_s"] > 0
    # A normal SentenceTransformer dir whose embeddings differ from the base model's.
    tuned, base = SentenceTransformer(str(out), device="cpu"), SentenceTransformer(str(tiny_st_dir), device="cpu")
    assert not np.allclose(tuned.encode(["red apple"]), base.encode(["red apple"]))
    assert not any(p.name.startswith(".") for p in out.parent.iterdir() if p.name != "tuned"), "temp dir left behind"


def test_tuned_dir_works_as_an_index_embedder(tiny_st_dir, tmp_path):
    """The output is what `ragkit index --embedder DIR` takes: build a dense index with it and search."""
    from ragkit.indexes.index import Index
    from ragkit.registry import build
    from ragkit.types import Chunk

    out = tmp_path / "tuned"
    _tuner(tiny_st_dir, epochs=1).fit(_pairs(), out)
    chunks = [Chunk(id=d, text=t, source=f"{d}.md") for d, t in DOCS.items()]
    Index.create(tmp_path / "idx", chunks, embedder=str(out), show_progress=False)
    retriever = build("retriever", {"type": "dense", "index": str(tmp_path / "idx")})
    hits = retriever.retrieve(["which fruit is red"], k=3)[0]
    assert len(hits) == 3 and {h.chunk_id for h in hits} <= set(DOCS)


@pytest.mark.slow
def test_lora_with_hard_negatives_and_cached_loss_merges_to_plain_model_on_request(tiny_st_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    pairs = _pairs()
    for p in pairs:
        p.negatives = [t for d, t in DOCS.items() if d != p.chunk_id][:1]
    out = tmp_path / "lora"
    _tuner(tiny_st_dir, lora=True, merge_lora=True, lora_rank=4, lora_alpha=8, hard_negatives=1, loss="cached-mnrl",
           mini_batch_size=2, epochs=2).fit(pairs, out)
    assert not (out / "adapter_config.json").exists()
    tuned = SentenceTransformer(str(out), device="cpu")
    assert not any("lora" in name for name, _ in tuned.named_parameters())
    base = SentenceTransformer(str(tiny_st_dir), device="cpu")
    assert not np.allclose(tuned.encode(["red apple"]), base.encode(["red apple"]))
    assert json.loads((out / TUNING_FILE).read_text())["hyper_parameters"]["lora"] is True


@pytest.mark.slow
def test_lora_is_kept_as_an_adapter_that_every_encoder_loads_alike(tiny_st_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from ragkit.models import load_embedder

    out = tmp_path / "adapter"
    record = _tuner(tiny_st_dir, lora=True, lora_rank=4, lora_alpha=8, epochs=2).fit(_pairs(), out).record
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == record["adapter"]["base"]
    weights = sum(f.stat().st_size for f in out.glob("adapter_model.*"))
    assert 0 < weights < sum(f.stat().st_size for f in tiny_st_dir.glob("*.safetensors"))  # adapters, not a copy
    texts = ["red apple", "the warranty is two years"]
    tuned = SentenceTransformer(str(out), device="cpu").encode(texts, normalize_embeddings=True)
    base = SentenceTransformer(str(tiny_st_dir), device="cpu").encode(texts, normalize_embeddings=True)
    assert not np.allclose(tuned, base, atol=1e-4)  # the adapter is applied, not silently dropped
    for backend in ("torch", "onnx"):
        ours = np.asarray(load_embedder(str(out), "cpu", "fp32", backend=backend).encode(texts))
        ours /= np.linalg.norm(ours, axis=1, keepdims=True)  # the tiny model has no Normalize module
        assert np.allclose(ours, tuned, atol=1e-4), backend


def test_failure_mid_training_keeps_previous_model(tiny_st_dir, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformerTrainer

    out = tmp_path / "model"
    _tuner(tiny_st_dir, epochs=1).fit(_pairs(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def boom(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SentenceTransformerTrainer, "train", boom)
    with pytest.raises(KeyboardInterrupt):
        _tuner(tiny_st_dir, epochs=3, learning_rate=1e-2).fit(_pairs(), out)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_rejects_unusable_data(tiny_st_dir, tmp_path):
    with pytest.raises(ValueError, match="usable training pair"):
        _tuner(tiny_st_dir).fit([QAPair(question="no passage")], tmp_path / "x")
    with pytest.raises(ValueError, match="unknown loss"):
        RetrieverTuner(loss="triplet")
    assert not (tmp_path / "x").exists()
