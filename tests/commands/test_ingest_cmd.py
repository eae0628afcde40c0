"""`ragkit ingest` as a real process: FIFOs and huge lines never hang it, SIGTERM acts within a second,
the report names every file left out, --strict fails, a locked or damaged index is a one-line error."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ragkit
from ragkit.indexes.generations import current_generation, generation_path, generations_dir

REPO = Path(ragkit.__file__).resolve().parent.parent
WORDS = ["alpha", "beta", "gamma", "delta", "zebra", "quantum", "retrieval", "index,", "chunk.", "Hello"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _ragkit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ragkit.cli", *args], env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ragkit.cli", *args], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _one_line(path: Path, n_bytes: int) -> None:
    rng = random.Random(0)
    count = n_bytes // 7
    path.write_text(" ".join(rng.choice(WORDS) for _ in range(count)))


def _tree(root: Path, big_bytes: int = 10 * 1024 * 1024) -> Path:
    root.mkdir(parents=True)
    (root / "guide.md").write_text("# Guide\n\nThe widget spins at 40 rpm.\n")
    _one_line(root / "big.txt", big_bytes)
    os.mkfifo(root / "pipe")
    return root


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_fifo_and_a_10mb_line_do_not_hang_and_are_reported(tmp_path):
    root = _tree(tmp_path / "tree")
    started = time.monotonic()
    result = _ragkit("ingest", str(root), "--out", str(tmp_path / "idx"), "--file-timeout", "2",
                     "--report", str(tmp_path / "report.json"), timeout=90)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 60
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["parsed"] == ["guide.md"]
    assert report["skipped"] == {str(root / "pipe"): "not a regular file: a FIFO (named pipe)"}
    assert "time budget of 2 s" in report["failed"]["big.txt"] and report["complete"] is False
    shown = " ".join(result.stdout.split())  # rich wraps lines at 80 columns off a terminal
    assert "pipe: not a regular file: a FIFO" in shown and "big.txt" in shown and "1 file(s) failed" in shown


def test_strict_exits_1_when_a_file_is_left_out(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    (root / "guide.md").write_text("# Guide\n\ntext\n")
    assert _ragkit("ingest", str(root), "--out", str(tmp_path / "idx"), "--strict").returncode == 0
    os.mkfifo(root / "pipe")
    result = _ragkit("ingest", str(root), "--out", str(tmp_path / "idx"), "--strict")
    assert result.returncode == 1
    assert "error: --strict: 0 failed, 1 skipped, 0 reduced" in result.stderr
    assert _ragkit("ingest", str(root), "--out", str(tmp_path / "idx")).returncode == 0  # without it: 0


def test_sigterm_stops_ingest_within_a_second_and_leaves_the_index(tmp_path):
    root = _tree(tmp_path / "tree")
    (tmp_path / "first").mkdir()
    (tmp_path / "first" / "a.md").write_text("# A\n\nkept\n")
    assert _ragkit("ingest", str(tmp_path / "first"), "--out", str(tmp_path / "idx")).returncode == 0
    before = (tmp_path / "idx" / "chunks.jsonl").read_text()
    proc = _start("ingest", str(root), "--out", str(tmp_path / "idx"))  # big.txt takes ~20 s to parse
    _wait_for(lambda: _children(proc.pid))  # the parser child is running
    time.sleep(1.0)  # well inside the 10 MB line
    worker = _children(proc.pid)[0]
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == 143
    assert took < 1.0, f"SIGTERM took {took:.2f} s"
    assert not Path(f"/proc/{worker}").exists() or "zombie" in Path(f"/proc/{worker}/status").read_text()
    assert (tmp_path / "idx" / "chunks.jsonl").read_text() == before
    assert not [p for p in generations_dir(tmp_path / "idx").iterdir() if p.name.startswith("tmp-")]


def test_a_concurrent_ingest_is_refused_naming_the_pid(tmp_path):
    root = _tree(tmp_path / "tree")
    first = _start("ingest", str(root), "--out", str(tmp_path / "idx"))
    try:
        lock = tmp_path / ".idx.lock"
        _wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid))
        second = _ragkit("ingest", str(root), "--out", str(tmp_path / "idx"))
        assert second.returncode == 2
        assert f"error: index {tmp_path / 'idx'} is locked by PID {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)


def test_a_damaged_manifest_is_named(tmp_path):
    (tmp_path / "a.md").write_text("# A\n\ntext\n")
    assert _ragkit("ingest", str(tmp_path / "a.md"), "--out", str(tmp_path / "idx")).returncode == 0
    (generation_path(tmp_path / "idx") / "manifest.json").write_text("")
    result = _ragkit("inspect", str(tmp_path / "idx"))
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.startswith("error: ") and "manifest.json is damaged (not valid JSON" in line
    assert "ragkit ingest" in line and current_generation(tmp_path / "idx") == "g000001"


@pytest.mark.slow
def test_a_10mb_line_is_ingested_in_full_with_the_default_budget(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    _one_line(root / "big.txt", 10 * 1024 * 1024)
    result = _ragkit("ingest", str(root), "--out", str(tmp_path / "idx"), "--strict", timeout=300)
    assert result.returncode == 0, result.stderr
    text = (root / "big.txt").read_text()
    covered = bytearray(len(text))
    for line in (tmp_path / "idx" / "chunks.jsonl").read_text().splitlines():
        chunk = json.loads(line)
        assert text[chunk["start_col"] : chunk["end_col"]] == chunk["text"]
        covered[chunk["start_col"] : chunk["end_col"]] = b"\x01" * (chunk["end_col"] - chunk["start_col"])
    assert all(covered[i] for i, ch in enumerate(text) if ch != " ")
