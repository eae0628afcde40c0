"""Reranker tuning on a tiny BERT: plain and CAR (FakeLLM rewrites), from QA pairs and from a
feedback log; saved dirs reload as CrossEncoders; failures leave the previous model intact."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from ragkit.llm import FakeLLM
from ragkit.tuning.data import QAPair
from ragkit.tuning.evaluate import RetrievalTask
from ragkit.tuning.feedback import read_feedback, rerank_examples_from_feedback
from ragkit.tuning.reranker import RerankerTuner
from ragkit.tuning.run import read_tuning_record

DOCS = {
    "d1": "the cat sat on the mat",
    "d2": "red apple fruit",
    "d3": "the car drive fast on the road",
    "d4": "battery charge volt",
    "d5": "warranty two years",
}
QUESTIONS = {"d1": "where is the cat", "d2": "which fruit is red", "d3": "what does a car drive on",
             "d4": "what does the battery charge", "d5": "how many years warranty"}


def _pairs() -> list[QAPair]:
    return [
        QAPair(question=q, chunk_id=d, source=d, contexts=[DOCS[d]], negatives=[t for k, t in DOCS.items() if k != d][:2])
        for d, q in QUESTIONS.items()
    ]


def _task() -> RetrievalTask:
    return RetrievalTask(
        queries={d: q for d, q in QUESTIONS.items()}, corpus=DOCS, qrels={d: {d: 1} for d in QUESTIONS},
        candidates={d: sorted(DOCS, key=lambda k: (k == d, k)) for d in QUESTIONS},  # positive ranked last
    )


def _tuner(base, **kw) -> RerankerTuner:
    args = dict(base=str(base), loss="bce", epochs=30, batch_size=5, learning_rate=1e-2, warmup_ratio=0.0, max_length=32, negatives=2,
                eval_depth=5, progress=False)
    args.update(kw)
    return RerankerTuner(**args)


@pytest.mark.slow
def test_plain_training_moves_positives_up_and_reloads(tiny_st_dir, tmp_path):
    from sentence_transformers import CrossEncoder

    out = tmp_path / "rr"
    result = _tuner(tiny_st_dir).fit(_pairs(), out, evaluation=_task())
    assert result.record["first_stage"]["mrr@10"] == pytest.approx(1 / 5)
    assert result.metrics_after["mrr@10"] > result.metrics_before["mrr@10"]
    model = CrossEncoder(str(out), device="cpu")
    pos = model.predict([(q, DOCS[d]) for d, q in QUESTIONS.items()])
    neg = model.predict([(q, DOCS[k]) for d, q in QUESTIONS.items() for k in DOCS if k != d])
    assert pos.mean() > neg.mean() + 0.05
    record = read_tuning_record(out)
    assert record["kind"] == "reranker" and record["car"] is None and record["n_train"] == 15
    # the interpolation curve ends at the first stage alone, and the scored run is kept
    assert record["interpolation"]["1.0"] == pytest.approx(record["first_stage"]["ndcg@10"])
    assert record["interpolation"]["0.0"] == pytest.approx(record["metrics_after"]["ndcg@10"])
    from ragkit.eval.retrieval import read_run
    from ragkit.tuning.reranker import EVAL_RUN

    run = read_run(out / EVAL_RUN)
    assert set(run) == set(QUESTIONS) and all(len(docs) == 5 for docs in run.values())


def test_car_rewrites_ambiguous_queries_before_training(tiny_st_dir, tmp_path):
    llm = FakeLLM(responses={"Query: where is the cat": "Rewritten query: what did the cat sit on"}, default="")
    tuner = _tuner(tiny_st_dir, query_rewrite="car", llm={"type": "fake"}, epochs=1)
    tuner.rewrite = lambda train: __import__("ragkit.tuning.car", fromlist=["car_rewrite"]).car_rewrite(train, llm)
    result = tuner.fit(_pairs(), tmp_path / "car")
    # All five queries are short (<= 4 content words): all are sent, one rewrite is usable.
    assert {k: v for k, v in result.record["car"].items() if k != "seconds"} == {"pairs": 5, "ambiguous": 5, "rewritten": 1, "rejected": 4}
    assert result.record["hyper_parameters"]["query_rewrite"] == "car"
    assert result.record["data_hash"] != __import__("ragkit.tuning.data", fromlist=["data_hash"]).data_hash(_pairs())


@pytest.mark.slow
def test_mnrl_loss_and_feedback_log(tiny_st_dir, tmp_path):
    db = tmp_path / "feedback.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY, ts REAL, question TEXT, answer TEXT, rating INTEGER,"
                " chunk_id TEXT NULL, relevant INTEGER NULL, chunk_text TEXT NULL)")
    rows = []
    for i, (d, q) in enumerate(QUESTIONS.items()):
        others = [k for k in DOCS if k != d][:2]
        rows.append((q, "x", 1, d, 1, DOCS[d]))
        rows += [(q, "x", 1, o, 0, DOCS[o]) for o in others]
    con.executemany("INSERT INTO feedback (ts, question, answer, rating, chunk_id, relevant, chunk_text) "
                    "VALUES (0, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    pairs = rerank_examples_from_feedback(read_feedback(db))
    assert len(pairs) == 5 and all(len(p.negatives) == 2 for p in pairs)
    out = tmp_path / "fb"
    result = _tuner(tiny_st_dir, loss="mnrl", batch_size=5, epochs=10).fit(pairs, out, evaluation=_task())
    assert result.metrics_after["mrr@10"] > result.metrics_before["mrr@10"]
    # the GradCache variant learns the same ranking with 3 pairs per forward pass
    cached = _tuner(tiny_st_dir, loss="cached-mnrl", mini_batch_size=3, batch_size=5, epochs=10)
    result = cached.fit(pairs, tmp_path / "cached", evaluation=_task())
    assert result.metrics_after["mrr@10"] > result.metrics_before["mrr@10"]
    assert result.record["hyper_parameters"]["loss"] == "cached-mnrl"


def test_failure_keeps_previous_reranker(tiny_st_dir, tmp_path, monkeypatch):
    from sentence_transformers import CrossEncoderTrainer

    out = tmp_path / "rr"
    _tuner(tiny_st_dir, epochs=1).fit(_pairs(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    monkeypatch.setattr(CrossEncoderTrainer, "train", lambda self, *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError, match="disk full"):
        _tuner(tiny_st_dir).fit(_pairs(), out)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rr"]


def test_config_errors():
    with pytest.raises(ValueError, match="query_rewrite"):
        RerankerTuner(query_rewrite="hyde")
    with pytest.raises(ValueError, match="negatives"):
        RerankerTuner(negatives=0, loss="bce")
    with pytest.raises(ValueError, match="no usable training pair"):
        RerankerTuner(loss="bce")._dataset([QAPair(question="q", contexts=["p"])])
    assert np.isfinite(RerankerTuner().to_config()["learning_rate"])
