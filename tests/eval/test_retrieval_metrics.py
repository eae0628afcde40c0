"""Retrieval metrics against values worked out by hand with trec_eval's definitions."""

from __future__ import annotations

import math

import pytest

from ragkit.eval.retrieval import evaluate, read_qrels, read_run, run_from_hits, trec_order, write_qrels, write_run
from ragkit.types import Hit

QRELS = {"q1": {"d1": 1, "d3": 2, "d9": 1}, "q2": {"d5": 1}, "q3": {"d7": 1}}
RUN = {
    "q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7, "d4": 0.1},
    "q2": {"d4": 0.5, "d5": 0.5},  # a tie: trec_eval ranks the larger doc id (d5) first
}


def test_metrics_match_hand_computed_trec_eval_values():
    result = evaluate(QRELS, RUN, ["ndcg@3", "recall@2", "precision@2", "map", "map@2", "mrr", "mrr@1"])
    q1, q2, q3 = result["per_query"]
    assert [q["query_id"] for q in result["per_query"]] == ["q1", "q2", "q3"]
    # q1: relevant d1 (gain 1) at rank 1, d3 (gain 2) at rank 3; ideal order d3, d1, d9
    dcg = 1 / math.log2(2) + 2 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert q1["ndcg@3"] == pytest.approx(dcg / idcg)
    assert q1["recall@2"] == pytest.approx(1 / 3) and q1["precision@2"] == pytest.approx(1 / 2)
    assert q1["map"] == pytest.approx((1 / 1 + 2 / 3) / 3)  # d9 never retrieved
    assert q1["map@2"] == pytest.approx((1 / 1) / 3)
    assert q1["mrr"] == 1.0
    assert q2["mrr"] == 1.0 and q2["mrr@1"] == 1.0 and q2["ndcg@3"] == pytest.approx(1.0)
    assert all(v == 0.0 for k, v in q3.items() if k != "query_id")  # not in the run
    assert result["n_queries"] == 3
    assert result["aggregate"]["mrr"] == pytest.approx(2 / 3)
    assert result["aggregate"]["ndcg@3"] == pytest.approx((dcg / idcg + 1.0) / 3)


def test_incomplete_averaging_skips_queries_missing_from_the_run():
    result = evaluate(QRELS, RUN, ["mrr"], complete=False)
    assert result["n_queries"] == 2 and result["aggregate"]["mrr"] == 1.0


def test_mrr_at_k_cuts_the_ranking_the_trec_eval_way():
    run = {"q1": {"d2": 0.9, "d3": 0.5, "d1": 0.5}}
    # order: d2, d3, d1 (tie -> larger id first): first relevant (d3) at rank 2
    assert trec_order(run["q1"]) == ["d2", "d3", "d1"]
    result = evaluate({"q1": QRELS["q1"]}, run, ["mrr@1", "mrr@2", "mrr"])
    assert result["aggregate"] == {"mrr@1": 0.0, "mrr@2": 0.5, "mrr": 0.5}


def test_bad_metric_names():
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(QRELS, RUN, ["bleu"])
    with pytest.raises(ValueError, match="needs a cutoff"):
        evaluate(QRELS, RUN, ["ndcg"])


def test_run_and_qrels_files_round_trip(tmp_path):
    path = write_run(RUN, tmp_path / "run.trec", tag="test")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 d1 1 0.9 test" and lines[4] == "q2 Q0 d5 1 0.5 test"
    assert read_run(path) == RUN
    assert read_qrels(write_qrels(QRELS, tmp_path / "qrels.txt")) == QRELS
    (tmp_path / "beir.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\n")
    assert read_qrels(tmp_path / "beir.tsv") == {"q1": {"d1": 1, "d2": 0}}
    (tmp_path / "bad.trec").write_text("q1 d1 1\n")
    with pytest.raises(ValueError, match="6 columns"):
        read_run(tmp_path / "bad.trec")


def test_run_from_hits():
    hits = [[Hit(chunk_id="d1", score=2.0), Hit(chunk_id="d2", score=1.0)], []]
    assert run_from_hits(["a", "b"], hits) == {"a": {"d1": 2.0, "d2": 1.0}, "b": {}}
    with pytest.raises(ValueError, match="2 query ids but 1"):
        run_from_hits(["a", "b"], hits[:1])
