"""The SQLite answer/feedback log: schema the tuning reader accepts, row shapes, concurrency."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from ragkit.feedback import FeedbackLog, UnknownAnswerError
from ragkit.tuning.feedback import read_feedback, rerank_examples_from_feedback

SOURCES = [
    {"chunk_id": "c1", "text": "The app receives a new data point every 5 minutes."},
    {"chunk_id": "c2", "text": "Lead-acid batteries are not supported."},
]


def _log_with_answer(path: Path, answer_id: str = "a1") -> FeedbackLog:
    log = FeedbackLog(path)
    log.record_answer(answer_id, "How often?", "Every 5 minutes [1].", "rag", [{"number": 1, "chunk_id": "c1"}], SOURCES)
    return log


def test_creates_wal_database_with_the_agreed_schema(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "fb.sqlite"
    FeedbackLog(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = {row[1]: row[2] for row in con.execute("PRAGMA table_info(feedback)")}
    expected = {"id": "INTEGER", "ts": "REAL", "question": "TEXT", "answer": "TEXT", "rating": "INTEGER",
                "chunk_id": "TEXT", "relevant": "INTEGER", "chunk_text": "TEXT"}
    assert {k: cols[k] for k in expected} == expected
    answer_cols = {row[1] for row in con.execute("PRAGMA table_info(answers)")}
    assert {"id", "ts", "question", "answer", "mode", "citations"} <= answer_cols
    con.close()


def test_thumbs_and_marks_rows_read_back_by_the_tuning_reader(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite"
    log = _log_with_answer(path)
    ids = log.add_feedback("a1", rating=1, marks=[("c1", True), ("c2", False)])
    assert len(ids) == 3 and ids == sorted(ids)
    rows = read_feedback(path)
    thumbs = [r for r in rows if r.chunk_id is None]
    marks = {r.chunk_id: r for r in rows if r.chunk_id is not None}
    assert len(thumbs) == 1 and thumbs[0].rating == 1 and thumbs[0].relevant is None
    assert thumbs[0].question == "How often?" and thumbs[0].answer == "Every 5 minutes [1]."
    assert marks["c1"].relevant == 1 and marks["c2"].relevant == 0
    assert marks["c1"].rating == 0 and marks["c1"].chunk_text == SOURCES[0]["text"]
    # The reranker data builder turns the marks into one positive with one negative.
    [pair] = rerank_examples_from_feedback(rows)
    assert pair.contexts == [SOURCES[0]["text"]] and pair.negatives == [SOURCES[1]["text"]]


def test_get_answer_round_trips(tmp_path: Path) -> None:
    log = _log_with_answer(tmp_path / "fb.sqlite")
    record = log.get_answer("a1")
    assert record["mode"] == "rag" and record["citations"] == [{"number": 1, "chunk_id": "c1"}]
    assert [s["chunk_id"] for s in record["sources"]] == ["c1", "c2"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"answer_id": "nope", "rating": 1}, UnknownAnswerError, "no answer with id"),
        ({"answer_id": "a1", "marks": [("c9", True)]}, UnknownAnswerError, "was not given chunk"),
        ({"answer_id": "a1", "rating": 5}, ValueError, "rating must be"),
        ({"answer_id": "a1"}, ValueError, "needs a rating"),
    ],
)
def test_bad_feedback_is_refused_and_writes_nothing(tmp_path: Path, kwargs, error, match) -> None:
    log = _log_with_answer(tmp_path / "fb.sqlite")
    with pytest.raises(error, match=match):
        log.add_feedback(**kwargs)
    assert log.count() == 0


def test_unusable_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a directory"):
        FeedbackLog(tmp_path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not a usable SQLite database"):
        FeedbackLog(junk)


def test_concurrent_writers_lose_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite"
    _log_with_answer(path).close()
    per_thread, threads = 40, 8
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        barrier.wait()
        writer = FeedbackLog(path)  # a second handle on the same file, like another worker
        try:
            for i in range(per_thread):
                writer.add_feedback("a1", rating=1 if (n + i) % 2 else -1, marks=[("c1", bool(i % 2))])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    rows = read_feedback(path)
    assert len(rows) == threads * per_thread * 2
    assert len({r.id for r in rows}) == len(rows)
    assert sum(1 for r in rows if r.chunk_id is None) == threads * per_thread


def test_one_log_shared_by_threads_loses_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite"
    log = _log_with_answer(path)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                log.add_feedback("a1", rating=1, marks=[("c2", False)])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == [] and log.count() == 8 * 50 * 2


def test_close_checkpoints_and_a_later_call_reconnects(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite"
    with _log_with_answer(path) as log:
        log.add_feedback("a1", rating=-1)
    assert log.count() == 1  # reopened after close
    log.close()
    assert [r.rating for r in read_feedback(path)] == [-1]
