"""What ``ragkit tune prf`` trains on: queries and judgements over a frozen index (``PRFTask``).

The training queries come from a BEIR-format dataset split (loaded by ``ragkit.experiments.beir.load_beir``:
a BEIR directory, or SciFact's release with its train claims) and/or QA pairs (``make-qa``
JSONL: each question's relevant document is its source chunk). The documents and their vectors
are the index's own (``Index.vectors``), so the encoder learns to point into the space the
index was built in; the index must have been built from the same documents (BEIR: chunk id =
document id, ``BeirDataset.chunks``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ragkit.tuning.data import QAPair
from ragkit.tuning.prf import PRFTask

__all__ = ["beir_queries", "pair_queries", "index_task"]

Queries = tuple[dict[str, str], dict[str, dict[str, int]]]


def beir_queries(dataset: Any, limit: int | None = None) -> Queries:
    """``(queries, qrels)`` of a loaded split (``load_beir(path, split)``); ``limit`` keeps the first ``limit`` queries.

    The dataset is passed in loaded (``ragkit.experiments`` sits above ``ragkit.tuning``).
    """
    qids = list(dataset.queries)[:limit] if limit else list(dataset.queries)
    return {q: dataset.queries[q] for q in qids}, {q: dataset.qrels.get(q, {}) for q in qids}


def pair_queries(pairs: Sequence[QAPair], prefix: str = "qa") -> Queries:
    """``(queries, qrels)`` from QA pairs: query ``{prefix}{i}``, relevant document its ``chunk_id``.

    Pairs without a ``chunk_id`` keep an empty judgement, so the tuner counts them as skipped.
    """
    queries = {f"{prefix}{i}": p.question for i, p in enumerate(pairs)}
    qrels = {f"{prefix}{i}": ({p.chunk_id: 1} if p.chunk_id else {}) for i, p in enumerate(pairs)}
    return queries, qrels


def index_task(index: str | Path | Any, *sources: Queries) -> PRFTask:
    """A ``PRFTask`` over every chunk of ``index`` (a directory or an opened ``Index``) and the given queries.

    Raises:
        FileNotFoundError: the index has no dense sub-index (``ragkit index DIR``).
        StaleIndexError: chunks were ingested after the dense index was built.
        ValueError: no queries, or two sources use the same query id.
    """
    from ragkit.indexes.index import Index

    opened = index if isinstance(index, Index) else Index.open(index)
    if not opened.has("dense"):
        raise FileNotFoundError(f"{opened.directory} has no dense index; build it with `ragkit index {opened.directory}`")
    opened.check_fresh("dense")
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for source_queries, source_qrels in sources:
        clash = set(source_queries) & set(queries)
        if clash:
            raise ValueError(f"{len(clash)} query ids occur in two training sources (e.g. {sorted(clash)[0]!r})")
        queries.update(source_queries)
        qrels.update(source_qrels)
    if not queries:
        raise ValueError("no training queries: give a BEIR dataset (--data) and/or QA pairs (--train)")
    chunks = list(opened.store)
    ids = [c.id for c in chunks]
    return PRFTask(queries=queries, qrels=qrels, doc_ids=ids, doc_texts={c.id: c.text for c in chunks},
                   doc_vectors=opened.vectors(ids))
