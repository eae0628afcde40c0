"""Fuse ranked lists from several retrievers for one query: RRF and weighted score fusion.

Pure functions over ``runs: list[list[Hit]]`` (one list per retriever, best first). The fused
list has fresh 1-based ranks, ``retriever`` set to the fusion name, and each hit's ``chunk``
taken from the first run that carried it. Ties are broken by chunk id, so fusion is
deterministic.

References: Cormack, Clarke & Büttcher 2009, "Reciprocal Rank Fusion outperforms Condorcet and
individual Rank Learning Methods"; Fox & Shaw 1994, "Combination of Multiple Searches"
(CombSUM); Lee 1997, "Analyses of Multiple Evidence Combination" (min-max normalisation);
Yilmaz et al. 2019, "Cross-Domain Modeling of Sentence-Level Evidence for Document Retrieval"
(Birch: a BERT reranker's score interpolated with the first-stage BM25 score).
"""

from __future__ import annotations

import math
from typing import Sequence

from ragkit.defaults import RRF_K
from ragkit.types import Chunk, Hit

__all__ = ["rrf", "weighted", "normalize", "interpolate", "NORMALIZATIONS"]

NORMALIZATIONS = ("minmax", "zscore", "none")


def _check_weights(runs: Sequence[Sequence[Hit]], weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ValueError(f"got {len(weights)} weights for {len(runs)} runs; give one weight per run")
    return [float(w) for w in weights]


def _ranked(scores: dict[str, float], chunks: dict[str, Chunk | None], name: str, limit: int | None) -> list[Hit]:
    order = sorted(scores, key=lambda c: (-scores[c], c))
    if limit is not None:
        order = order[:limit]
    return [
        Hit(chunk_id=c, score=scores[c], rank=r, retriever=name, chunk=chunks[c])
        for r, c in enumerate(order, start=1)
    ]


def _chunks(runs: Sequence[Sequence[Hit]]) -> dict[str, Chunk | None]:
    chunks: dict[str, Chunk | None] = {}
    for run in runs:
        for hit in run:
            if chunks.get(hit.chunk_id) is None:
                chunks[hit.chunk_id] = hit.chunk
    return chunks


def rrf(
    runs: Sequence[Sequence[Hit]],
    rrf_k: int = RRF_K,
    weights: Sequence[float] | None = None,
    limit: int | None = None,
) -> list[Hit]:
    """Reciprocal rank fusion: ``score(d) = sum_i w_i / (rrf_k + rank_i(d))``.

    Args:
        runs: one ranked list per retriever; a hit's position in its list is its rank.
        rrf_k: the RRF constant (60 in the paper); larger flattens the rank discount.
        weights: per-run multipliers (default 1 each).
        limit: keep this many fused hits (default: all).

    Returns:
        The fused ranking, ``retriever="rrf"``.
    """
    w = _check_weights(runs, weights)
    scores: dict[str, float] = {}
    for weight, run in zip(w, runs):
        for rank, hit in enumerate(run, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight / (rrf_k + rank)
    return _ranked(scores, _chunks(runs), "rrf", limit)


def normalize(scores: Sequence[float], method: str = "minmax") -> list[float]:
    """Rescale one run's scores: ``minmax`` to [0, 1], ``zscore`` to mean 0 / sd 1, or ``none``.

    A run whose scores are all equal maps to 1.0 under min-max and 0.0 under z-score.

    Raises:
        ValueError: an unknown method.
    """
    if method not in NORMALIZATIONS:
        raise ValueError(f"unknown normalisation {method!r}; choose one of {', '.join(NORMALIZATIONS)}")
    values = [float(s) for s in scores]
    if method == "none" or not values:
        return values
    if method == "minmax":
        lo, hi = min(values), max(values)
        return [1.0 if hi == lo else (v - lo) / (hi - lo) for v in values]
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [0.0 if sd == 0 else (v - mean) / sd for v in values]


def weighted(
    runs: Sequence[Sequence[Hit]],
    weights: Sequence[float] | None = None,
    normalization: str = "minmax",
    limit: int | None = None,
) -> list[Hit]:
    """Weighted score fusion (CombSUM over normalised scores).

    Each run's scores are normalised, then ``score(d) = sum_i w_i * norm_i(d)``. A document a
    run did not return gets that run's lowest normalised score (0 under min-max): it ranked
    below everything the run returned.

    Args:
        runs: one ranked list per retriever, with comparable-within-run scores.
        weights: per-run weights (default 1 each), e.g. ``[0.3, 0.7]`` for bm25 + dense.
        normalization: ``"minmax"``, ``"zscore"`` or ``"none"``.
        limit: keep this many fused hits (default: all).

    Returns:
        The fused ranking, ``retriever="weighted"``.
    """
    w = _check_weights(runs, weights)
    normed = [dict(zip([h.chunk_id for h in run], normalize([h.score for h in run], normalization))) for run in runs]
    floors = [min(n.values()) if n else 0.0 for n in normed]
    all_ids = {h.chunk_id for run in runs for h in run}
    scores = {c: sum(wi * n.get(c, floor) for wi, n, floor in zip(w, normed, floors)) for c in all_ids}
    return _ranked(scores, _chunks(runs), "weighted", limit)


def interpolate(rerank: Sequence[float], first_stage: Sequence[float], weight: float) -> list[float]:
    """``(1 - weight) * minmax(rerank) + weight * minmax(first_stage)`` for one query's candidates.

    The reranker/first-stage interpolation of Birch and monoBERT+BM25: the two score lists are
    aligned (same candidates, same order) and min-max normalised within the query first.

    Raises:
        ValueError: lists of different lengths, or a weight outside [0, 1].
    """
    if len(rerank) != len(first_stage):
        raise ValueError(f"{len(rerank)} reranker scores for {len(first_stage)} first-stage scores")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the first-stage weight must be in [0, 1], got {weight}")
    if weight == 0.0:
        return [float(s) for s in rerank]
    a, b = normalize(rerank), normalize(first_stage)
    return [(1.0 - weight) * x + weight * y for x, y in zip(a, b)]
