"""`ragkit tune prf` through the real CLI app: a tiny BEIR dataset, an index built with a tiny local encoder.

Trains the no-LoL ablation and the LoL encoder from the dataset's train split (plus QA pairs),
checks what the directory holds and what the record says was skipped, then searches with
``--rewrite lol:OUT`` in dense and hybrid mode, and that BM25 alone is refused.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.experiments.beir import load_beir
from ragkit.indexes.index import Index
from ragkit.tuning.data import QAPair, write_qa_jsonl

DOCS = {
    "d0": "the cat sat on the mat", "d1": "a red apple is a fruit", "d2": "the car engine battery charge",
    "d3": "water pump valve pressure", "d4": "the dog is fast on the road", "d5": "the alarm sensor reset manual",
}
QUERIES = {"q0": "what cat sat", "q1": "which fruit is red", "q2": "car battery charge", "q3": "pump pressure",
           "q4": "which dog is fast", "q5": "a query judged on a document the index lacks"}
QRELS = {"q0": "d0", "q1": "d1", "q2": "d2", "q3": "d3", "q4": "d4", "q5": "gone"}


@pytest.fixture(scope="module")
def beir(tmp_path_factory):
    root = tmp_path_factory.mktemp("beir") / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in DOCS.items()))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in QRELS.items()))
    return root


@pytest.fixture(scope="module")
def index(beir, tiny_st_dir, tmp_path_factory):
    directory = tmp_path_factory.mktemp("prf-index") / "idx"
    Index.create(directory, load_beir(beir, split="train").chunks(), embedder=str(tiny_st_dir), show_progress=False)
    return directory


def _tune(index, out, *extra):
    args = ["tune", "prf", "--index", str(index), "--out", str(out), "--depths", "0,1,2", "--batch-size", "2",
            "--learning-rate", "1e-3", "--device", "cpu", *extra]
    return CliRunner().invoke(app, args)


@pytest.mark.slow  # the index's build (embedding + the one-time ONNX export of the tiny encoder) takes ~20 s
def test_tune_prf_trains_both_variants_and_reports_what_it_skipped(beir, index, tmp_path):
    pairs = tmp_path / "qa.jsonl"
    write_qa_jsonl([QAPair(question="alarm sensor reset", chunk_id="d5"), QAPair(question="no chunk given")], pairs)
    for name, lam in (("no-lol", "0"), ("lol", "1.0")):
        out = tmp_path / "models" / name
        res = _tune(index, out, "--data", str(beir), "--train", str(pairs), "--lambda-cr", lam, "--epochs", "2")
        assert res.exit_code == 0, res.output
        record = json.loads((out / "ragkit-tuning.json").read_text())
        assert record["kind"] == "prf" and record["hyper_parameters"]["lambda_cr"] == float(lam)
        assert record["hyper_parameters"]["depths"] == [0, 1, 2]
        # 5 BEIR queries + 1 pair are usable; q5 (document not in the index) and the pair without a chunk are not
        assert record["n_train"] == 6 and record["train_steps"] == 6 and record["epochs_run"] == 2.0
        assert record["skipped"]["relevant_documents_not_in_index"] == 1
        assert record["skipped"]["no_relevant_judgement"] == 1
        assert "relevant_documents_not_in_index" in res.output and "saved" in res.output
        assert json.loads((out / "prf.json").read_text())["depths"] == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["lol", "no-lol"]  # no temp dirs left

    for mode in ("dense", "hybrid"):
        res = CliRunner().invoke(app, ["search", str(index), "cat on the mat", "--mode", mode, "--json", "-k", "3",
                                       "--rewrite", f"lol:{tmp_path / 'models' / 'lol'},fb_docs=2"])
        assert res.exit_code == 0, res.output
        hits = json.loads(res.stdout)  # stderr (model loading bars) is kept apart
        assert len(hits) == 3 and hits[0]["retriever"] == mode
    res = CliRunner().invoke(app, ["search", str(index), "cat", "--mode", "bm25", "--rewrite", f"lol:{tmp_path / 'models' / 'lol'}"])
    assert res.exit_code == 2 and "dense or hybrid retriever" in res.output


def test_tune_prf_errors_are_one_line_and_write_nothing(beir, tmp_path):
    bm25_only = tmp_path / "indexes" / "idx"
    Index.create(bm25_only, load_beir(beir, split="train").chunks(), dense=False, show_progress=False)
    out = tmp_path / "prf"
    cases = [([], "--data"), (["--data", str(beir), "--depths", "2,1"], "ascending"),
             (["--data", str(beir), "--depths", "0,x"], "comma-separated integers"),
             (["--data", str(beir)], "has no dense index")]
    for extra, message in cases:
        res = _tune(bm25_only, out, *extra)
        assert res.exit_code == 2 and message in res.output, res.output
        assert "Traceback" not in res.output
    res = _tune(tmp_path / "nowhere", out, "--data", str(beir))
    assert res.exit_code == 2 and "nowhere" in res.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["indexes"]  # nothing beside it


@pytest.mark.slow
def test_tune_prf_refuses_a_base_the_index_was_not_built_with(beir, index, tmp_path):
    res = _tune(index, tmp_path / "prf", "--data", str(beir), "--base", "minilm")
    assert res.exit_code == 2 and "built with embedder" in res.output
    assert not (tmp_path / "prf").exists()
