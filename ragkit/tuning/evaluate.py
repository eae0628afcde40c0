"""Before/after evaluation for tuners: dense retrieval and reranking runs scored with trec_eval measures.

A ``RetrievalTask`` is queries + corpus + qrels (+ optional first-stage candidates for
reranking). Runs are ``{query_id: {doc_id: score}}`` and are scored by ``ragkit.eval.retrieval.evaluate``
(trec_eval-exact via pytrec_eval; queries without a run score 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ragkit.eval.answers import token_f1  # re-exported: the tuners' SQuAD F1 is the eval module's
from ragkit.tuning.data import QAPair

__all__ = [
    "RetrievalTask",
    "task_from_pairs",
    "retrieval_metrics",
    "dense_run",
    "rerank_run",
    "reranking_task",
    "bm25_run",
    "first_stage_run",
    "interpolate_run",
    "interpolation_curve",
    "token_f1",
]

Run = dict[str, dict[str, float]]
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map")


@dataclass
class RetrievalTask:
    """Queries, corpus and relevance judgements for measuring a retriever or reranker.

    Attributes:
        queries: ``{query_id: text}``.
        corpus: ``{doc_id: text}``.
        qrels: ``{query_id: {doc_id: relevance}}`` (relevance > 0 is relevant).
        candidates: optional first-stage ranking ``{query_id: [doc_id, ...]}`` that a reranker
            reorders; ``None`` makes ``rerank_run`` retrieve BM25 candidates itself.
        first_stage: optional first-stage scores of the candidates ``{query_id: {doc_id: score}}``
            (e.g. real BM25 scores) for reranker/first-stage interpolation; without them the
            candidates' ranks stand in (``first_stage_run``).
    """

    queries: dict[str, str]
    corpus: dict[str, str]
    qrels: dict[str, dict[str, int]]
    candidates: dict[str, list[str]] | None = None
    first_stage: Run | None = None


def task_from_pairs(pairs: list[QAPair], corpus: Any) -> RetrievalTask:
    """A task from QA pairs with a ``chunk_id``: each question's relevant doc is its chunk.

    Args:
        pairs: dev/test pairs (pairs without ``chunk_id`` are skipped).
        corpus: a ``ChunkStore`` / list of ``Chunk`` or ``{doc_id: text}``.

    Raises:
        ValueError: no pair has a ``chunk_id`` found in the corpus.
    """
    from ragkit.tuning.negatives import as_corpus

    docs = {d.id: d.text for d in as_corpus(corpus)}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for i, p in enumerate(pairs):
        if p.chunk_id and p.chunk_id in docs:
            qid = f"q{i}"
            queries[qid] = p.question
            qrels[qid] = {p.chunk_id: 1}
    if not queries:
        raise ValueError("no evaluation pair has a chunk_id found in the corpus; pass pairs made from this index")
    return RetrievalTask(queries=queries, corpus=docs, qrels=qrels)


def retrieval_metrics(run: Run, qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, recall@10, recall@100, MRR@10 and MAP of ``run`` over every judged query (trec_eval)."""
    from ragkit.eval.retrieval import evaluate

    if not any(q in run for q in qrels):
        raise ValueError("the run has no query that the qrels judge; check the query ids")
    return {m: round(v, 6) for m, v in evaluate(qrels, run, METRICS)["aggregate"].items()}


def _top(scores: Any, ids: list[str], k: int) -> dict[str, float]:
    import numpy as np

    k = min(k, len(ids))
    top = np.argpartition(-scores, k - 1)[:k]
    return {ids[i]: float(scores[i]) for i in top}


def dense_run(
    encode: Callable[[list[str]], Any], task: RetrievalTask, k: int = 100, corpus_embeddings: Any = None
) -> Run:
    """Rank the corpus for each query by inner product of ``encode`` vectors (normalised = cosine).

    Args:
        encode: ``texts -> (n, d) array`` (e.g. ``lambda t: model.encode(t, normalize_embeddings=True)``).
        task: the task.
        k: docs kept per query.
        corpus_embeddings: precomputed corpus vectors, in ``task.corpus`` order (saves re-encoding).
    """
    import numpy as np

    ids = list(task.corpus)
    d = np.asarray(corpus_embeddings if corpus_embeddings is not None else encode([task.corpus[i] for i in ids]))
    qids = list(task.queries)
    q = np.asarray(encode([task.queries[i] for i in qids]))
    scores = q @ d.T
    return {qid: _top(row, ids, k) for qid, row in zip(qids, scores)}


def bm25_run(task: RetrievalTask, k: int = 100) -> Run:
    """BM25 ranking of the corpus for each query: ragkit's ``BM25Index``, as ``ragkit search`` scores it."""
    from ragkit.tuning.negatives import CorpusDoc, bm25_scored

    ids = list(task.corpus)
    docs = [CorpusDoc(i, task.corpus[i], i) for i in ids]
    qids = list(task.queries)
    cands = bm25_scored([task.queries[q] for q in qids], docs, k)
    return {qid: {ids[i]: score for i, score in row} for qid, row in zip(qids, cands)}


def reranking_task(task: RetrievalTask, first_stage: Run) -> RetrievalTask:
    """``task`` with ``first_stage``'s ranking as the candidates and its scores kept for interpolation."""
    candidates = {q: sorted(r, key=r.get, reverse=True) for q, r in first_stage.items()}
    return RetrievalTask(task.queries, task.corpus, task.qrels, candidates, first_stage=first_stage)


def rerank_run(
    score: Callable[[list[tuple[str, str]]], Any], task: RetrievalTask, depth: int = 100
) -> Run:
    """Rescore each query's top ``depth`` candidates with ``score(pairs) -> scores`` (a cross-encoder).

    Candidates come from ``task.candidates`` (else BM25 over the corpus); docs below ``depth``
    are dropped from the run, as in BEIR's reranking evaluation.
    """
    candidates = task.candidates if task.candidates is not None else reranking_task(task, bm25_run(task, depth)).candidates
    qids = [q for q in task.queries if candidates.get(q)]
    pairs = [(task.queries[q], task.corpus[d]) for q in qids for d in candidates[q][:depth]]
    scores = [float(s) for s in score(pairs)] if pairs else []
    run: Run = {}
    i = 0
    for q in qids:
        docs = candidates[q][:depth]
        run[q] = {d: scores[i + j] for j, d in enumerate(docs)}
        i += len(docs)
    return run


def first_stage_run(task: RetrievalTask, depth: int = 100) -> Run:
    """The candidates' first-stage scores down to ``depth``: ``task.first_stage`` or, without it, ``depth - rank``."""
    if task.candidates is None:
        raise ValueError("the task has no first-stage candidates")
    out: Run = {}
    for q, docs in task.candidates.items():
        given = (task.first_stage or {}).get(q)
        out[q] = {d: float(given[d]) if given and d in given else float(depth - r) for r, d in enumerate(docs[:depth])}
    return out


def interpolate_run(rerank: Run, first: Run, weight: float) -> Run:
    """Per query, ``(1 - weight) * minmax(rerank) + weight * minmax(first)`` over the reranked docs."""
    from ragkit.indexes.fusion import interpolate

    out: Run = {}
    for q, scores in rerank.items():
        docs = list(scores)
        base = first.get(q, {})
        floor = min(base.values()) if base else 0.0
        mixed = interpolate([scores[d] for d in docs], [base.get(d, floor) for d in docs], weight)
        out[q] = dict(zip(docs, mixed))
    return out


def interpolation_curve(
    rerank: Run, first: Run, qrels: dict[str, dict[str, int]], weights: tuple[float, ...] = tuple(i / 10 for i in range(11))
) -> dict[str, float]:
    """nDCG@10 of the reranker/first-stage interpolation at each weight (0: reranker only, 1: first stage only)."""
    return {f"{w:.1f}": retrieval_metrics(interpolate_run(rerank, first, w), qrels)["ndcg@10"] for w in weights}
