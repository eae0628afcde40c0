"""The rewrite stage: first pass, rewrite, one batched retrieval per kind of rewrite, fusion.

``rewrite_and_retrieve`` is the only code that combines a rewriter with a retriever. It checks
the capability each rewrite needs (``TermSearch`` for ``WeightedTerms``, ``VectorSearch`` -- or
``TextVectorSearch``, the hybrid retriever, which searches with the original text and the vector
-- for ``QueryVector``, and ``VectorSearch`` when available for ``MeanOfTexts``), hands the rewriter the feedback hits and
the retriever as arguments, and fuses several query texts per question with weighted RRF.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ragkit.indexes import fusion
from ragkit.retrievers.base import TermSearch, TextVectorSearch, VectorSearch
from ragkit.rewriters.base import MeanOfTexts, QueryVector, Rewrite, Rewriter, TextQueries, WeightedTerms
from ragkit.types import Hit

__all__ = ["rewrite_and_retrieve"]

Runs = list[list[Hit]]


def _add(timings: dict[str, float], stage: str, start: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def _capable(retriever: Any, capability: type, rewrite: Rewrite) -> Any:
    if not isinstance(retriever, capability):
        kind = "bm25" if capability is TermSearch else "dense"
        raise ValueError(
            f"a {type(rewrite).__name__} rewrite needs a retriever with {capability.__name__} ({kind}); "
            f"{type(retriever).__name__} has none: configure that retriever, or another rewriter"
        )
    return retriever


def _mean_vectors(retriever: VectorSearch, groups: list[list[str]]) -> np.ndarray:
    """One unit-length vector per group: the mean of the group's query embeddings."""
    emb = np.asarray(retriever.embed_queries([q for g in groups for q in g]), dtype=np.float32)
    rows, start = [], 0
    for group in groups:
        v = emb[start : start + len(group)].mean(axis=0)
        rows.append(v / max(float(np.linalg.norm(v)), 1e-12))
        start += len(group)
    return np.stack(rows)


def _retrieve_all(retriever: Any, rewrites: list[Rewrite], depth: int, first: Runs | None) -> list[Runs]:
    """Per rewrite, one run per query (vector, terms, or each text), batched by kind."""
    runs: list[Runs | None] = [None] * len(rewrites)
    texts: list[tuple[int, int, str]] = []  # (rewrite, slot, text)
    slots: dict[int, list[list[Hit] | None]] = {}
    terms, vectors, means = [], [], []
    for i, rw in enumerate(rewrites):
        if isinstance(rw, WeightedTerms):
            terms.append(i)
        elif isinstance(rw, QueryVector):
            vectors.append(i)
        elif isinstance(rw, MeanOfTexts) and len(rw.queries) > 1 and isinstance(retriever, VectorSearch):
            means.append(i)
        elif isinstance(rw, (TextQueries, MeanOfTexts)):
            queries = rw.queries if isinstance(rw, TextQueries) else [" ".join(rw.queries)]
            slots[i] = [None] * len(queries)
            for j, q in enumerate(queries):
                if first is not None and q == rw.original:
                    slots[i][j] = first[i][:depth]  # the first pass already ran this query
                else:
                    texts.append((i, j, q))
        else:
            raise TypeError(f"unknown rewrite type {type(rw).__name__}")
    if texts:
        for (i, j, _), hits in zip(texts, retriever.retrieve([t for _, _, t in texts], depth)):
            slots[i][j] = hits
    if terms:
        search = _capable(retriever, TermSearch, rewrites[terms[0]])
        for i, hits in zip(terms, search.retrieve_terms([rewrites[i].term_weights for i in terms], depth)):
            runs[i] = [hits]
    if vectors:
        matrix = np.asarray([rewrites[i].vector for i in vectors], dtype=np.float32)
        if isinstance(retriever, TextVectorSearch) and not isinstance(retriever, VectorSearch):
            found = retriever.retrieve_text_vectors([rewrites[i].original for i in vectors], matrix, depth)
        else:
            found = _capable(retriever, VectorSearch, rewrites[vectors[0]]).retrieve_vectors(matrix, depth)
        for i, hits in zip(vectors, found):
            runs[i] = [hits]
    if means:
        matrix = _mean_vectors(retriever, [rewrites[i].queries for i in means])
        for i, hits in zip(means, retriever.retrieve_vectors(matrix, depth)):
            runs[i] = [hits]
    for i, got in slots.items():
        runs[i] = [h if h is not None else [] for h in got]
    return runs  # type: ignore[return-value]


def rewrite_and_retrieve(
    rewriter: Rewriter,
    retriever: Any,
    questions: list[str],
    depth: int,
    timings: dict[str, float] | None = None,
    feedback: list[list[Hit]] | None = None,
) -> Runs:
    """Rewrite questions, retrieve for every rewritten query, fuse per question.

    Args:
        rewriter: a ``Rewriter``.
        retriever: a retriever; rewriters with ``needs`` require that capability of it.
        questions: the questions.
        depth: hits kept per question.
        timings: if given, seconds are added under ``"retrieve"`` (all retrieval passes),
            ``"rewrite"`` and ``"fuse"``.
        feedback: relevant documents per question (e.g. marked by a user) for rewriters that
            need feedback; ``None`` runs a first retrieval pass and uses its top
            ``rewriter.fb_docs`` hits (pseudo-relevance feedback).

    Returns:
        Per question, up to ``depth`` hits, best first (fused runs have ``retriever="rrf"``).

    Raises:
        ValueError: the rewriter cannot work with this retriever, or ``feedback`` has the
            wrong length.
    """
    timings = {} if timings is None else timings
    if feedback is not None and len(feedback) != len(questions):
        raise ValueError(f"feedback has {len(feedback)} lists for {len(questions)} questions; give one per question")
    rewriter.check_searcher(retriever)  # fail before any LLM call or first pass
    first = None
    if feedback is None and rewriter.needs_feedback:
        start = time.perf_counter()
        first = retriever.retrieve(questions, max(depth, rewriter.fb_docs))
        feedback = [hits[: rewriter.fb_docs] for hits in first]
        _add(timings, "retrieve", start)
    start = time.perf_counter()
    rewrites = rewriter.rewrite(list(questions), feedback, searcher=retriever)
    _add(timings, "rewrite", start)
    if len(rewrites) != len(questions):
        raise ValueError(f"{rewriter.registered_name} returned {len(rewrites)} rewrites for {len(questions)} questions")
    start = time.perf_counter()
    runs = _retrieve_all(retriever, rewrites, depth, first)
    _add(timings, "retrieve", start)
    start = time.perf_counter()
    out = []
    for rw, question_runs in zip(rewrites, runs):
        if len(question_runs) == 1:
            out.append(question_runs[0][:depth])
        else:
            out.append(fusion.rrf(question_runs, rrf_k=rw.rrf_k, weights=rw.weights, limit=depth))
    _add(timings, "fuse", start)
    return out
