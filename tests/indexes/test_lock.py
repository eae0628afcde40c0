"""The writer lock with real processes: a second writer fails at once, naming the holder's PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ragkit
from ragkit.indexes.lock import IndexLockedError, index_lock, lock_path
from ragkit.ingest import ingest

REPO = Path(ragkit.__file__).resolve().parent.parent


def _holder(index: Path) -> subprocess.Popen:
    code = """
        import sys, time
        from ragkit.indexes.lock import index_lock
        with index_lock(sys.argv[1]):
            print("held", flush=True)
            time.sleep(60)
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(index)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_told_which_pid_holds_the_lock(tmp_path):
    (tmp_path / "a.md").write_text("# A\n\ntext\n")
    holder = _holder(tmp_path / "idx")
    try:
        with pytest.raises(IndexLockedError, match=f"index .*idx is locked by PID {holder.pid}"):
            ingest([tmp_path / "a.md"], tmp_path / "idx", file_timeout=None)
        assert not (tmp_path / "idx").exists()  # nothing was written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel released the dead holder's lock: the next writer goes ahead
    assert ingest([tmp_path / "a.md"], tmp_path / "idx", file_timeout=None).parsed == ["a.md"]


def test_the_lock_is_released_after_the_block_and_records_the_pid_while_held(tmp_path):
    with index_lock(tmp_path / "idx") as path:
        assert path == lock_path(tmp_path / "idx")
        assert path.read_text().strip() == str(os.getpid())
        with pytest.raises(IndexLockedError):  # a second open file description: refused too
            with index_lock(tmp_path / "idx"):
                pass
    with index_lock(tmp_path / "idx"):
        pass
