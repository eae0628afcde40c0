"""Model libraries' own bars and messages are off by default and on with ``ragkit --verbose``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragkit.commands.quiet import QUIET_ENV, VERBOSE_ENV, set_library_output
from ragkit.defaults import DEMO_CORPUS


def test_quiet_keeps_what_the_user_set_and_verbose_overrides_it() -> None:
    env = {"TRANSFORMERS_VERBOSITY": "warning"}
    set_library_output(False, env)
    assert env == {**QUIET_ENV, "TRANSFORMERS_VERBOSITY": "warning"}
    set_library_output(True, env)
    assert env == VERBOSE_ENV


@pytest.mark.slow
def test_loading_weights_bar_only_with_verbose(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENV}
    env["HF_HUB_OFFLINE"] = "1"
    ragkit = [sys.executable, "-m", "ragkit.cli"]
    subprocess.run([*ragkit, "ingest", str(DEMO_CORPUS / "notes"), "--out", str(tmp_path / "a")], check=True,
                   capture_output=True, env=env)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    quiet = subprocess.run([*ragkit, "index", str(tmp_path / "a")], capture_output=True, text=True, env=env)
    loud = subprocess.run([*ragkit, "--verbose", "index", str(tmp_path / "b")], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr[-2000:] + loud.stderr[-2000:]
    assert "dense" in quiet.stdout and "dense" in loud.stdout  # both embedded the chunks
    assert "Loading weights" not in quiet.stderr and "[transformers]" not in quiet.stderr
    assert "Loading weights" in loud.stderr
