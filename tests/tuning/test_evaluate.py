"""Evaluation helpers: dense / BM25 / rerank runs scored with trec_eval measures, token F1, run records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragkit.tuning.data import QAPair
from ragkit.tuning.evaluate import (
    RetrievalTask, bm25_run, dense_run, first_stage_run, interpolate_run, interpolation_curve, rerank_run,
    retrieval_metrics, task_from_pairs, token_f1,
)
from ragkit.tuning.run import TUNING_FILE, read_tuning_record, tuning_run

TASK = RetrievalTask(
    queries={"q1": "pump water pressure", "q2": "warranty years"},
    corpus={"d1": "the pump moves water at high pressure", "d2": "the warranty lasts two years", "d3": "red apples"},
    qrels={"q1": {"d1": 1}, "q2": {"d2": 1}},
)


def test_runs_and_metrics():
    assert retrieval_metrics(bm25_run(TASK), TASK.qrels)["ndcg@10"] == pytest.approx(1.0)
    vec = {"pump water pressure": [1, 0], "warranty years": [0, 1]}

    def encode(texts):
        return np.array([vec.get(t, [1.0, 0.0] if "pump" in t else [0.0, 1.0] if "warranty" in t else [0.5, 0.5]) for t in texts])

    run = dense_run(encode, TASK, k=2)
    assert set(run["q1"]) <= {"d1", "d2", "d3"} and len(run["q1"]) == 2
    assert retrieval_metrics(run, TASK.qrels)["mrr@10"] == pytest.approx(1.0)
    # A reranker that prefers the wrong doc: the positive drops to rank 2.
    task = RetrievalTask(TASK.queries, TASK.corpus, TASK.qrels, candidates={"q1": ["d1", "d3"], "q2": ["d2", "d3"]})
    flipped = rerank_run(lambda pairs: [1.0 if "apples" in d else 0.0 for _, d in pairs], task)
    assert retrieval_metrics(flipped, TASK.qrels)["mrr@10"] == pytest.approx(0.5)
    assert retrieval_metrics({"q1": {"d1": 1.0}}, TASK.qrels)["recall@100"] == pytest.approx(0.5)  # q2 missing: 0
    with pytest.raises(ValueError, match="no query"):
        retrieval_metrics({"zz": {"d1": 1.0}}, TASK.qrels)


def test_bm25_run_is_the_bm25_of_ragkit_search():
    import bm25s
    import Stemmer

    from ragkit.indexes.bm25 import BM25Index

    run = bm25_run(TASK, k=3)
    searched = BM25Index()
    searched.add(list(TASK.corpus), list(TASK.corpus.values()))
    assert run["q1"] == {h.chunk_id: h.score for h in searched.search(["pump water pressure"], 3)[0]}
    # the same Lucene scores as bm25s over the same stemmed terms; only matching documents are candidates
    stem = Stemmer.Stemmer("english")
    index = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    index.index(bm25s.tokenize(list(TASK.corpus.values()), stopwords="en", stemmer=stem, show_progress=False), show_progress=False)
    ids, scores = index.retrieve(bm25s.tokenize(["pump water pressure"], stopwords="en", stemmer=stem, show_progress=False),
                                 k=3, show_progress=False)
    want = {list(TASK.corpus)[int(i)]: float(s) for i, s in zip(ids[0], scores[0]) if s > 0}
    assert run["q1"] == pytest.approx(want) and run["q1"]["d1"] > 1.0  # scores, not ranks


def test_interpolation_between_reranker_and_first_stage():
    qrels = {"q1": {"d1": 1}}
    task = RetrievalTask({"q1": "x"}, {"d1": "a", "d2": "b", "d3": "c"}, qrels,
                         candidates={"q1": ["d1", "d2", "d3"]}, first_stage={"q1": {"d1": 9.0, "d2": 5.0, "d3": 1.0}})
    first = first_stage_run(task, depth=2)
    assert first == {"q1": {"d1": 9.0, "d2": 5.0}}
    no_scores = RetrievalTask(task.queries, task.corpus, qrels, candidates=task.candidates)
    assert first_stage_run(no_scores, depth=3) == {"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0}}  # ranks stand in
    rerank = {"q1": {"d1": 0.0, "d2": 1.0, "d3": 0.5}}  # the reranker buries the relevant doc
    full = first_stage_run(task, depth=3)
    mixed = interpolate_run(rerank, full, 0.6)["q1"]
    # minmax: reranker (0, 1, .5), BM25 (1, .5, 0)
    assert mixed == pytest.approx({"d1": 0.6, "d2": 0.4 + 0.3, "d3": 0.2})
    curve = interpolation_curve(rerank, full, qrels)
    assert list(curve) == [f"{i / 10:.1f}" for i in range(11)]
    assert curve["0.0"] == pytest.approx(0.5) and curve["1.0"] == pytest.approx(1.0)  # rank 3 vs rank 1
    assert curve["0.6"] < curve["0.7"] == pytest.approx(1.0)


def test_task_from_pairs_and_token_f1():
    pairs = [QAPair(question="pump?", chunk_id="d1"), QAPair(question="no id"), QAPair(question="gone", chunk_id="d9")]
    task = task_from_pairs(pairs, TASK.corpus)
    assert task.queries == {"q0": "pump?"} and task.qrels == {"q0": {"d1": 1}}
    with pytest.raises(ValueError, match="chunk_id"):
        task_from_pairs(pairs[1:], TASK.corpus)
    assert token_f1("Two years.", "two years") == 1.0
    assert token_f1("the warranty is two years", "two years") == pytest.approx(2 / 3)  # "the" dropped: P=2/4, R=1
    assert token_f1("", "x") == 0.0 and token_f1("", "") == 1.0


def test_tuning_run_writes_record_or_nothing(tmp_path):
    out = tmp_path / "m"
    with tuning_run(out, "retriever", "minilm", {"lr": 1}, "abc", 3, 7) as run:
        (run.dir / "weights.bin").write_bytes(b"1")
        run.record["metrics_after"] = {"ndcg@10": 0.5}
    record = read_tuning_record(out)
    assert record["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and record["seed"] == 7
    assert record["metrics_after"] == {"ndcg@10": 0.5} and record["wall_time_s"] >= 0
    with pytest.raises(RuntimeError):
        with tuning_run(out, "retriever", "minilm", {}, "def", 1, 0) as run:
            (run.dir / "weights.bin").write_bytes(b"2")
            raise RuntimeError("boom")
    assert (out / "weights.bin").read_bytes() == b"1" and json.loads((out / TUNING_FILE).read_text())["data_hash"] == "abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    with pytest.raises(FileNotFoundError, match="ragkit tune"):
        read_tuning_record(tmp_path)
