"""The README's measured figures are generated from benchmarks/results/*.json (benchmarks/readme.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def readme():
    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "benchmarks" / "readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_figures_are_the_result_jsons(readme):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    names = {m["name"] for m in readme.BLOCK.finditer(text)}
    assert {"scifact", "bm25-speed", "ingest"} <= names
    new, notes = readme.render(text)
    assert not notes, notes
    assert new == text, "README.md figures differ from the JSONs: run `python benchmarks/readme.py`"


def test_the_docs_figures_are_the_result_jsons(readme):
    for path in readme.DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        assert readme.BLOCK.search(text), f"{path.name} has no figure block"
        new, notes = readme.render(text)
        assert not notes and new == text, f"{path.name} figures differ from the JSONs: run `python benchmarks/readme.py`"


def test_a_typed_figure_is_caught_and_rewritten(readme, tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    bm25 = json.loads((ROOT / "benchmarks/results/beir_scifact.json").read_text())["retrieval"]["bm25"]["aggregate"]
    typed = text.replace(f"| {bm25['ndcg@10']:.4f} |", "| 0.9999 |", 1)
    assert typed != text
    path = tmp_path / "README.md"
    path.write_text(typed, encoding="utf-8")
    assert readme.main(["--check", "--readme", str(path)]) == 1
    assert readme.main(["--readme", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == text


def test_a_block_without_a_renderer_is_left_and_reported(readme):
    text = "a\n<!-- figures:nobody -->\nkept\n<!-- /figures:nobody -->\n"
    new, notes = readme.render(text)
    assert new == text and notes and "no renderer" in notes[0]
