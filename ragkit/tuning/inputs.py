"""A tuner's inputs read as the CLI and the Python API both read them: QA pairs, the index's chunks, mined negatives.

``ragkit tune …`` / ``ragkit make-qa`` and ``ragkit.tune_*`` call these, so a path given to
either means the same thing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ragkit.tuning.data import QAPair, read_qa_jsonl

__all__ = ["chunk_store", "qa_pairs", "mine_from_index"]


def chunk_store(index: str | Path | None) -> Any:
    """The ``ChunkStore`` of an index directory (``None`` for ``None``).

    Raises:
        FileNotFoundError / ValueError: not an index directory (the message says what to run).
    """
    if index is None:
        return None
    from ragkit.indexes.manifest import read_manifest
    from ragkit.indexes.store import ChunkStore

    read_manifest(Path(index))  # a clear error when it is not an index directory
    return ChunkStore.load(Path(index))


def qa_pairs(pairs: str | Path | Sequence[QAPair] | None, store: Any = None) -> list[QAPair]:
    """QA pairs from a JSONL path (passages filled in from ``store``), a list of pairs, or ``None`` (none)."""
    if pairs is None:
        return []
    if isinstance(pairs, (str, Path)):
        return read_qa_jsonl(pairs, store=store)
    return list(pairs)


def mine_from_index(pairs: list[QAPair], index: str | Path | None, store: Any, n: int) -> list[QAPair]:
    """``n`` hard negatives per pair from the index: its BM25 retriever when built, else in-memory BM25 over its chunks.

    Raises:
        ValueError: negatives asked for (``n > 0``) without an index.
    """
    if n <= 0 or not pairs:
        return pairs
    if store is None or index is None:
        raise ValueError("mining hard negatives needs the index the QA pairs come from (--index / index=)")
    from ragkit.indexes.manifest import read_manifest
    from ragkit.tuning.negatives import mine_hard_negatives

    retriever = None
    if "bm25" in read_manifest(Path(index)):
        from ragkit.registry import build

        retriever = build("retriever", {"type": "bm25", "index": str(index)})
    return mine_hard_negatives(pairs, store, n=n, retriever=retriever)
