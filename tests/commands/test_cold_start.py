"""The query path stays light: `ragkit search` imports no torch for BM25, nor for hybrid (ONNX query encoder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragkit.defaults import DEMO_CORPUS

HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn", "pandas", "peft", "datasets")
# Runs the real CLI in a fresh interpreter, then reports which heavy packages it imported.
PROBE = (
    "import json, sys\n"
    "from ragkit.cli import app\n"
    "try:\n"
    "    app(sys.argv[1:], standalone_mode=False)\n"
    "finally:\n"
    "    print('MODULES ' + json.dumps(sorted(m for m in %r if m in sys.modules)))\n" % (HEAVY,)
)


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cold") / "idx"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    for args in (["ingest", str(DEMO_CORPUS), "--out", str(out)], ["index", str(out)]):
        subprocess.run([sys.executable, "-m", "ragkit.cli", *args], check=True, capture_output=True, env=env)
    return out


def _search(index: Path, mode: str) -> tuple[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "search", str(index), "How long is the warranty?", "--mode", mode, "-k", "2"],
        capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES "))
    return done.stdout, json.loads(line[len("MODULES "):])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_search_imports_no_torch(demo_index, mode):
    out, heavy = _search(demo_index, mode)
    assert heavy == [], f"{mode} search imported {heavy}"
    assert "warranty" in out.lower()  # and it really answered from the index
