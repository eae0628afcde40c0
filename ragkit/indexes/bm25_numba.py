"""numba kernels for BM25 search (imported only when the numba backend is used).

``top_k_one`` scores one query into a zeroed buffer (posting lists added in query order, in the
matrix dtype: the same floating-point sums as the numpy path), then keeps the best ``k``
documents above the baseline in a heap ordered by (score desc, tie-break rank asc).
``top_k_batch`` runs it over many queries in parallel (``numba.prange``; threads follow
``NUMBA_NUM_THREADS``).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["top_k_one", "top_k_batch"]


@numba.njit(cache=True, inline="always")
def better(s1, r1, s2, r2):
    """Whether (score s1, rank r1) ranks before (s2, r2)."""
    return s1 > s2 or (s1 == s2 and r1 < r2)


@numba.njit(cache=True)
def top_k_one(data, indices, indptr, n_docs, cols, base, k, rank, mask, use_mask, out_rows, out_scores):
    """Score one query (term ids ``cols``) and write its top-``k`` rows / scores; returns the count."""
    scores = np.zeros(n_docs, dtype=data.dtype)
    seen = np.zeros(n_docs, dtype=np.uint8)
    touched = np.empty(n_docs, dtype=np.int32)
    m = 0
    for c in cols:
        for j in range(indptr[c], indptr[c + 1]):
            d = indices[j]
            scores[d] += data[j]
            if seen[d] == 0:
                seen[d] = 1
                touched[m] = d
                m += 1
    baseline = base  # the score of a document with none of the terms (0 but for bm25l / bm25+)
    heap_r = np.empty(k, dtype=np.int32)  # min-heap of the best k: root = worst kept
    h = 0
    for i in range(m):
        d = touched[i]
        if use_mask and not mask[d]:
            continue
        s = scores[d] + base
        if not s > baseline:
            continue
        if h < k:
            pos = h
            h += 1
            while pos > 0:  # sift up
                parent = (pos - 1) // 2
                p = heap_r[parent]
                ps = scores[p] + base
                if better(ps, rank[p], s, rank[d]):
                    heap_r[pos] = p
                    pos = parent
                else:
                    break
            heap_r[pos] = d
        else:
            w = heap_r[0]
            ws = scores[w] + base
            if not better(s, rank[d], ws, rank[w]):
                continue
            pos = 0
            while True:  # sift down
                child = 2 * pos + 1
                if child >= k:
                    break
                if child + 1 < k:
                    a, b2 = heap_r[child], heap_r[child + 1]
                    as_ = scores[a] + base
                    bs = scores[b2] + base
                    if better(as_, rank[a], bs, rank[b2]):
                        child += 1
                c2 = heap_r[child]
                cs = scores[c2] + base
                if better(s, rank[d], cs, rank[c2]):
                    heap_r[pos] = c2
                    pos = child
                else:
                    break
            heap_r[pos] = d
    # sort the kept rows best first (k is small: insertion sort)
    for i in range(h):
        out_rows[i] = heap_r[i]
    for i in range(1, h):
        r = out_rows[i]
        rs = scores[r] + base
        j = i - 1
        while j >= 0:
            q = out_rows[j]
            qs = scores[q] + base
            if better(rs, rank[r], qs, rank[q]):
                out_rows[j + 1] = q
                j -= 1
            else:
                break
        out_rows[j + 1] = r
    for i in range(h):
        r = out_rows[i]
        out_scores[i] = scores[r] + base
    return h

@numba.njit(cache=True, parallel=True)
def top_k_batch(data, indices, indptr, n_docs, flat_cols, offsets, bases, k, rank, mask, use_mask):
    """``top_k_one`` for each query ``flat_cols[offsets[q]:offsets[q + 1]]``, in parallel."""
    nq = len(offsets) - 1
    rows = np.full((nq, k), -1, dtype=np.int32)
    vals = np.zeros((nq, k), dtype=data.dtype)
    counts = np.zeros(nq, dtype=np.int64)
    for q in numba.prange(nq):
        cols = flat_cols[offsets[q] : offsets[q + 1]]
        counts[q] = top_k_one(data, indices, indptr, n_docs, cols, bases[q], k, rank, mask, use_mask,
                        rows[q], vals[q])
    return rows, vals, counts
