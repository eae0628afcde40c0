"""The Python API: its doctests, the code of docs/api.md and of README's "Python API" section, its defaults."""

from __future__ import annotations

import doctest
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ragkit
import ragkit.api
from ragkit.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)


def _blocks(markdown: str) -> list[str]:
    """The ```python blocks of a Markdown text, except those marked ``notest``."""
    return [code for info, code in FENCE.findall(markdown) if "notest" not in info.split()]


def _run_blocks(blocks: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(cwd)
    namespace: dict = {"__name__": "__docs__"}
    for number, code in enumerate(blocks, 1):
        exec(compile(code, f"<block {number}>", "exec"), namespace)  # noqa: S102 - our own docs
    return namespace


@pytest.mark.parametrize("module", [ragkit, ragkit.api], ids=["ragkit", "ragkit.api"])
def test_docstring_examples_run(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted >= (2 if module is ragkit else 12)


def test_api_md_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    blocks = _blocks((ROOT / "docs" / "api.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace = _run_blocks(blocks, tmp_path, monkeypatch)
    assert namespace["answer"].citations[0].source == "notes/faq.md"
    assert namespace["result"]["aggregate"]["mrr@10"] == 1.0
    assert "docs/warranty-policy.pdf" in capsys.readouterr().out


@pytest.mark.slow
def test_readme_python_api_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = _blocks(section)
    assert len(blocks) == 2
    namespace = _run_blocks(blocks, tmp_path, monkeypatch)
    assert namespace["pipeline"].component("retriever").registered_name == "hybrid"
    assert namespace["hits"][0][0].chunk.source == "docs/warranty-policy.pdf"
    assert namespace["answer"].citations and "notes/faq.md" in capsys.readouterr().out


def test_import_ragkit_is_light_and_names_resolve() -> None:
    probe = (
        "import json, sys, ragkit\n"
        "light = sorted(m for m in ('torch', 'ragkit.api', 'ragkit.pipeline', 'fastapi') if m in sys.modules)\n"
        "names = {n: type(getattr(ragkit, n)).__name__ for n in ragkit.__all__}\n"
        "print(json.dumps([light, names]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-2000:]
    loaded, names = json.loads(done.stdout.splitlines()[-1])
    assert loaded == []  # nothing heavy, not even the API module, until a name is used
    assert names["Pipeline"] == "type" and names["Index"] == "type" and names["ingest_files"] == "function"
    assert set(names) == set(ragkit.__all__)


def test_api_names_survive_importing_the_submodules() -> None:
    """Why ``ingest_files`` and not ``ingest``: importing ``ragkit.ingest`` (the module) sets the package attribute."""
    import ragkit.ingest  # noqa: F401

    assert callable(ragkit.ingest_files) and not callable(ragkit.ingest)
    clashing = [n for n in ragkit.__all__ if (Path(ragkit.__file__).parent / n).exists()
                or (Path(ragkit.__file__).parent / f"{n}.py").exists()]
    assert clashing == []  # no API name is also a submodule of ragkit


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Pipelin'"):
        ragkit.Pipelin  # noqa: B018
    assert ragkit.Pipeline is Pipeline and ragkit.ingest_files is ragkit.api.ingest_files
    assert {"ingest_files", "Pipeline", "evaluate"} <= set(dir(ragkit))


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory) -> Path:
    return ragkit.ingest_files(ragkit.DEMO_CORPUS, tmp_path_factory.mktemp("api") / "idx", dense=False).directory


def test_ingest_builds_only_what_is_asked_and_refuses_nothing(bm25_index: Path, tmp_path: Path) -> None:
    index = ragkit.Index.open(bm25_index)
    assert index.has("bm25") and not index.has("dense")
    assert {c.source for c in index.store} >= {"notes/faq.md", "src/helios_monitor.py"}
    with pytest.raises(ValueError, match="at least one search index"):
        ragkit.ingest_files(ragkit.DEMO_CORPUS, tmp_path / "x", bm25=False, dense=False)
    with pytest.raises(FileNotFoundError, match="no such file"):
        ragkit.ingest_files(tmp_path / "missing", tmp_path / "y")


def test_pipeline_auto_retriever_is_the_cli_choice(bm25_index: Path) -> None:
    from ragkit.commands.serve import load_pipeline

    auto = ragkit.Pipeline(index=bm25_index)
    assert auto.to_config()["retriever"] == "auto"
    assert auto.component("retriever").registered_name == ragkit.default_retriever(bm25_index) == "bm25"
    assert load_pipeline(bm25_index).retriever == "bm25"  # the CLI resolves the same rule up front
    assert Pipeline.from_config(auto.to_config()).to_config() == auto.to_config()
    hits, _ = auto.retrieve(["How many years of warranty does the inverter have?"], k=2)
    assert hits[0][0].chunk.source == "docs/warranty-policy.pdf"


def test_auto_retriever_on_an_unindexed_directory_says_what_to_run(tmp_path: Path) -> None:
    from ragkit.ingest import ingest

    ingest([ragkit.DEMO_CORPUS / "notes"], tmp_path / "raw")
    with pytest.raises(ValueError, match="ragkit index"):
        ragkit.Pipeline(index=tmp_path / "raw").retrieve(["q"])


def test_tune_reranker_needs_data_and_mining_needs_an_index(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train QA pairs and/or a feedback log"):
        ragkit.tune_reranker(tmp_path / "out")
    from ragkit.tuning.data import QAPair

    pairs = [QAPair(question="q?", answer="a", contexts=["a passage"])]
    with pytest.raises(ValueError, match="needs the index"):
        ragkit.tune_retriever(pairs, tmp_path / "out", hard_negatives=2)
