"""The layer rule is checked, not hoped for: import-linter's contracts in ``.importlinter`` hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_layer_violation_is_caught(tmp_path):
    """The contract is not vacuous: a module of a lower layer importing the pipeline breaks it."""
    config = (ROOT / ".importlinter").read_text()
    broken = tmp_path / "ragkit"
    import shutil

    shutil.copytree(ROOT / "ragkit", broken, ignore=shutil.ignore_patterns("__pycache__", "demo_corpus"))
    (broken / "retrievers" / "sneaky.py").write_text("from ragkit.pipeline import Pipeline\n")
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), str(ROOT / ".importlinter")], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "ragkit.retrievers.sneaky -> ragkit.pipeline" in result.stdout, result.stdout[-3000:]
    assert config  # the same contract file
