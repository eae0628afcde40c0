"""`ragkit compare` and `ragkit repro` through typer's CliRunner (BM25 index, fake LLMs: fast)."""

from __future__ import annotations

import json
import shlex
import sys

import typer
import yaml
from typer.testing import CliRunner

from ragkit.commands.compare import compare_cmd, repro_cmd
from ragkit.indexes.index import Index
from ragkit.types import Chunk

app = typer.Typer()
app.command("compare")(compare_cmd)
app.command("repro")(repro_cmd)
runner = CliRunner()

QA = [("What is the maximum operating pressure of the AquaPump 300?", "6 bar"),
      ("How often should the intake filter of the AquaPump be cleaned?", "every three months"),
      ("How long is the warranty of the AquaPump battery?", "five years"),
      ("How long does the AquaPump battery take to charge fully?", "90 minutes")]


def test_compare_command_writes_the_report(tmp_path):
    Index.create(tmp_path / "idx", [
        Chunk(text="The maximum operating pressure of the AquaPump 300 is 6 bar.", source="pump.md"),
        Chunk(text="Clean the intake filter of the AquaPump every three months.", source="pump.md"),
        Chunk(text="The AquaPump battery warranty lasts five years.", source="battery.md"),
        Chunk(text="The AquaPump battery takes 90 minutes to charge fully.", source="battery.md"),
    ], dense=False, show_progress=False)
    with (tmp_path / "qa.jsonl").open("w") as fh:
        for q, a in QA:
            fh.write(json.dumps({"question": q, "answer": a}) + "\n")
    rag = {f"Question: {q}\n\nContexts:": f"{a} [1]" for q, a in QA}
    config = {
        "name": "cli", "index": "idx", "retriever": "bm25", "k": 1,
        "qa": {"source": "jsonl", "path": "qa.jsonl", "split": {"by": "question", "test": 0.5, "seed": 0}},
        "llm": {"type": "fake", "responses": rag, "default": "I don't know."},
        "tuning": {"generator": {"llm": {"type": "fake", "responses": {f"Question: {q}": a for q, a in QA}}}},
        "systems": [{"id": "base-rag", "name": "base LLM + RAG", "mode": "rag"},
                    {"id": "lora-closed", "name": "LoRA LLM, closed-book", "mode": "closed-book",
                     "pipeline": {"generator": {"llm": "tuned:generator"}}}],
        "metrics": ["exact_match", "token_f1", "citation_precision"],
        "ragas": {"enabled": False}, "similarity_split": {"enabled": False},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    result = runner.invoke(app, ["compare", str(tmp_path / "c.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| base LLM + RAG | 1.000 | 1.000 | 1.000 |" in result.output
    assert "| LoRA LLM, closed-book | 1.000 | 1.000 | – |" in result.output
    assert (out / "report.html").is_file() and (out / "config.resolved.json").is_file()
    assert json.loads((out / "config.resolved.json").read_text())["name"] == "cli"


def test_repro_command_exit_status(tmp_path):
    code = "import json, pathlib, sys; pathlib.Path(sys.argv[1]).write_text(json.dumps({'score': 0.5}))"
    write = f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} {{out}}/r.json"
    matrix = {"name": "m", "conditions": [
        {"name": "ok", "command": write, "output": "{out}/r.json", "scores": [{"key": "score", "expected": 0.5}]},
        {"name": "off", "slow": True, "command": write, "output": "{out}/r.json",
         "scores": [{"key": "score", "expected": 0.9, "tolerance": 0.01}]},
    ]}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(matrix))
    args = ["repro", str(tmp_path / "m.yaml"), "--work", str(tmp_path / "w")]
    quick = runner.invoke(app, args + ["--quick"])
    assert quick.exit_code == 0, quick.output
    assert "[OK] ok" in quick.output and "[SKIP] off" in quick.output
    full = runner.invoke(app, args)
    assert full.exit_code == 1
    assert "[FAIL] off" in full.output and "1 row(s) FAIL" in full.output
