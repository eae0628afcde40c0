"""Pseudo-relevance feedback: RM3 for BM25, Rocchio / average PRF for dense query vectors.

RM3 follows Anserini's ``Rm3Reranker`` (what Pyserini's ``set_rm3(fb_terms=10, fb_docs=10,
original_query_weight=0.5)`` runs):

1. each of the top ``fb_docs`` documents becomes a term-frequency vector over its analyzed
   terms (stopwords are already removed by the analyzer), keeping only terms of 2-20
   characters in ``[a-z0-9]`` that occur in at most ``max_df`` (10 %) of the collection, pruned
   to its ``fb_terms`` most frequent terms;
2. a term's relevance-model weight is ``sum_d tf(t, d) / |d| * score(d)`` (``|d|``: the L1 norm
   of the pruned vector, ``score(d)``: the first-pass score, i.e. the document's query
   likelihood under BM25);
3. the ``fb_terms`` heaviest terms are kept and L1-normalised;
4. the expanded query is ``w * q(t) + (1 - w) * rm(t)`` with ``q`` the original query's
   L1-normalised term frequencies and ``w = original_query_weight``; BM25 scores each term
   times its weight (Lucene's boosted ``BooleanQuery``).

Rocchio moves the query vector towards the feedback documents' centroid:
``q' = alpha * q + beta * mean(d_1..d_k)``, re-normalised to unit length; ``average-prf`` is
the mean of the query and the ``k`` document vectors.

References: Lavrenko & Croft 2001, "Relevance-Based Language Models"; Abdul-Jaleel et al.
2004, "UMass at TREC 2004: Novelty and HARD" (RM3); Lin et al. 2021, "Pyserini: A Python
Toolkit for Reproducible Information Retrieval Research" (Anserini's RM3); Rocchio 1971,
"Relevance Feedback in Information Retrieval"; Li et al. 2022, "Pseudo Relevance Feedback with
Deep Language Models and Dense Retrievers: Successes and Pitfalls" (Rocchio / average vector PRF).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np

from ragkit.registry import register
from ragkit.retrievers.base import TermSearch, TermStatistics, VectorSearch
from ragkit.rewriters.base import QueryVector, Rewrite, Rewriter, WeightedTerms
from ragkit.types import Hit

__all__ = ["RM3", "Rocchio", "AveragePRF", "relevance_model", "interpolate", "top_terms"]

_TERM = re.compile(r"[a-z0-9]+")


def top_terms(weights: dict[str, float], n: int) -> dict[str, float]:
    """The ``n`` heaviest terms (ties broken alphabetically, so the result is deterministic)."""
    return dict(sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def _l1(weights: dict[str, float]) -> dict[str, float]:
    total = sum(abs(w) for w in weights.values())
    return {t: w / total for t, w in weights.items()} if total > 0 else dict(weights)


def relevance_model(
    docs: Sequence[tuple[Sequence[str], float]],
    fb_terms: int,
    keep: Callable[[str], bool] = lambda term: True,
) -> dict[str, float]:
    """RM1 term weights from feedback documents, pruned to ``fb_terms`` and L1-normalised.

    Args:
        docs: per feedback document, its analyzed terms (repeats = term frequency) and its
            first-pass score.
        fb_terms: terms kept per document vector and in the result.
        keep: which terms may be feedback terms (Anserini: 2-20 chars, ``[a-z0-9]+``, df ≤ 10 %).

    Returns:
        ``{term: weight}``, weights summing to 1 (empty without usable terms).
    """
    vectors = []
    for terms, score in docs:
        tf = Counter(t for t in terms if keep(t))
        vector = top_terms(dict(tf), fb_terms)
        vectors.append((vector, float(sum(vector.values())), float(score)))
    weights: dict[str, float] = {}
    for vector, norm, score in vectors:
        if norm <= 0.001:  # a document with no usable terms (Anserini's guard)
            continue
        for term, tf in vector.items():
            weights[term] = weights.get(term, 0.0) + tf / norm * score
    return _l1(top_terms(weights, fb_terms))


def interpolate(query_terms: Sequence[str], rm: dict[str, float], original_query_weight: float) -> dict[str, float]:
    """``w * q(t) + (1 - w) * rm(t)`` over both vocabularies; ``q`` = L1-normalised query term counts."""
    q = _l1({t: float(c) for t, c in Counter(query_terms).items()})
    w = original_query_weight
    return {t: w * q.get(t, 0.0) + (1 - w) * rm.get(t, 0.0) for t in dict.fromkeys([*q, *rm])}


@register("rewriter", "rm3")
class RM3(Rewriter):
    """RM3 query expansion for BM25 (Anserini's math; see the module docstring).

    Args:
        fb_docs: feedback documents (top first-pass hits) per query.
        fb_terms: expansion terms per document vector and in the relevance model.
        original_query_weight: weight of the original query in the interpolation.
        max_df: a term in more than this fraction of documents is never a feedback term.

    Raises:
        ValueError: a weight outside [0, 1] or non-positive counts.

    Example:
        >>> Pipeline(index="runs/idx", retriever="bm25", rewriter="rm3").retrieve(["q"], 100)  # doctest: +SKIP
    """

    needs = TermSearch
    needs_feedback = True

    def __init__(self, fb_docs: int = 10, fb_terms: int = 10, original_query_weight: float = 0.5, max_df: float = 0.1):
        if fb_docs < 1 or fb_terms < 1:
            raise ValueError(f"fb_docs and fb_terms must be >= 1, got {fb_docs} and {fb_terms}")
        if not 0.0 <= original_query_weight <= 1.0:
            raise ValueError(f"original_query_weight must be in [0, 1], got {original_query_weight}")
        if not 0.0 < max_df <= 1.0:
            raise ValueError(f"max_df must be in (0, 1], got {max_df}")
        self.fb_docs = fb_docs
        self.fb_terms = fb_terms
        self.original_query_weight = original_query_weight
        self.max_df = max_df

    def _keep(self, bm25: TermStatistics, terms: set[str]) -> Callable[[str], bool]:
        shaped = sorted(t for t in terms if 2 <= len(t) <= 20 and _TERM.fullmatch(t))
        limit = self.max_df * len(bm25)
        allowed = {t for t, df in zip(shaped, bm25.document_frequencies(shaped)) if df <= limit}
        return allowed.__contains__

    def rewrite(
        self, queries: list[str], feedback: list[list[Hit]] | None = None, searcher: Any = None
    ) -> list[Rewrite]:
        """Expand each query with terms from its feedback documents.

        Args:
            queries: the questions.
            feedback: per query, the first-pass BM25 hits (their scores weigh the documents).
            searcher: the BM25 retriever (``TermSearch``): its analyzer and term statistics.

        Raises:
            ValueError: no feedback given, or ``searcher`` has no term search.
        """
        bm25 = self.check_searcher(searcher).term_statistics()
        if feedback is None or len(feedback) != len(queries):
            raise ValueError("rm3 needs feedback hits for each query (a first BM25 pass)")
        out = []
        for query, hits in zip(queries, feedback):
            query_terms = bm25.analyzer(query)
            docs = [(bm25.document_terms(h.chunk_id), h.score) for h in hits[: self.fb_docs] if h.chunk_id in bm25]
            if not query_terms or not docs:
                out.append(Rewrite.keep(query))
                continue
            keep = self._keep(bm25, {t for terms, _ in docs for t in terms})
            rm = relevance_model(docs, self.fb_terms, keep)
            weights = interpolate(query_terms, rm, self.original_query_weight)
            out.append(WeightedTerms(query, weights, metadata={"expansion": rm}))
        return out


@register("rewriter", "rocchio")
class Rocchio(Rewriter):
    """Rocchio feedback for dense retrieval: ``q' = alpha * q + beta * mean(top-k docs)``, unit length.

    Args:
        fb_docs: feedback documents per query (Pyserini's reported setting: 5).
        alpha: weight of the query vector (0.4).
        beta: weight of the feedback centroid (0.6).

    Raises:
        ValueError: ``fb_docs < 1`` or both weights zero.
    """

    needs = VectorSearch
    needs_feedback = True

    def __init__(self, fb_docs: int = 5, alpha: float = 0.4, beta: float = 0.6):
        if fb_docs < 1:
            raise ValueError(f"fb_docs must be >= 1, got {fb_docs}")
        if alpha == 0 and beta == 0:
            raise ValueError("alpha and beta are both 0; give the query or the feedback some weight")
        self.fb_docs = fb_docs
        self.alpha = alpha
        self.beta = beta

    def _weights(self, n_docs: int) -> tuple[float, float]:
        return self.alpha, self.beta

    def rewrite(
        self, queries: list[str], feedback: list[list[Hit]] | None = None, searcher: Any = None
    ) -> list[Rewrite]:
        """Move each query vector towards its feedback documents.

        Args:
            queries: the questions.
            feedback: per query, the first-pass hits (their stored vectors are averaged).
            searcher: the dense retriever (``VectorSearch``): query and document vectors.

        Raises:
            ValueError: no feedback given, or ``searcher`` has no vector search.
        """
        dense = self.check_searcher(searcher)
        if feedback is None or len(feedback) != len(queries):
            raise ValueError(f"{self.registered_name} needs feedback hits for each query (a first dense pass)")
        q_vectors = np.asarray(dense.embed_queries(list(queries)), dtype=np.float32)
        out = []
        for query, q, hits in zip(queries, q_vectors, feedback):
            ids = [h.chunk_id for h in hits[: self.fb_docs]]
            if not ids:
                out.append(Rewrite.keep(query))
                continue
            alpha, beta = self._weights(len(ids))
            v = alpha * q + beta * np.asarray(dense.document_vectors(ids), dtype=np.float32).mean(axis=0)
            v = v / max(float(np.linalg.norm(v)), 1e-12)
            out.append(QueryVector(query, v.astype(float).tolist(), metadata={"feedback": ids}))
        return out


@register("rewriter", "average-prf")
class AveragePRF(Rocchio):
    """Average vector PRF: the new query is the mean of the query and its ``fb_docs`` top documents.

    Args:
        fb_docs: feedback documents per query (Pyserini's reported setting: 3).
    """

    def __init__(self, fb_docs: int = 3):
        if fb_docs < 1:
            raise ValueError(f"fb_docs must be >= 1, got {fb_docs}")
        self.fb_docs = fb_docs

    def _weights(self, n_docs: int) -> tuple[float, float]:
        return 1.0 / (n_docs + 1), n_docs / (n_docs + 1)
