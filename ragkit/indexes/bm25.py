"""BM25 index over chunk texts: ragkit's analyzer for terms, bm25s' eager scoring.

Like bm25s, every (document, term) BM25 contribution is precomputed into a sparse matrix, so a
query costs one column sum per query term. ragkit computes that matrix itself
(``ragkit.indexes.bm25_scoring``: bm25s' formulas written out, vectorised; equal to
``bm25s.BM25.index`` bit for bit), searches it with its own kernels
(``ragkit.indexes.bm25_search``: numpy, or numba when installed; same scores either way) and
saves it in bm25s' file layout (``bm25s.BM25.load`` reads it); bm25s itself is not imported.
ragkit keeps each document's term ids next to the matrix. That makes incremental ``add`` /
``delete`` exact: the matrix is rebuilt from the stored terms on the next search, so results
equal a fresh build over the same documents (ties are broken by chunk id, so insertion order does not matter either).

Methods (``method=``): bm25s' ``lucene`` (default; Lucene/Pyserini idf
``log(1 + (N - df + .5) / (df + .5))``), ``robertson``, ``atire``, ``bm25l``, ``bm25+``, and
``okapi``: rank-bm25's ``BM25Okapi`` exactly, i.e. idf ``log((N - df + .5) / (df + .5))`` with
negative idfs replaced by ``epsilon * mean(idf)``, times ``tf * (k1 + 1) / (tf + k1 * norm)``.
``okapi`` is what the parity test against rank-bm25 uses; bm25s' own ``robertson`` differs from
rank-bm25 (no ``k1 + 1`` factor, negative idf clamped to 0).

References: Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond";
Kamphuis et al. 2020, "Which BM25 Do You Mean? A Large-Scale Reproducibility Study of Scoring
Variants"; Lù 2024, "BM25S: Orders of magnitude faster lexical search via eager sparse scoring".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ragkit.indexes.atomic import atomic_write_text
from ragkit.indexes.bm25_scoring import ScoreMatrix, score_matrix
from ragkit.indexes.bm25_search import numba_kernels, query_arrays, resolve_backend, scores_numpy, top_k_numpy
from ragkit.indexes.manifest import read_index_config
from ragkit.indexes.tokenize import Analyzer
from ragkit.types import Hit

__all__ = ["BM25Index", "METHODS", "NUMBA_BATCH"]

METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+", "okapi")
FORMAT = 1
NUMBA_BATCH = 32  # backend="auto": numba from this many queries per call (see BM25Index)
_CONFIG = "ragkit_bm25.json"
_IDS = "ids.json"
_TERMS = "terms.npy"
_OFFSETS = "offsets.npy"
# bm25s' file names (bm25s.BM25.save / load), so either library reads the matrix
_DATA, _INDICES, _INDPTR = "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy"
_VOCAB, _PARAMS, _NONOCC = "vocab.index.json", "params.index.json", "nonoccurrence_array.index.npy"


class BM25Index:
    """A BM25 index of (chunk id, text) pairs: add, delete, search, save, load.

    Args:
        method: scoring variant, one of ``METHODS`` (see the module docstring).
        k1, b: BM25 term-frequency saturation and length normalisation.
        delta: the ``bm25l`` / ``bm25+`` lower bound (ignored by the other methods).
        epsilon: the ``okapi`` idf floor, as a fraction of the mean idf (rank-bm25's).
        stemmer, stopwords, split_identifiers: the analyzer (``ragkit.indexes.tokenize``).
        dtype: the score matrix dtype (``float32`` or ``float64``).
        backend: query kernels: ``"numpy"``, ``"numba"`` or ``"auto"``: numba (when installed)
            for calls of at least ``NUMBA_BATCH`` queries, numpy otherwise, because loading the
            compiled kernels costs ~1.5 s once per process, more than a CLI query (measured in
            ``benchmarks/bm25_speed.py``). Scores and rankings are identical either way; it is a
            run-time choice, not part of the index (``config()`` leaves it out).

    Raises:
        ValueError: an unknown method, backend or analyzer setting.

    Example:
        >>> index = BM25Index()
        >>> index.add(["a", "b"], ["the cat sat", "a dog barked"])
        >>> [h.chunk_id for h in index.search(["cats"], k=5)[0]]
        ['a']
    """

    def __init__(
        self,
        method: str = "lucene",
        k1: float = 0.9,
        b: float = 0.4,
        delta: float = 0.5,
        epsilon: float = 0.25,
        stemmer: str | None = "english",
        stopwords: str | list[str] | None = "en",
        split_identifiers: bool = True,
        dtype: str = "float32",
        backend: str = "auto",
    ):
        if method not in METHODS:
            raise ValueError(f"unknown BM25 method {method!r}; choose one of {', '.join(METHODS)}")
        self.method, self.k1, self.b, self.delta, self.epsilon = method, k1, b, delta, epsilon
        self.dtype = dtype
        self.backend = backend
        self._backend = resolve_backend(backend)
        self.analyzer = Analyzer(stemmer=stemmer, stopwords=stopwords, split_identifiers=split_identifiers)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._terms: list[np.ndarray] = []  # per row: int32 term ids into self._vocab
        self._vocab: dict[str, int] = {}
        self._matrix: ScoreMatrix | None = None  # rebuilt lazily after add/delete
        self._rank: np.ndarray = np.zeros(0, np.int32)  # row -> position in chunk-id order
        self._mask: tuple[frozenset[str], np.ndarray] | None = None
        self._table: tuple[ScoreMatrix | None, list[str], np.ndarray] | None = None

    # -- description -----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The manifest section: engine, method, parameters, analyzer, document count."""
        return {
            "format": FORMAT,
            "engine": "ragkit",  # scoring written here; the matrix files use bm25s' layout
            "method": self.method,
            "k1": self.k1,
            "b": self.b,
            "delta": self.delta,
            "epsilon": self.epsilon,
            "dtype": self.dtype,
            **self.analyzer.config(),
            "n_docs": len(self._ids),
        }

    def params(self) -> dict[str, Any]:
        """The constructor arguments (``config()`` without format, engine and counts)."""
        cfg = self.config()
        for key in ("format", "engine", "n_docs"):
            cfg.pop(key)
        return cfg

    def with_params(self, **params: Any) -> BM25Index:
        """A copy scored with other ``method`` / ``k1`` / ``b`` / ``delta`` / ``epsilon``.

        The stored terms are reused (no re-analysis); the score matrix is rebuilt on first
        search. Analyzer settings cannot change this way: they need a re-index.

        Raises:
            ValueError: an analyzer setting or unknown parameter.
        """
        scoring = {"method", "k1", "b", "delta", "epsilon", "dtype"}
        bad = sorted(set(params) - scoring)
        if bad:
            raise ValueError(f"with_params changes only {sorted(scoring)}, not {bad}; re-index for those")
        copy = BM25Index(**{**self.params(), **params}, backend=self.backend)
        copy._ids, copy._row = list(self._ids), dict(self._row)
        copy._terms, copy._vocab = list(self._terms), dict(self._vocab)
        return copy

    @property
    def ids(self) -> list[str]:
        """Chunk ids in row order."""
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._row

    # -- updates ---------------------------------------------------------------------------
    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index ``texts`` under ``ids``; an id already present is re-indexed with its new text.

        Raises:
            ValueError: ``ids`` and ``texts`` differ in length, or ``ids`` repeats an id.
        """
        if len(ids) != len(texts):
            raise ValueError(f"add got {len(ids)} ids but {len(texts)} texts")
        if len(set(ids)) != len(ids):
            raise ValueError("add got the same chunk id twice; ids must be unique")
        present = [i for i in ids if i in self._row]
        if present:
            self.delete(present)
        for chunk_id, row in zip(ids, self.analyzer.term_ids(texts, self._vocab)):
            self._row[chunk_id] = len(self._ids)
            self._ids.append(chunk_id)
            self._terms.append(row)
        self._matrix = None

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Remove documents by chunk id. Returns the ids that were present."""
        gone = {i for i in ids if i in self._row}
        if gone:
            keep = [r for r, i in enumerate(self._ids) if i not in gone]
            self._ids = [self._ids[r] for r in keep]
            self._terms = [self._terms[r] for r in keep]
            self._row = {i: r for r, i in enumerate(self._ids)}
            self._matrix = None
        return sorted(gone)

    # -- engine ----------------------------------------------------------------------------
    def _compact(self) -> None:
        """Renumber terms densely, dropping terms no document uses any more (after deletes)."""
        flat = np.concatenate(self._terms) if self._terms else np.zeros(0, np.int32)
        used = np.bincount(flat, minlength=len(self._vocab)) > 0
        if used.all():
            return
        new_id = (np.cumsum(used) - 1).astype(np.int32)
        self._vocab = {t: int(new_id[i]) for t, i in self._vocab.items() if used[i]}
        lengths = np.cumsum([len(t) for t in self._terms])[:-1]
        self._terms = np.split(new_id[flat], lengths)

    @property
    def matrix(self) -> ScoreMatrix | None:
        """The BM25 score matrix (rebuilt after add/delete); None if the index is empty."""
        return self._ensure_matrix()

    def _ensure_matrix(self) -> ScoreMatrix | None:
        if self._matrix is not None or not self._ids:
            return self._matrix
        self._compact()
        self._matrix = score_matrix(
            self._terms, len(self._vocab), self.method, self.k1, self.b, self.delta, self.epsilon, self.dtype
        )
        self._set_rank()
        return self._matrix

    def _set_rank(self) -> None:
        """Precompute each row's position in chunk-id order: the integer tie-break key."""
        order = np.argsort(np.array(self._ids, dtype=str), kind="stable")
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        self._rank = rank
        self._mask = None

    # -- search ----------------------------------------------------------------------------
    def search(
        self, queries: Sequence[str], k: int = 10, allowed: frozenset[str] | None = None
    ) -> list[list[Hit]]:
        """Top-``k`` documents for each query text (analyzed like the documents).

        Args:
            queries: query texts.
            k: hits per query at most; only documents sharing a term with the query are hits.
            allowed: if given, only these chunk ids can be returned (metadata filters).

        Returns:
            One list of ``Hit`` (rank 1-based, ``retriever="bm25"``) per query; ties are broken
            by chunk id so results do not depend on insertion order.
        """
        return self.search_terms([self.analyzer(q) for q in queries], k, allowed)

    def search_terms(
        self,
        queries: Sequence[Sequence[str] | dict[str, float]],
        k: int = 10,
        allowed: frozenset[str] | None = None,
    ) -> list[list[Hit]]:
        """Like ``search`` for analyzed queries: a term list, or a {term: weight} dict (RM3)."""
        ids = self._ids
        return [
            [
                Hit(chunk_id=ids[row], score=score, rank=r, retriever="bm25")
                for r, (row, score) in enumerate(zip(rows.tolist(), scores.tolist()), start=1)
            ]
            for rows, scores in self.search_arrays(queries, k, allowed)
        ]

    def search_arrays(
        self,
        queries: Sequence[str | Sequence[str] | dict[str, float]],
        k: int = 10,
        allowed: frozenset[str] | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The batch path: per query, (rows, scores) arrays of its top-``k`` hits, best first.

        ``rows`` index ``ids``; no ``Hit`` objects are built, so deep runs (k = 1000) stay
        cheap (``run`` turns them into a TREC run). Same hits and scores as ``search``.

        Args:
            queries: query texts (analyzed here), term lists, or {term: weight} dicts.
            k: hits per query at most.
            allowed: if given, only these chunk ids can be returned.

        Returns:
            One ``(int32 rows, float scores)`` pair per query.
        """
        matrix = self._ensure_matrix()
        empty = (np.zeros(0, np.int32), np.zeros(0, np.float64))
        if matrix is None or k <= 0:
            return [empty for _ in queries]
        mask = self._allowed_mask(allowed)
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(queries)
        plain: list[tuple[int, np.ndarray]] = []  # (position, term ids) for the fast kernels
        vocab = self._vocab
        for n, query in enumerate(queries):
            if isinstance(query, str):
                query = self.analyzer(query)
            if isinstance(query, dict):
                scores, baseline = self._weighted_scores(query)
                if mask is not None:
                    scores = np.where(mask, scores, -np.inf)
                rows = top_k_numpy(scores, k, baseline, self._rank)
                out[n] = (rows, scores[rows])
                continue
            cols = np.fromiter((vocab[t] for t in query if t in vocab), dtype=np.int64)
            if len(cols):
                plain.append((n, cols))
            else:
                out[n] = empty
        numba = self._backend == "numba" and (self.backend == "numba" or len(plain) >= NUMBA_BATCH)
        if numba and plain:
            self._search_numba(matrix, plain, k, mask, out)
        else:
            for n, cols in plain:
                scores, baseline = scores_numpy(matrix, cols)
                if mask is not None:
                    scores = np.where(mask, scores, -np.inf)
                rows = top_k_numpy(scores, k, baseline, self._rank)
                out[n] = (rows, scores[rows])
        return out  # type: ignore[return-value]

    def _search_numba(self, matrix: ScoreMatrix, plain: list, k: int, mask: np.ndarray | None, out: list) -> None:
        kernels = numba_kernels()
        use_mask = mask is not None
        mask_arr = mask if use_mask else np.ones(1, dtype=np.bool_)
        k = min(k, matrix.n_docs)
        if len(plain) == 1:
            n, cols = plain[0]
            rows, vals = np.empty(k, np.int32), np.empty(k, matrix.data.dtype)
            base = matrix.data.dtype.type(0 if matrix.nonoccurrence is None else matrix.nonoccurrence[cols].sum())
            h = kernels["one"](matrix.data, matrix.indices, matrix.indptr, matrix.n_docs, cols, base, k,
                               self._rank, mask_arr, use_mask, rows, vals)
            out[n] = (rows[:h], vals[:h])
            return
        flat, offsets, bases = query_arrays([c for _, c in plain], matrix)
        rows, vals, counts = kernels["batch"](matrix.data, matrix.indices, matrix.indptr, matrix.n_docs, flat,
                                              offsets, bases, k, self._rank, mask_arr, use_mask)
        for (n, _), r, v, h in zip(plain, rows, vals, counts.tolist()):
            out[n] = (r[:h], v[:h])

    def run(
        self, query_ids: Sequence[str], queries: Sequence[str], k: int = 1000, allowed: frozenset[str] | None = None
    ) -> dict[str, dict[str, float]]:
        """A retrieval run ``{query_id: {chunk_id: score}}`` straight from ``search_arrays``.

        Raises:
            ValueError: ``query_ids`` and ``queries`` differ in length.
        """
        if len(query_ids) != len(queries):
            raise ValueError(f"{len(query_ids)} query ids but {len(queries)} queries")
        ids = self._ids
        return {
            q: dict(zip([ids[r] for r in rows.tolist()], scores.tolist()))
            for q, (rows, scores) in zip(query_ids, self.search_arrays(queries, k, allowed))
        }

    def _baseline(self, cols: list[int], weights: np.ndarray) -> float:
        """The score of a document with none of the query terms (non-zero for bm25l / bm25+)."""
        nonocc = self._matrix.nonoccurrence
        if nonocc is None:
            return 0.0
        return float((nonocc[np.asarray(cols, dtype=np.int64)] * weights).sum())

    def _weighted_scores(self, query: dict[str, float]) -> tuple[np.ndarray, float]:
        scores = np.zeros(len(self._ids), dtype=np.float64)
        cols = [(self._vocab[t], w) for t, w in query.items() if t in self._vocab]
        if not cols:
            return scores, 0.0
        matrix = self._matrix
        data, indices, indptr = matrix.data, matrix.indices, matrix.indptr
        for col, weight in cols:
            start, end = indptr[col], indptr[col + 1]
            np.add.at(scores, indices[start:end], weight * data[start:end].astype(np.float64))
        ids = [c for c, _ in cols]
        weights = np.array([w for _, w in cols])
        baseline = self._baseline(ids, weights)
        return scores + baseline, baseline

    def _allowed_mask(self, allowed: frozenset[str] | None) -> np.ndarray | None:
        if allowed is None:
            return None
        if self._mask is None or self._mask[0] is not allowed:
            mask = np.fromiter((i in allowed for i in self._ids), dtype=bool, count=len(self._ids))
            self._mask = (allowed, mask)
        return self._mask[1]

    def document_terms(self, chunk_id: str) -> list[str]:
        """The analyzed terms of an indexed document (for pseudo-relevance feedback)."""
        by_id, _ = self._term_table()
        return [by_id[int(t)] for t in self._terms[self._row[chunk_id]]]

    def document_frequencies(self, terms: Sequence[str]) -> list[int]:
        """How many indexed documents contain each (analyzed) term; 0 for a term not indexed."""
        _, df = self._term_table()
        vocab = self._vocab
        return [int(df[vocab[t]]) if t in vocab else 0 for t in terms]

    def _term_table(self) -> tuple[list[str], np.ndarray]:
        """Terms by id and their document frequencies, cached until the next add / delete."""
        matrix = self._ensure_matrix()  # compacts the vocabulary first
        cached = self._table
        if cached is None or cached[0] is not matrix or len(cached[1]) != len(self._vocab):
            by_id = [""] * len(self._vocab)
            for term, i in self._vocab.items():
                by_id[i] = term
            # a term's column in the score matrix has one entry per document that contains it
            df = np.diff(matrix.indptr) if matrix is not None else np.zeros(0, np.int64)
            cached = self._table = (matrix, by_id, df)
        return cached[1], cached[2]

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write the index into ``directory`` (replacing what is there).

        The score matrix goes in bm25s' file layout (``bm25s.BM25.load(directory)`` reads it);
        the per-document terms, chunk ids and ragkit's config sit beside it.
        """
        directory = Path(directory)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        matrix = self._ensure_matrix()
        if matrix is not None:
            np.save(directory / _DATA, matrix.data)
            np.save(directory / _INDICES, matrix.indices)
            np.save(directory / _INDPTR, matrix.indptr)
            if matrix.nonoccurrence is not None:
                np.save(directory / _NONOCC, matrix.nonoccurrence)
            bm25s_params = {
                "k1": self.k1, "b": self.b, "delta": self.delta,
                "method": "robertson" if self.method == "okapi" else self.method,
                "idf_method": "robertson" if self.method == "okapi" else self.method,
                "dtype": self.dtype, "int_dtype": "int32", "num_docs": matrix.n_docs, "backend": "numpy",
            }
            atomic_write_text(directory / _PARAMS, json.dumps(bm25s_params, indent=1))
        lengths = np.array([len(t) for t in self._terms], dtype=np.int64)
        flat = np.concatenate(self._terms) if self._terms else np.zeros(0, np.int32)
        np.save(directory / _TERMS, flat.astype(np.int32))
        np.save(directory / _OFFSETS, np.concatenate([[0], np.cumsum(lengths)]))
        atomic_write_text(directory / _IDS, json.dumps(self._ids))
        atomic_write_text(directory / _VOCAB, json.dumps(self._vocab, ensure_ascii=False))
        atomic_write_text(directory / _CONFIG, json.dumps(self.config(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, directory: str | Path, backend: str = "auto") -> BM25Index:
        """Read an index written by ``save`` (this version or an earlier one: same files).

        Args:
            directory: the BM25 index directory.
            backend: query kernels (see ``BM25Index``).

        Raises:
            FileNotFoundError: ``directory`` holds no BM25 index.
            ValueError: it was written in another format version.
        """
        directory = Path(directory)
        params = read_index_config(directory, _CONFIG, "BM25", FORMAT, drop=("engine", "n_docs"))
        index = cls(**params, backend=backend)
        index._ids = json.loads((directory / _IDS).read_text(encoding="utf-8"))
        index._row = {i: r for r, i in enumerate(index._ids)}
        flat = np.load(directory / _TERMS)
        offsets = np.load(directory / _OFFSETS)
        index._terms = [flat[offsets[r] : offsets[r + 1]] for r in range(len(index._ids))]
        index._vocab = json.loads((directory / _VOCAB).read_text(encoding="utf-8"))
        if index._ids:
            nonocc = directory / _NONOCC
            index._matrix = ScoreMatrix(
                data=np.load(directory / _DATA),
                indices=np.load(directory / _INDICES),
                indptr=np.load(directory / _INDPTR),
                n_docs=len(index._ids),
                nonoccurrence=np.load(nonocc) if nonocc.exists() else None,
            )
            index._set_rank()
        return index
