from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import ragkit
from ragkit.cli import app

DEMO = Path(ragkit.__file__).parent / "demo_corpus"
runner = CliRunner()


def test_help_answers_fast_without_heavy_imports():
    code = (
        "import sys, time; t = time.perf_counter(); from ragkit.cli import app; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'faiss', 'transformers', 'pymupdf') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "ingest" in result.output


def test_ingest_then_inspect(tmp_path):
    result = runner.invoke(app, ["ingest", str(DEMO), "--out", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert "ingested 6 file(s)" in result.output
    result = runner.invoke(app, ["inspect", str(tmp_path / "idx"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["files"] == 6 and summary["failures"] == {}
    assert summary["languages"]["python"] > 0


def test_ingest_reports_failures_in_a_table(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ok.md").write_text("# Fine\n\nText.\n")
    (tmp_path / "docs" / "bad.pdf").write_bytes(b"garbage")
    result = runner.invoke(app, ["ingest", str(tmp_path / "docs"), "--out", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert "1 file(s) failed" in result.output and "bad.pdf" in result.output


def test_inspect_unknown_dir_says_what_to_do(tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "error:" in result.output and "ragkit ingest" in result.output
    assert "Traceback" not in result.output


def test_sigterm_unwinds_and_leaves_the_previous_directory_clean(tmp_path):
    import signal
    import subprocess
    import sys

    target = tmp_path / "model"
    target.mkdir()
    (target / "weights.bin").write_text("old", encoding="utf-8")
    code = (
        "import os, signal, time, sys\n"
        "from ragkit.cli import exit_on_sigterm\n"
        "from ragkit.indexes.atomic import atomic_dir\n"
        "exit_on_sigterm()\n"
        f"with atomic_dir({str(target)!r}, copy_existing=False) as tmp:\n"
        "    (tmp / 'weights.bin').write_text('half-written')\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp dir left behind
    assert (target / "weights.bin").read_text(encoding="utf-8") == "old"
