"""BM25 query kernels over a ``ScoreMatrix``: scores + top-k, numpy and (optional) numba.

Both backends add a query's term columns in query order in the matrix dtype, so their scores
are bit-identical to each other and to bm25s' ``get_scores_from_ids``. Hits are the documents
scoring above the no-term baseline, ordered by (score descending, tie-break rank ascending);
``rank`` is each document's position in chunk-id order, precomputed once per build, so ties
never depend on insertion order and no query converts ids to strings.

numba (``pip install 'ragkit[fast]'``) compiles on first use (cached on disk by numba), never
at import; the numba kernel touches only the posting lists and keeps a k-sized heap, so a query
costs O(N) for the zeroed score buffer plus O(postings + hits · log k).
"""

from __future__ import annotations

import importlib.util
from typing import Any, Sequence

import numpy as np

from ragkit.indexes.bm25_scoring import ScoreMatrix

__all__ = ["BACKENDS", "numba_kernels", "query_arrays", "resolve_backend", "scores_numpy", "top_k_numpy"]

BACKENDS = ("auto", "numpy", "numba")


def resolve_backend(backend: str) -> str:
    """``numba`` if asked for (or ``auto`` and numba is installed), else ``numpy``.

    Raises:
        ValueError: an unknown backend, or ``numba`` asked for but not installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown BM25 backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    has_numba = importlib.util.find_spec("numba") is not None
    if backend == "numba" and not has_numba:
        raise ValueError("BM25 backend 'numba' needs numba: pip install 'ragkit[fast]' (or use backend='numpy')")
    return "numba" if backend == "numba" or (backend == "auto" and has_numba) else "numpy"


def scores_numpy(matrix: ScoreMatrix, cols: np.ndarray) -> tuple[np.ndarray, float]:
    """Dense scores of one query (term ids ``cols``, repeats counted) and its baseline."""
    data, indices, indptr = matrix.data, matrix.indices, matrix.indptr
    scores = np.zeros(matrix.n_docs, dtype=data.dtype)
    for col in cols:
        start, end = indptr[col], indptr[col + 1]
        scores[indices[start:end]] += data[start:end]  # rows are unique within a column
    if matrix.nonoccurrence is None:
        return scores, 0.0
    base = matrix.nonoccurrence[cols].sum()
    scores += base
    return scores, float(base)


def top_k_numpy(scores: np.ndarray, k: int, baseline: float, rank: np.ndarray) -> np.ndarray:
    """Rows of the top-``k`` scores above ``baseline``, by (score desc, ``rank`` asc).

    Only the matching documents (score above the baseline) are partitioned and sorted, so the
    cost beyond one vectorised comparison grows with the hits, not with the corpus.
    """
    cand = np.flatnonzero(scores > baseline)
    if len(cand) > k:
        part = cand[np.argpartition(-scores[cand], k - 1)[:k]]
        cand = cand[scores[cand] >= scores[part].min()]  # keep every tie at the cut
    return cand[np.lexsort((rank[cand], -scores[cand]))][:k]


def numba_kernels() -> dict[str, Any]:
    """The numba kernels ``{"one": ..., "batch": ...}`` (numba compiles them on first call)."""
    from ragkit.indexes import bm25_numba

    return {"one": bm25_numba.top_k_one, "batch": bm25_numba.top_k_batch}


def query_arrays(queries: Sequence[np.ndarray], matrix: ScoreMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened term ids, offsets and baselines (dtype of the matrix) for a batch of queries."""
    lengths = np.fromiter((len(q) for q in queries), dtype=np.int64, count=len(queries))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.concatenate(queries).astype(np.int64) if lengths.sum() else np.zeros(0, np.int64)
    if matrix.nonoccurrence is None:
        bases = np.zeros(len(queries), dtype=matrix.data.dtype)
    else:
        bases = np.array([matrix.nonoccurrence[q].sum() for q in queries], dtype=matrix.data.dtype)
    return flat, offsets, bases
