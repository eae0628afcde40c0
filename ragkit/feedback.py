"""The QA bot's feedback log (SQLite): its schema, writer (``FeedbackLog``) and reader (``read_feedback``).

One module owns the format, for the server that writes it and the tuners that read it.

Two tables. ``answers`` holds each answer the server returned, so feedback can name it by id::

    answers(id TEXT PRIMARY KEY, ts REAL, question TEXT, answer TEXT, mode TEXT,
            citations TEXT,   -- JSON list of Citation dicts
            sources TEXT)     -- JSON list of {chunk_id, text} the answer was given

``feedback`` is the schema ``read_feedback`` reads (one row per judgement;
``answer_id`` is an extra column that links a row to ``answers``)::

    feedback(id INTEGER PRIMARY KEY, ts REAL, question TEXT, answer TEXT,
             rating INTEGER,      -- +1 / -1 thumbs, 0 on a source-mark row
             chunk_id TEXT NULL, relevant INTEGER NULL, chunk_text TEXT NULL,
             answer_id TEXT NULL)

A thumbs row has ``rating = ±1`` and ``chunk_id = NULL``; each source mark is its own row with
``chunk_id`` / ``relevant`` (1 or 0) / ``chunk_text`` and ``rating = 0``.

Concurrency: the database is in WAL mode with ``synchronous=FULL``, so a committed write
survives a crash of the process and of the machine. A ``FeedbackLog`` keeps one connection,
usable from any thread and guarded by a lock: each call runs alone. ``write_batch`` applies many
writes (``AnswerWrite`` / ``FeedbackWrite``) in one ``BEGIN IMMEDIATE`` transaction, each write
in its own savepoint (a refused write leaves no row and does not fail the others): a group
commit, which costs one sync for the whole batch. ``record_answer`` and ``add_feedback`` are
batches of one. (A connection per call would be simpler but is ~20x slower: closing the last
connection checkpoints the WAL and syncs.) Writers in other processes, or other ``FeedbackLog``
objects, wait up to ``busy_timeout``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Iterator, Sequence, Union

__all__ = [
    "FeedbackLog", "AnswerWrite", "FeedbackWrite", "UnknownAnswerError", "FeedbackRecord", "FEEDBACK_COLUMNS",
    "SCHEMA_VERSION", "read_feedback", "read_answers",
]

SCHEMA_VERSION = 1
"""The log format's version, kept in SQLite's ``user_version``; 0 (unset) is a log written before it was kept."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    mode TEXT NOT NULL,
    citations TEXT NOT NULL,
    sources TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    ts REAL,
    question TEXT,
    answer TEXT,
    rating INTEGER,
    chunk_id TEXT NULL,
    relevant INTEGER NULL,
    chunk_text TEXT NULL,
    answer_id TEXT NULL
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback(answer_id);
"""


def _check_version(con: sqlite3.Connection, path: Any) -> None:
    version = int(con.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"feedback log {path} has format version {version}, newer than this ragkit's {SCHEMA_VERSION}; "
            "upgrade ragkit to read it"
        )


class UnknownAnswerError(KeyError):
    """Feedback named an answer id (or a chunk of it) that the log does not hold."""


@dataclass(slots=True, frozen=True)
class AnswerWrite:
    """Store an answer the server returned (see ``FeedbackLog.record_answer``)."""

    answer_id: str
    question: str
    answer: str
    mode: str
    citations: list[dict[str, Any]]
    sources: list[dict[str, Any]]


@dataclass(slots=True, frozen=True)
class FeedbackWrite:
    """Log a thumbs rating and/or source marks for one answer (see ``FeedbackLog.add_feedback``)."""

    answer_id: str
    rating: int | None = None
    marks: tuple[tuple[str, bool], ...] = ()


Write = Union[AnswerWrite, FeedbackWrite]


class FeedbackLog:
    """Append-only answer and feedback log in one SQLite file.

    Args:
        path: the SQLite file; created (with its parent directory) when missing.
        busy_timeout: seconds a writer waits for another writer before failing.
        synchronous: SQLite's ``synchronous`` setting: ``FULL`` (a commit survives power loss)
            or ``NORMAL`` (survives a crash of the process only; a little faster per commit).

    Raises:
        ValueError: ``path`` exists but is not a SQLite database, or is a directory.
    """

    def __init__(self, path: str | Path, busy_timeout: float = 30.0, synchronous: str = "FULL"):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None
        if self.path.is_dir():
            raise ValueError(f"feedback log {self.path} is a directory; pass a file path such as {self.path / 'feedback.sqlite'}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = self._open()

    def _open(self) -> sqlite3.Connection:
        """Connect, switch to WAL and create the tables if needed."""
        con = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(f"PRAGMA synchronous={self.synchronous}")
            con.executescript(_SCHEMA)
            _check_version(con, self.path)
            if con.execute("PRAGMA user_version").fetchone()[0] == 0:
                con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except ValueError:
            con.close()
            raise
        except sqlite3.DatabaseError as exc:
            con.close()
            raise ValueError(f"feedback log {self.path} is not a usable SQLite database ({exc}); pass another --feedback-db") from exc
        return con

    def close(self) -> None:
        """Close the connection (checkpointing the WAL); a later call reconnects."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> FeedbackLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._con is None:
                self._con = self._open()
            yield self._con

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the write lock up front (no upgrade deadlock)."""
        with self._read() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

    # -- writes ----------------------------------------------------------------------------
    def write_batch(self, writes: Sequence[Write]) -> list[list[int] | Exception]:
        """Apply ``writes`` in order in one transaction (a group commit), each in its own savepoint.

        Args:
            writes: ``AnswerWrite`` and ``FeedbackWrite`` items; feedback may name an answer
                written earlier in the same batch.

        Returns:
            One outcome per write, in order: the new feedback row ids (``[]`` for an answer), or
            the exception that refused it (``ValueError``, ``UnknownAnswerError`` …); a refused
            write leaves no row. Every outcome holds only once the whole batch is committed.

        Raises:
            sqlite3.Error: the transaction could not be committed; no write of the batch is kept.
        """
        outcomes: list[list[int] | Exception] = []
        with self._write() as con:
            for write in writes:
                con.execute("SAVEPOINT write")
                try:
                    if isinstance(write, AnswerWrite):
                        outcomes.append(self._insert_answer(con, write))
                    elif isinstance(write, FeedbackWrite):
                        outcomes.append(self._insert_feedback(con, write))
                    else:
                        raise TypeError(f"cannot write {type(write).__name__}; pass AnswerWrite or FeedbackWrite")
                except Exception as exc:  # noqa: BLE001 - handed back as this write's outcome, not swallowed
                    con.execute("ROLLBACK TO write")
                    outcomes.append(exc)
                con.execute("RELEASE write")
        return outcomes

    def _write_one(self, write: Write) -> list[int]:
        [outcome] = self.write_batch([write])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @staticmethod
    def _insert_answer(con: sqlite3.Connection, write: AnswerWrite) -> list[int]:
        kept = [{"chunk_id": s["chunk_id"], "text": s["text"]} for s in write.sources]
        con.execute(
            "INSERT INTO answers (id, ts, question, answer, mode, citations, sources) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (write.answer_id, time.time(), write.question, write.answer, write.mode,
             json.dumps(write.citations), json.dumps(kept)),
        )
        return []

    @staticmethod
    def _insert_feedback(con: sqlite3.Connection, write: FeedbackWrite) -> list[int]:
        rating, marks = write.rating, list(write.marks)
        if rating is not None and (isinstance(rating, bool) or rating not in (1, -1)):
            raise ValueError(f"rating must be 1 (thumbs up) or -1 (thumbs down), got {rating!r}")
        if rating is None and not marks:
            raise ValueError("feedback needs a rating (1 or -1) or at least one source mark")
        record = _answer_row(con, write.answer_id)
        texts = {s["chunk_id"]: s["text"] for s in record["sources"]}
        unknown = [cid for cid, _ in marks if cid not in texts]
        if unknown:
            raise UnknownAnswerError(
                f"answer {write.answer_id!r} was not given chunk(s) {unknown}; mark only its sources "
                f"({sorted(texts) or 'it has none'})"
            )
        now = time.time()
        rows: list[tuple[Any, ...]] = []
        if rating is not None:
            rows.append((now, record["question"], record["answer"], rating, None, None, None, write.answer_id))
        for cid, relevant in marks:
            rows.append((now, record["question"], record["answer"], 0, cid, int(bool(relevant)), texts[cid], write.answer_id))
        ids = []
        for row in rows:
            cur = con.execute(
                "INSERT INTO feedback (ts, question, answer, rating, chunk_id, relevant, chunk_text, answer_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            ids.append(int(cur.lastrowid))
        return ids

    # -- answers ---------------------------------------------------------------------------
    def record_answer(
        self,
        answer_id: str,
        question: str,
        answer: str,
        mode: str,
        citations: list[dict[str, Any]],
        sources: list[dict[str, Any]],
    ) -> None:
        """Store an answer the server returned (one committed transaction).

        Args:
            answer_id: the id the client will send back with its feedback.
            question, answer, mode: what was asked, answered, and how (``rag`` / ``closed-book``).
            citations: the answer's citations as dicts.
            sources: the chunks the answer was given, each at least ``{"chunk_id", "text"}``.
        """
        self._write_one(AnswerWrite(answer_id, question, answer, mode, citations, sources))

    def get_answer(self, answer_id: str) -> dict[str, Any]:
        """The stored answer ``answer_id`` with ``citations`` and ``sources`` decoded.

        Raises:
            UnknownAnswerError: no answer has that id.
        """
        with self._read() as con:
            return _answer_row(con, answer_id)

    # -- feedback --------------------------------------------------------------------------
    def add_feedback(
        self, answer_id: str, rating: int | None = None, marks: list[tuple[str, bool]] | None = None
    ) -> list[int]:
        """Log a thumbs rating and/or per-source relevance marks for one answer (one committed transaction).

        Args:
            answer_id: an id from ``record_answer``.
            rating: +1 (good), -1 (bad) or ``None`` (no thumbs row).
            marks: ``(chunk_id, relevant)`` for chunks the answer was given.

        Returns:
            The new feedback row ids (the thumbs row first, then the marks in order).

        Raises:
            ValueError: a rating other than +1 / -1, or nothing to log.
            UnknownAnswerError: the answer id, or a marked chunk of it, is unknown.
        """
        return self._write_one(FeedbackWrite(answer_id, rating, tuple(marks or ())))

    def count(self, table: str = "feedback") -> int:
        """Number of rows in ``feedback`` or ``answers``."""
        if table not in ("feedback", "answers"):
            raise ValueError(f"table must be 'feedback' or 'answers', got {table!r}")
        with self._read() as con:
            return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _answer_row(con: sqlite3.Connection, answer_id: str) -> dict[str, Any]:
    row = con.execute(
        "SELECT id, ts, question, answer, mode, citations, sources FROM answers WHERE id = ?", (answer_id,)
    ).fetchone()
    if row is None:
        raise UnknownAnswerError(f"no answer with id {answer_id!r}; ask first (POST /ask) and send its 'id'")
    keys = ("id", "ts", "question", "answer", "mode", "citations", "sources")
    record = dict(zip(keys, row))
    record["citations"] = json.loads(record["citations"])
    record["sources"] = json.loads(record["sources"])
    return record


FEEDBACK_COLUMNS = ("id", "ts", "question", "answer", "rating", "chunk_id", "relevant", "chunk_text")


@dataclass(slots=True)
class FeedbackRecord:
    """One row of the ``feedback`` table."""

    id: int
    ts: float
    question: str
    answer: str
    rating: int
    chunk_id: str | None = None
    relevant: int | None = None
    chunk_text: str | None = None
    answer_id: str | None = None


def read_feedback(path: str | Path) -> list[FeedbackRecord]:
    """Read every row of the ``feedback`` table, oldest first.

    Args:
        path: the SQLite file the QA bot writes.

    Returns:
        The rows as ``FeedbackRecord`` objects, ordered by ``ts`` then ``id``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file has no ``feedback`` table, or it lacks a column of the schema.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feedback log {path} does not exist; the QA bot writes it when users rate answers")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            columns = {row[1] for row in con.execute("PRAGMA table_info(feedback)")}
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{path} is not a SQLite database ({exc})") from exc
        if not columns:
            raise ValueError(f"{path} has no table 'feedback'; is it the QA bot's feedback log?")
        _check_version(con, path)
        missing = [c for c in FEEDBACK_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"{path}: table feedback lacks column(s) {missing}; expected {list(FEEDBACK_COLUMNS)}")
        wanted = [*FEEDBACK_COLUMNS, "answer_id"] if "answer_id" in columns else list(FEEDBACK_COLUMNS)
        rows = con.execute(f"SELECT {', '.join(wanted)} FROM feedback ORDER BY ts, id").fetchall()
    finally:
        con.close()
    return [
        FeedbackRecord(
            id=int(r[0]), ts=float(r[1] or 0.0), question=r[2] or "", answer=r[3] or "", rating=int(r[4] or 0),
            chunk_id=r[5], relevant=None if r[6] is None else int(r[6]), chunk_text=r[7],
            answer_id=r[8] if len(r) > 8 else None,
        )
        for r in rows
    ]


def read_answers(path: str | Path) -> dict[str, dict[str, Any]]:
    """Every logged answer by id: ``{"question", "answer", "citations", "sources", "ts"}`` (JSON decoded).

    A log without an ``answers`` table (written by another tool) gives ``{}``.

    Raises:
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feedback log {path} does not exist; the QA bot writes it when users rate answers")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if not con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='answers'").fetchone():
            return {}
        rows = con.execute("SELECT id, ts, question, answer, citations, sources FROM answers").fetchall()
    finally:
        con.close()
    return {
        r[0]: {"ts": r[1], "question": r[2], "answer": r[3], "citations": json.loads(r[4]), "sources": json.loads(r[5])}
        for r in rows
    }
