"""ParseWorker: files parsed in a real child process, stopped at the per-file time budget."""

from __future__ import annotations

import random
import time

import pytest

from ragkit.ingest import ingest
from ragkit.ingest.worker import ParseWorker, parse_file

CHUNKER = {"max_tokens": 64, "overlap_tokens": 8, "tokenizer": "minilm"}
WORDS = ["alpha", "beta", "gamma", "delta", "zebra", "quantum", "retrieval", "index,", "chunk.", "Hello"]


def one_line(path, n_bytes: int) -> None:
    rng = random.Random(0)
    words = []
    size = 0
    while size < n_bytes:
        w = rng.choice(WORDS)
        words.append(w)
        size += len(w) + 1
    path.write_text(" ".join(words))


def test_the_child_gives_the_same_chunks_as_parsing_in_process(tmp_path):
    (tmp_path / "a.md").write_text("# A\n\n" + "Some words here. " * 200 + "\n")
    with ParseWorker(CHUNKER, timeout_s=60) as worker:
        remote = worker.parse(tmp_path / "a.md", "a.md")
    local = parse_file(tmp_path / "a.md", "a.md", CHUNKER, {})
    assert remote.error is None and len(remote.chunks) > 3
    assert [c.to_dict() for c in remote.chunks] == [c.to_dict() for c in local.chunks]


def test_a_file_over_the_time_budget_is_stopped_and_the_next_one_parses(tmp_path):
    one_line(tmp_path / "big.txt", 10 * 1024 * 1024)  # a 10 MB single line: ~20 s of tokenizing here
    (tmp_path / "small.md").write_text("# Small\n\nquick\n")
    with ParseWorker(CHUNKER, timeout_s=1.0) as worker:
        started = time.monotonic()
        slow = worker.parse(tmp_path / "big.txt", "big.txt")
        elapsed = time.monotonic() - started
        fast = worker.parse(tmp_path / "small.md", "small.md")  # a fresh child
    assert slow.chunks == [] and "longer than the per-file time budget of 1 s" in slow.error
    assert elapsed < 3.0
    assert fast.error is None and fast.chunks[0].text.startswith("# Small")


def test_ingest_reports_a_timed_out_file_as_failed_and_keeps_the_rest(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    one_line(root / "big.txt", 10 * 1024 * 1024)
    (root / "ok.md").write_text("# Fine\n\nparsed\n")
    report = ingest([root], tmp_path / "idx", file_timeout=1.0)
    assert list(report.failed) == ["big.txt"] and "time budget" in report.failed["big.txt"]
    assert report.parsed == ["ok.md"] and not report.complete()


def test_bad_chunker_settings_fail_as_the_same_error_in_the_child():
    with ParseWorker({**CHUNKER, "overlap_tokens": 60}, timeout_s=5) as worker:
        with pytest.raises(ValueError, match="overlap_tokens"):
            worker.parse(__file__, "x.py")
