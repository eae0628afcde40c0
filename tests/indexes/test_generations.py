"""Index generations with real processes: a reader never sees the index missing, kills leave no litter."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import ragkit
from ragkit.indexes.generations import current_generation, generation_path, generations_dir, new_generation
from ragkit.indexes.index import Index
from ragkit.indexes.lock import index_lock
from ragkit.ingest import ingest

REPO = Path(ragkit.__file__).resolve().parent.parent


def _python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _legacy_index(tmp_path) -> Path:
    """An index in the layout written before generations: a plain directory."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nfirst version\n")
    ingest([tmp_path / "docs"], tmp_path / "new", file_timeout=None)
    legacy = tmp_path / "idx"
    shutil.copytree(generation_path(tmp_path / "new"), legacy)
    return legacy


def test_a_pre_generation_index_still_opens_and_is_migrated_by_its_next_write(tmp_path):
    legacy = _legacy_index(tmp_path)
    assert current_generation(legacy) is None
    assert len(Index.open(legacy).store) == 1
    (tmp_path / "docs" / "a.md").write_text("# A\n\nsecond version\n")
    report = ingest([tmp_path / "docs"], legacy, file_timeout=None)
    assert legacy.is_symlink() and current_generation(legacy) == report.generation == "g000001"
    assert "second version" in next(iter(Index.open(legacy).store)).text


def test_a_reader_polling_during_20_swaps_never_sees_the_index_missing(tmp_path):
    legacy = _legacy_index(tmp_path)  # the first swap is the migration from the old layout
    writer = _python(
        """
        import sys
        from pathlib import Path
        from ragkit.ingest import ingest
        docs, out = Path(sys.argv[1]), Path(sys.argv[2])
        for i in range(20):
            (docs / "a.md").write_text(f"# A\\n\\nversion {i}\\n")
            print(ingest([docs], out, file_timeout=None).generation, flush=True)
        """,
        str(tmp_path / "docs"), str(legacy),
    )
    reads, missing, seen = 0, [], set()
    while writer.poll() is None:
        try:
            manifest = json.loads((legacy / "manifest.json").read_text())
            text = (legacy / "chunks.jsonl").read_text()
        except (FileNotFoundError, NotADirectoryError) as exc:
            missing.append(repr(exc))
            continue
        except json.JSONDecodeError as exc:  # a half-written file would be a failure too
            missing.append(repr(exc))
            continue
        reads += 1
        assert manifest["counts"]["chunks"] == 1 and text.count("\n") == 1
        seen.add(current_generation(legacy))
    out, err = writer.communicate()
    assert writer.returncode == 0, err
    assert out.split() == [f"g{n:06d}" for n in range(1, 21)]
    assert missing == [] and reads > 20, (reads, missing[:3])
    assert len(seen) > 1  # the reader did overlap the swaps
    kept = sorted(p.name for p in generations_dir(legacy).iterdir())
    assert kept == ["g000019", "g000020"]  # the current one and the one before it


def test_a_sigkilled_writer_leaves_nothing_after_the_next_run(tmp_path):
    legacy = _legacy_index(tmp_path)
    (tmp_path / "docs" / "a.md").write_text("# A\n\nsecond version\n")
    ingest([tmp_path / "docs"], legacy, file_timeout=None)  # now in generations
    stale_old_style = tmp_path / ".idx.tmp-abcd1234"  # what the pre-generation writer left behind
    stale_old_style.mkdir()
    (stale_old_style / "chunks.jsonl").write_text("")
    writer = _python(
        """
        import sys, time
        from ragkit.indexes.generations import new_generation
        from ragkit.indexes.lock import index_lock
        with index_lock(sys.argv[1]), new_generation(sys.argv[1]) as tmp:
            (tmp / "half-written").write_text("x")
            print(tmp, flush=True)
            time.sleep(60)
        """,
        str(legacy),
    )
    tmp = Path(writer.stdout.readline().strip())
    assert tmp.is_dir()
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert tmp.is_dir()  # SIGKILL runs no clean-up
    assert current_generation(legacy) == "g000001" and Index.open(legacy).store  # the index is intact
    (tmp_path / "docs" / "a.md").write_text("# A\n\nthird version\n")
    report = ingest([tmp_path / "docs"], legacy, file_timeout=None)
    assert sorted(report.cleaned) == sorted([str(stale_old_style), str(tmp)])
    assert not tmp.exists() and not stale_old_style.exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []
    assert not [p for p in generations_dir(legacy).iterdir() if p.name.startswith("tmp-")]


def test_an_exception_inside_the_block_leaves_the_current_generation(tmp_path):
    legacy = _legacy_index(tmp_path)
    with index_lock(legacy), pytest.raises(RuntimeError):
        with new_generation(legacy) as tmp:
            (tmp / "manifest.json").write_text("{}")
            raise RuntimeError("stop")
    assert current_generation(legacy) is None and json.loads((legacy / "manifest.json").read_text())["counts"]
    assert list(generations_dir(legacy).iterdir()) == []


def test_an_open_index_reads_the_generation_it_opened(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nold\n")
    ingest([tmp_path / "docs"], tmp_path / "idx", file_timeout=None)
    opened = Index.open(tmp_path / "idx")
    (tmp_path / "docs" / "a.md").write_text("# A\n\nnew\n")
    ingest([tmp_path / "docs"], tmp_path / "idx", file_timeout=None)
    assert opened.path.name == "g000001" and current_generation(tmp_path / "idx") == "g000002"
    assert (opened.path / "chunks.jsonl").read_text().count("old") == 1
