"""BM25 idf and term-frequency formulas, and the eager (document, term) score matrix.

The formulas are bm25s' (0.3.16) written out here, expression for expression, so ragkit's
scores equal bm25s' bit for bit without calling its private functions (``bm25s.scoring._*``);
``tests/indexes/test_bm25_scoring.py`` checks the matrices against ``bm25s.BM25.index``.
``okapi`` is rank-bm25's ``BM25Okapi`` (negative idf floored to ``epsilon * mean(idf)``).

References: Kamphuis et al. 2020, "Which BM25 Do You Mean? A Large-Scale Reproducibility Study
of Scoring Variants"; Lù 2024, "BM25S: Orders of magnitude faster lexical search via eager
sparse scoring".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["ScoreMatrix", "score_matrix"]


def _idf_robertson(df: int, n: int) -> float:
    inner = (n - df + 0.5) / (df + 0.5)
    return math.log(1 if inner < 1 else inner)


_IDF = {
    "robertson": _idf_robertson,
    "lucene": lambda df, n: math.log(1 + (n - df + 0.5) / (df + 0.5)),
    "atire": lambda df, n: math.log(n / df),
    "bm25l": lambda df, n: math.log((n + 1) / (df + 0.5)),
    "bm25+": lambda df, n: math.log((n + 1) / df),
}


def _tfc(method: str, tf, l_d, l_avg: float, k1: float, b: float, delta: float):
    """The term-frequency component (bm25s' ``_score_tfc_*``, same operation order).

    bm25s' average length is a NumPy float64, so every term that involves a length runs in
    float64 even for a float32 index, while ``tf * (k1 + 1)`` stays in the ``tf`` dtype; the
    same expressions over arrays (``l_d`` int64) give the same precisions here.
    """
    if method in ("robertson", "lucene"):
        return tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf)
    if method == "atire":
        return (tf * (k1 + 1)) / (tf + k1 * (1 - b + b * l_d / l_avg))
    if method == "bm25l":
        c = tf / (1 - b + b * l_d / l_avg)
        return ((k1 + 1) * (c + delta)) / (k1 + c + delta)
    if method == "bm25+":
        return ((k1 + 1) * tf) / (k1 * (1 - b + b * l_d / l_avg) + tf) + delta
    raise ValueError(f"unknown BM25 method {method!r}")


@dataclass(frozen=True, slots=True)
class ScoreMatrix:
    """Eager BM25 contributions, CSC: column ``t`` holds (document, score) for term ``t``.

    ``nonoccurrence[t]`` is the score of a document without term ``t`` (bm25l / bm25+ only;
    their stored contributions have it subtracted, as in bm25s).
    """

    data: np.ndarray  # float32/64 contribution per (term, document) pair
    indices: np.ndarray  # int32 document row per pair
    indptr: np.ndarray  # int64 column starts, len = n_terms + 1
    n_docs: int
    nonoccurrence: np.ndarray | None = None


def score_matrix(
    terms: Sequence[np.ndarray],
    n_vocab: int,
    method: str,
    k1: float,
    b: float,
    delta: float,
    epsilon: float,
    dtype: str,
) -> ScoreMatrix:
    """Compute every (document, term) BM25 contribution with vectorised numpy / scipy.

    Args:
        terms: per document, its term ids (repeats are term frequencies).
        n_vocab: number of term ids.
        method, k1, b, delta, epsilon, dtype: see ``BM25Index``.

    Returns:
        The ``ScoreMatrix`` (equal to ``bm25s.BM25.index`` for bm25s' methods).
    """
    import scipy.sparse as sp

    n = len(terms)
    lengths = np.fromiter((len(t) for t in terms), dtype=np.int64, count=n)
    flat = np.concatenate(terms) if lengths.sum() else np.zeros(0, np.int32)
    rows = np.repeat(np.arange(n, dtype=np.int32), lengths)
    counts = sp.csc_matrix((np.ones(len(flat), np.float32), (rows, flat)), shape=(n, n_vocab))
    counts.sum_duplicates()  # documents sorted per term, duplicates summed into tf
    df = np.diff(counts.indptr)
    cols = np.repeat(np.arange(n_vocab, dtype=np.int64), df)
    docs, tf = counts.indices, counts.data.astype(dtype)
    avgdl = float(lengths.mean()) if n else 0.0
    doc_len = lengths[docs]
    nonoccurrence = None
    if method == "okapi":  # rank-bm25's BM25Okapi
        idf = np.log(n - df + 0.5) - np.log(df + 0.5)
        idf[idf < 0] = epsilon * idf.mean()
        data = idf[cols] * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))
    else:
        idf_of = _IDF[method]
        # math.log per distinct df (as bm25s does per term), so every idf is bit-identical
        uniq, inverse = np.unique(df, return_inverse=True)
        idf = np.array([idf_of(int(d), n) if d else 0.0 for d in uniq], dtype=np.float64)[inverse]
        # as bm25s: idf stored in dtype, tf in dtype, lengths in float64 (NumPy's promotion rules
        # then give the same intermediate precisions), the product rounded to dtype at the end
        data = idf.astype(dtype)[cols] * _tfc(method, tf, doc_len, avgdl, k1, b, delta)
        if method in ("bm25l", "bm25+"):
            nonoccurrence = (idf * _tfc(method, 0.0, avgdl, avgdl, k1, b, delta)).astype(dtype)
            data = data - nonoccurrence[cols]
    return ScoreMatrix(
        data=np.ascontiguousarray(data, dtype=dtype),
        indices=docs.astype(np.int32),
        indptr=counts.indptr.astype(np.int64),
        n_docs=n,
        nonoccurrence=nonoccurrence,
    )
