"""`ragkit make-qa` and `ragkit tune ...` as typer commands, on a tiny index, FakeLLM and tiny models."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from ragkit.commands.tune import make_qa_cmd, tune_generator_cmd, tune_reranker_cmd, tune_retriever_cmd
from ragkit.indexes.manifest import new_manifest, write_manifest
from ragkit.indexes.store import ChunkStore
from ragkit.tuning.data import read_qa_jsonl
from ragkit.types import Chunk

TOPICS = {
    "pump": "The pump moves water at a pressure of three bar through the filter and the valve",
    "battery": "The battery holds a charge of twelve volt and takes two hours to charge fully",
    "alarm": "The alarm sounds when the temperature sensor reads above ninety degrees on the road",
    "warranty": "The warranty covers the engine for two years from the date of purchase of the car",
    "apple": "The red apple is a fruit that grows on a tree and is green before it is ripe",
    "cat": "The cat sat on the mat next to the dog and the dog sat on the road",
}


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("make-qa")(make_qa_cmd)
    app.command("tune-retriever")(tune_retriever_cmd)
    app.command("tune-reranker")(tune_reranker_cmd)
    app.command("tune-generator")(tune_generator_cmd)
    return app


def _index(tmp_path):
    store = ChunkStore()
    store.add([Chunk(text=f"{text}. " * 2, source=f"docs/{name}.md") for name, text in TOPICS.items()])
    index = tmp_path / "idx"
    store.save(index)
    write_manifest(index, new_manifest())
    return index


def _llm(tmp_path) -> str:
    responses = {"Answer the question": ""}
    for name, text in TOPICS.items():
        first = " ".join(text.split()[:6])
        responses[f"Question: What does the text say about the {name}?"] = first
        responses[first] = f"1. What does the text say about the {name}?\n2. Which {name} is described in the text?"
    responses = dict(sorted(responses.items(), key=lambda kv: not kv[0].startswith("Question")))
    return json.dumps({"type": "fake", "responses": responses})


@pytest.mark.slow
def test_make_qa_then_tune_retriever_and_reranker(tmp_path, tiny_st_dir):
    runner = CliRunner()
    index = _index(tmp_path)
    qa = tmp_path / "qa"
    res = runner.invoke(_app(), ["make-qa", str(index), "--out", str(qa), "--llm", _llm(tmp_path),
                                 "--dev", "0.2", "--test", "0.2"])
    assert res.exit_code == 0, res.output
    summary = json.loads((qa / "make-qa.json").read_text())
    # Answers to "Which ... is described" are empty (the fake's catch-all), so they are filtered out.
    assert summary["filter"] == {"total": 12, "kept": 6, "dropped": {"empty": 6}}
    store = ChunkStore.load(index)
    splits = {name: read_qa_jsonl(qa / f"{name}.jsonl", store=store) for name in ("train", "dev", "test")}
    assert sum(map(len, splits.values())) == 6 and all(splits.values())
    train_sources = {p.source for p in splits["train"]}
    assert not train_sources & {p.source for p in splits["test"] + splits["dev"]}

    out = tmp_path / "emb"
    res = runner.invoke(_app(), ["tune-retriever", "--train", str(qa / "train.jsonl"), "--out", str(out), "--index",
                                 str(index), "--dev", str(qa / "dev.jsonl"), "--base", str(tiny_st_dir), "--epochs", "1",
                                 "--batch-size", "2", "--max-seq-length", "32", "--hard-negatives", "1"])
    assert res.exit_code == 0, res.output
    record = json.loads((out / "ragkit-tuning.json").read_text())
    assert record["metrics_before"] is not None and record["hyper_parameters"]["hard_negatives"] == 1

    rr = tmp_path / "rr"
    res = runner.invoke(_app(), ["tune-reranker", "--train", str(qa / "train.jsonl"), "--out", str(rr), "--index",
                                 str(index), "--base", str(tiny_st_dir), "--epochs", "1", "--negatives", "1",
                                 "--max-length", "32", "--batch-size", "2", "--dev", str(qa / "dev.jsonl"),
                                 "--precision", "fp32"])
    assert res.exit_code == 0, res.output
    record = json.loads((rr / "ragkit-tuning.json").read_text())
    assert record["kind"] == "reranker" and record["hyper_parameters"]["precision"] == "fp32"
    best = max(record["interpolation"], key=lambda w: (record["interpolation"][w], -float(w)))
    assert f"first_stage_weight={best}" in res.output.replace("\n", "")


def test_tune_generator_cli_and_argument_errors(tmp_path, tiny_llama_dir):
    runner = CliRunner()
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"question": f"What about the {k}?", "answer": v.split()[1]}) + "\n"
                             for k, v in TOPICS.items()), encoding="utf-8")
    out = tmp_path / "lora"
    res = runner.invoke(_app(), ["tune-generator", "--train", str(train), "--out", str(out), "--base",
                                 str(tiny_llama_dir), "--epochs", "1", "--batch-size", "3", "--lora-rank", "4",
                                 "--merge-to", str(tmp_path / "merged")])
    assert res.exit_code == 0, res.output
    assert (out / "adapter_config.json").is_file() and (tmp_path / "merged" / "config.json").is_file()
    res = runner.invoke(_app(), ["tune-reranker", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "--train" in res.output
    res = runner.invoke(_app(), ["make-qa", str(tmp_path / "missing"), "--out", str(tmp_path / "q")])
    assert res.exit_code != 0
