"""The QA bot's feedback log (SQLite) as training data for the reranker and the generator.

The table is ``feedback(id INTEGER PRIMARY KEY, ts REAL, question TEXT, answer TEXT,
rating INTEGER, chunk_id TEXT NULL, relevant INTEGER NULL, chunk_text TEXT NULL)``; the
meaning of each column is documented in ``ragkit.tuning.data``. A chunk's text is taken from
``chunk_text`` when logged, else from the index (``store``), so judgements survive re-indexing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragkit.tuning.data import QAPair

__all__ = ["FeedbackRecord", "FEEDBACK_COLUMNS", "read_feedback", "rerank_examples_from_feedback", "qa_pairs_from_feedback"]

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
        missing = [c for c in FEEDBACK_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"{path}: table feedback lacks column(s) {missing}; expected {list(FEEDBACK_COLUMNS)}")
        rows = con.execute(f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM feedback ORDER BY ts, id").fetchall()
    finally:
        con.close()
    return [
        FeedbackRecord(
            id=int(r[0]), ts=float(r[1] or 0.0), question=r[2] or "", answer=r[3] or "", rating=int(r[4] or 0),
            chunk_id=r[5], relevant=None if r[6] is None else int(r[6]), chunk_text=r[7],
        )
        for r in rows
    ]


def _chunk_text(rec: FeedbackRecord, store: Any) -> str | None:
    if rec.chunk_text:
        return rec.chunk_text
    if rec.chunk_id and store is not None and rec.chunk_id in store:
        return store.get(rec.chunk_id).text
    return None


def _latest_judgements(records: list[FeedbackRecord], store: Any) -> dict[str, dict[str, tuple[int, str, str | None]]]:
    """question -> chunk key -> (relevant, text, chunk_id), the latest judgement of each chunk winning."""
    judged: dict[str, dict[str, tuple[int, str, str | None]]] = {}
    for rec in records:
        if rec.relevant is None:
            continue
        text = _chunk_text(rec, store)
        if not text or not rec.question.strip():
            continue
        judged.setdefault(rec.question.strip(), {})[rec.chunk_id or text] = (rec.relevant, text, rec.chunk_id)
    return judged


def rerank_examples_from_feedback(records: list[FeedbackRecord], store: Any = None) -> list[QAPair]:
    """Group chunk judgements by question into ranking examples for the reranker.

    A chunk judged ``relevant = 1`` is a positive, ``relevant = 0`` a negative; when a chunk has
    several judgements for the same question, the latest wins. Questions without a positive
    are dropped (nothing to rank up), as are judgements whose chunk text is unknown.

    Args:
        records: rows from ``read_feedback``.
        store: optional ``ChunkStore`` to look up chunk texts not stored in the log.

    Returns:
        One ``QAPair`` per (question, positive chunk): ``contexts=[positive]`` and
        ``negatives`` = the question's chunks judged not relevant.
    """
    judged = _latest_judgements(records, store)
    pairs = []
    for question, chunks in judged.items():
        negatives = [text for rel, text, _ in chunks.values() if rel == 0]
        for rel, text, cid in chunks.values():
            if rel == 1:
                source = store.get(cid).source if (store is not None and cid and cid in store) else cid
                pairs.append(QAPair(question=question, chunk_id=cid, source=source, contexts=[text],
                                    negatives=list(negatives), metadata={"origin": "feedback"}))
    return pairs


def qa_pairs_from_feedback(records: list[FeedbackRecord], store: Any = None, min_rating: int = 1) -> list[QAPair]:
    """Well-rated answers as QA pairs for generator tuning (with a relevant chunk when judged).

    Args:
        records: rows from ``read_feedback``.
        store: optional ``ChunkStore`` to look up chunk texts not stored in the log.
        min_rating: keep answers rated at least this (default: thumbs-up only).

    Returns:
        One pair per distinct (question, answer) rated ``>= min_rating``; its ``contexts`` hold
        the chunks judged relevant for that question (latest judgement per chunk), if any.
    """
    relevant = {
        q: [(text, cid) for rel, text, cid in chunks.values() if rel == 1]
        for q, chunks in _latest_judgements(records, store).items()
    }
    seen: set[tuple[str, str]] = set()
    pairs = []
    for rec in records:
        q, a = rec.question.strip(), rec.answer.strip()
        if rec.rating < min_rating or not q or not a or (q, a) in seen:
            continue
        seen.add((q, a))
        ctx = relevant.get(q, [])
        cid = ctx[0][1] if ctx else rec.chunk_id
        source = store.get(cid).source if (store is not None and cid and cid in store) else cid
        pairs.append(QAPair(question=q, answer=a, chunk_id=cid, source=source,
                            contexts=[t for t, _ in ctx], metadata={"origin": "feedback", "rating": rec.rating}))
    return pairs
