"""The QA bot's feedback log as training data for the reranker and the generator.

The log's schema, writer and reader are ``ragkit.feedback``'s. A chunk's text is taken from
``chunk_text`` when logged, else from the index (``store``), so judgements survive re-indexing.
"""

from __future__ import annotations

from typing import Any

from ragkit.feedback import FEEDBACK_COLUMNS, FeedbackRecord, read_feedback
from ragkit.tuning.data import QAPair

# the log's record and reader live in ragkit.feedback (one owner of the format); named here for callers
__all__ = ["FeedbackRecord", "FEEDBACK_COLUMNS", "read_feedback", "rerank_examples_from_feedback", "qa_pairs_from_feedback"]

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
