"""Interpolation / extrapolation resampling (ReSTTest): membership, disjointness, seeds, the CLI."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ragkit.commands.index import eval_retrieval_cmd
from ragkit.eval.retrieval import read_qrels
from ragkit.experiments.resample import resample, subset
from ragkit.experiments.beir import load_beir


def _hash_embed(texts):
    """Deterministic pseudo-random unit vectors, one per text (no model)."""
    rows = []
    for t in texts:
        rng = np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))
        v = rng.normal(size=8)
        rows.append(v / np.linalg.norm(v))
    return np.array(rows)


def _random_queries(prefix, n):
    return {f"{prefix}{i}": f"{prefix} query number {i}" for i in range(n)}


def _hand_embed(texts):
    """Two tight groups: texts starting "router" near e1, texts starting "cat" near e2."""
    rows = []
    for i, t in enumerate(texts):
        base = np.array([1.0, 0.0, 0.0]) if t.startswith("router") else np.array([0.0, 1.0, 0.0])
        v = base + np.array([0.0, 0.0, 0.01 * (i % 3)])
        rows.append(v / np.linalg.norm(v))
    return np.array(rows)


TRAIN = {"t1": "router reset", "t2": "router lights", "t3": "router firmware", "t4": "cat food", "t5": "cat purr"}
TEST = {"q1": "router password", "q2": "router cable", "q3": "cat sleep", "q4": "cat toys", "q5": "cat claws"}


def test_hand_built_case_membership_is_known():
    # buckets are numbered by their first member (training first): routers = 0, cats = 1
    r = resample(TRAIN, TEST, buckets=2, fold=1, balance=False, embed=_hand_embed)
    assert r.train == ["t1", "t2", "t3"] and r.removed_train == ["t4", "t5"]
    assert r.interpolation == ["q1", "q2"] and r.extrapolation == ["q3", "q4", "q5"] and r.neither == {}
    assert r.record["bucket_sizes"] == [{"train": 3, "test": 2}, {"train": 2, "test": 3}]
    assert r.nearest["q1"] > 0.99 and r.nearest["q3"] < 0.01  # cats have no kept training neighbour
    r = resample(TRAIN, TEST, buckets=2, fold=0, balance=False, embed=_hand_embed)
    assert r.train == ["t4", "t5"] and r.interpolation == ["q3", "q4", "q5"] and r.extrapolation == ["q1", "q2"]


def test_balancing_and_guards_account_for_every_query():
    r = resample(TRAIN, TEST, buckets=2, fold=1, seed=3, embed=_hand_embed)
    assert len(r.interpolation) == len(r.extrapolation) == 2
    assert list(r.neither) == [q for q in ("q3", "q4", "q5") if q not in r.extrapolation]
    assert "not sampled" in next(iter(r.neither.values()))
    assert r.record["counts"] == {"interpolation": 2, "extrapolation": 2, "neither": 1}
    assert r.record["candidates"] == {"interpolation": 2, "extrapolation": 3}
    with pytest.raises(ValueError, match="0 interpolation"):
        resample(TRAIN, TEST, buckets=2, fold=1, min_interpolation_similarity=1.5, embed=_hand_embed)


def test_target_document_overlap_is_measured_against_kept_training_queries():
    train_qrels = {"t1": {"d1": 1}, "t4": {"d9": 1}}  # t4 is removed with the cats
    test_qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d9": 1}, "q4": {"d4": 1}, "q5": {"d5": 1}}
    r = resample(TRAIN, TEST, buckets=2, fold=1, balance=False, embed=_hand_embed,
                 train_qrels=train_qrels, test_qrels=test_qrels)
    assert r.record["target_doc_overlap"] == {"interpolation": 0.5, "extrapolation": 0.0}


def test_splits_are_disjoint_complete_and_reproducible_from_a_seed():
    train, test = _random_queries("train", 60), _random_queries("test", 40)
    a = resample(train, test, seed=7, buckets=4, embed=_hash_embed)
    assert a.to_dict() == resample(train, test, seed=7, buckets=4, embed=_hash_embed).to_dict()
    assert a.record["fold"] == 7 % 4
    assert not set(a.interpolation) & set(a.extrapolation)
    assert not (set(a.interpolation) | set(a.extrapolation)) & set(a.neither)
    assert set(a.interpolation) | set(a.extrapolation) | set(a.neither) == set(test)
    assert not set(a.train) & set(a.removed_train) and set(a.train) | set(a.removed_train) == set(train)
    assert len(a.interpolation) == len(a.extrapolation) > 0


def test_a_different_seed_draws_a_different_sample():
    train, test = _random_queries("train", 60), _random_queries("test", 40)
    base = resample(train, test, seed=0, fold=0, buckets=4, embed=_hash_embed)
    others = [resample(train, test, seed=s, fold=0, buckets=4, embed=_hash_embed) for s in range(1, 6)]
    assert any((o.interpolation, o.extrapolation) != (base.interpolation, base.extrapolation) for o in others)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="fold must be in 0..1"):
        resample(TRAIN, TEST, buckets=2, fold=2, embed=_hand_embed)
    with pytest.raises(ValueError, match="buckets must be >= 2"):
        resample(TRAIN, TEST, buckets=1, embed=_hand_embed)


def _tiny_beir(root):
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": f"r{i}", "title": "Router", "text": f"router manual page {i}: reset, lights, firmware"} for i in range(4)]
    docs += [{"_id": f"c{i}", "title": "Cats", "text": f"cat care page {i}: purring, food, sleep"} for i in range(4)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    train = {"t1": ("how do I reset my router", "r0"), "t2": ("router lights are blinking", "r1"),
             "t3": ("update the router firmware", "r2"), "t4": ("what food do cats like", "c0"),
             "t5": ("why does my cat purr", "c1")}
    test = {"q1": ("router password forgotten", "r3"), "q2": ("router keeps restarting", "r0"),
            "q3": ("how long do cats sleep", "c2"), "q4": ("cat scratching furniture", "c3")}
    queries = {**train, **test}
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, (t, _) in queries.items()))
    for name, part in (("train", train), ("test", test)):
        rows = "".join(f"{q}\t{d}\t1\n" for q, (_, d) in part.items())
        (root / "qrels" / f"{name}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return root


def test_cli_scores_each_resampled_set_on_a_tiny_beir_dataset(tmp_path):
    data = _tiny_beir(tmp_path / "tiny")
    app = typer.Typer()
    app.command("eval-retrieval")(eval_retrieval_cmd)
    app.command("noop")(lambda: None)  # two commands: typer keeps "eval-retrieval" a sub-command
    runner = CliRunner()
    seen = {}
    for which in ("interpolation", "extrapolation"):
        out = tmp_path / which
        result = runner.invoke(app, ["eval-retrieval", str(data), "--out", str(out), "--mode", "bm25", "--metric", "ndcg@10",
                                     "--resample", which, "--buckets", "2", "--seed", "1", "--fold", "0"])
        assert result.exit_code == 0, result.output
        metrics = json.loads((out / "metrics.json").read_text())
        record = metrics["resample"]
        assert record["set"] == which and record["fold"] == 0 and record["buckets"] == 2
        assert metrics["results"]["bm25"]["n_queries"] == record["counts"][which] > 0
        per_query = json.loads((out / "bm25.per_query.json").read_text())
        seen[which] = {row["query_id"] for row in per_query}
        saved = json.loads((out / "resample.json").read_text())
        assert set(read_qrels(out / "resample-train.qrels")) == set(saved["train"]) <= {"t1", "t2", "t3", "t4", "t5"}
        assert seen[which] == set(saved[which])
    assert seen["interpolation"].isdisjoint(seen["extrapolation"])
    bad = runner.invoke(app, ["eval-retrieval", str(data), "--out", str(tmp_path / "bad"), "--mode", "bm25",
                              "--resample", "memorisation"])
    assert bad.exit_code != 0 and "interpolation" in str(bad.exception)


def test_subset_keeps_the_corpus_and_only_the_chosen_queries(tmp_path):
    test = load_beir(_tiny_beir(tmp_path / "tiny"), "test")
    small = subset(test, ["q2"])
    assert small.queries == {"q2": "router keeps restarting"} and small.qrels == {"q2": {"r0": 1}}
    assert small.corpus is test.corpus
    with pytest.raises(ValueError, match="not among"):
        subset(test, ["nope"])
