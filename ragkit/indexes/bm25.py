"""BM25 index over chunk texts: ragkit's analyzer for terms, bm25s as the scoring engine.

bm25s precomputes every (document, term) BM25 contribution into a sparse matrix, so a query
costs one column sum per query term; ragkit searches with bm25s and saves/loads bm25s' files.
ragkit computes that matrix itself with vectorised numpy/scipy (bm25s' own idf and tf
functions; equal to ``bm25s.BM25.index``, which loops in Python per document), and keeps each
document's term ids next to it. That makes incremental ``add`` / ``delete`` exact: the matrix is
rebuilt from the stored terms on the next search, so results equal a fresh build over the same
documents (ties are broken by chunk id, so insertion order does not matter either).

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
from ragkit.indexes.manifest import read_index_config
from ragkit.indexes.tokenize import Analyzer
from ragkit.types import Hit

__all__ = ["BM25Index", "METHODS"]

METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+", "okapi")
FORMAT = 1
_CONFIG = "ragkit_bm25.json"
_IDS = "ids.json"
_TERMS = "terms.npy"
_OFFSETS = "offsets.npy"


class BM25Index:
    """A BM25 index of (chunk id, text) pairs: add, delete, search, save, load.

    Args:
        method: scoring variant, one of ``METHODS`` (see the module docstring).
        k1, b: BM25 term-frequency saturation and length normalisation.
        delta: the ``bm25l`` / ``bm25+`` lower bound (ignored by the other methods).
        epsilon: the ``okapi`` idf floor, as a fraction of the mean idf (rank-bm25's).
        stemmer, stopwords, split_identifiers: the analyzer (``ragkit.indexes.tokenize``).
        dtype: the score matrix dtype (``float32`` or ``float64``).

    Raises:
        ValueError: an unknown method or analyzer setting.

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
    ):
        if method not in METHODS:
            raise ValueError(f"unknown BM25 method {method!r}; choose one of {', '.join(METHODS)}")
        self.method, self.k1, self.b, self.delta, self.epsilon = method, k1, b, delta, epsilon
        self.dtype = dtype
        self.analyzer = Analyzer(stemmer=stemmer, stopwords=stopwords, split_identifiers=split_identifiers)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._terms: list[np.ndarray] = []  # per row: int32 term ids into self._vocab
        self._vocab: dict[str, int] = {}
        self._engine: Any = None  # bm25s.BM25, rebuilt lazily after add/delete
        self._ids_array: np.ndarray = np.array([], dtype=object)
        self._mask: tuple[frozenset[str], np.ndarray] | None = None

    # -- description -----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The manifest section: engine, method, parameters, analyzer, document count."""
        return {
            "format": FORMAT,
            "engine": "bm25s",
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
        copy = BM25Index(**{**self.params(), **params})
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
        self._engine = None

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Remove documents by chunk id. Returns the ids that were present."""
        gone = {i for i in ids if i in self._row}
        if gone:
            keep = [r for r, i in enumerate(self._ids) if i not in gone]
            self._ids = [self._ids[r] for r in keep]
            self._terms = [self._terms[r] for r in keep]
            self._row = {i: r for r, i in enumerate(self._ids)}
            self._engine = None
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
    def engine(self) -> Any:
        """The ``bm25s.BM25`` holding the score matrix (rebuilt after add/delete); None if empty."""
        return self._ensure_engine()

    def _ensure_engine(self) -> Any:
        if self._engine is not None or not self._ids:
            return self._engine
        import bm25s

        self._compact()
        data, indices, indptr, nonoccurrence = self._score_matrix()
        engine = bm25s.BM25(
            k1=self.k1, b=self.b, delta=self.delta, method=self.method, idf_method=self.method, dtype=self.dtype
        )
        engine.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": len(self._ids)}
        engine.vocab_dict = dict(self._vocab)
        engine.unique_token_ids_set = set(self._vocab.values())
        engine.nonoccurrence_array = nonoccurrence
        self._engine = engine
        self._ids_array = np.array(self._ids, dtype=object)
        self._mask = None
        return engine

    def _score_matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """bm25s' eager score matrix (CSC: one column per term), computed with numpy.

        Equal to what ``bm25s.BM25.index`` computes (bm25s' own idf / tf functions are used for
        its methods; a test checks the matrices match) but vectorised instead of a Python loop
        per document, so indexing is several times faster.
        """
        from bm25s import scoring

        import scipy.sparse as sp

        n, n_vocab = len(self._ids), len(self._vocab)
        lengths = np.fromiter((len(t) for t in self._terms), dtype=np.int64, count=n)
        flat = np.concatenate(self._terms) if lengths.sum() else np.zeros(0, np.int32)
        rows = np.repeat(np.arange(n, dtype=np.int32), lengths)
        # (document, term) counts, column-major: duplicates summed, documents sorted per term
        counts = sp.csc_matrix((np.ones(len(flat), np.float32), (rows, flat)), shape=(n, n_vocab))
        counts.sum_duplicates()
        df = np.diff(counts.indptr)
        cols = np.repeat(np.arange(n_vocab, dtype=np.int64), df)
        docs, tf = counts.indices, counts.data
        avgdl = float(lengths.mean()) if n else 0.0
        doc_len = lengths[docs]
        tf = tf.astype(self.dtype)
        nonoccurrence = None
        if self.method == "okapi":  # rank-bm25's BM25Okapi
            idf = np.log(n - df + 0.5) - np.log(df + 0.5)
            idf[idf < 0] = self.epsilon * idf.mean()
            tfc = tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * doc_len / avgdl))
            data = idf[cols] * tfc
        else:
            idf_of = scoring._select_idf_scorer(self.method)
            idf = np.array([idf_of(int(d), N=n) for d in df], dtype=np.float64)
            tfc_of = scoring._select_tfc_scorer(self.method)
            params = {"l_avg": avgdl, "k1": self.k1, "b": self.b, "delta": self.delta}
            data = idf[cols] * tfc_of(tf_array=tf, l_d=doc_len, **params)
            if self.method in ("bm25l", "bm25+"):
                nonoccurrence = (idf * tfc_of(tf_array=0, l_d=avgdl, **params)).astype(self.dtype)
                data = data - nonoccurrence[cols]
        indptr = counts.indptr.astype(np.int64)
        return data.astype(self.dtype), docs.astype(np.int32), indptr, nonoccurrence

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
        engine = self._ensure_engine()
        if engine is None:
            return [[] for _ in queries]
        mask = self._allowed_mask(allowed)
        results = []
        for query in queries:
            if isinstance(query, dict):
                scores, baseline = self._weighted_scores(query)
            else:
                cols = [self._vocab[t] for t in query if t in self._vocab]
                if not cols:
                    results.append([])
                    continue
                scores = engine.get_scores_from_ids(cols)
                baseline = self._baseline(cols, None)
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            results.append(self._top_k(scores, k, baseline))
        return results

    def _baseline(self, cols: list[int], weights: np.ndarray | None) -> float:
        """The score of a document with none of the query terms (non-zero for bm25l / bm25+)."""
        nonocc = self._engine.nonoccurrence_array
        if nonocc is None:
            return 0.0
        vals = nonocc[np.asarray(cols, dtype=np.int64)]
        return float(vals.sum() if weights is None else (vals * weights).sum())

    def _weighted_scores(self, query: dict[str, float]) -> tuple[np.ndarray, float]:
        scores = np.zeros(len(self._ids), dtype=np.float64)
        cols = [(self._vocab[t], w) for t, w in query.items() if t in self._vocab]
        if not cols:
            return scores, 0.0
        data, indices, indptr = (self._engine.scores[key] for key in ("data", "indices", "indptr"))
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

    def _top_k(self, scores: np.ndarray, k: int, baseline: float) -> list[Hit]:
        cand = np.flatnonzero(scores > baseline)
        if len(cand) > k:
            part = cand[np.argpartition(-scores[cand], k - 1)[:k]]
            cand = cand[scores[cand] >= scores[part].min()]  # keep ties at the cut
        order = cand[np.lexsort((self._ids_array[cand].astype(str), -scores[cand]))][:k]
        return [
            Hit(chunk_id=self._ids[i], score=float(scores[i]), rank=r, retriever="bm25")
            for r, i in enumerate(order, start=1)
        ]

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
        engine = self._ensure_engine()  # compacts the vocabulary first
        cached = getattr(self, "_table", None)
        if cached is None or cached[0] is not engine or len(cached[1]) != len(self._vocab):
            by_id = [""] * len(self._vocab)
            for term, i in self._vocab.items():
                by_id[i] = term
            # a term's column in the score matrix has one entry per document that contains it
            df = np.diff(engine.scores["indptr"]) if engine is not None else np.zeros(0, np.int64)
            cached = self._table = (engine, by_id, df)
        return cached[1], cached[2]

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write the index into ``directory`` (replacing what is there)."""
        directory = Path(directory)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        engine = self._ensure_engine()
        if engine is not None:
            engine.save(directory, show_progress=False)
        lengths = np.array([len(t) for t in self._terms], dtype=np.int64)
        flat = np.concatenate(self._terms) if self._terms else np.zeros(0, np.int32)
        np.save(directory / _TERMS, flat.astype(np.int32))
        np.save(directory / _OFFSETS, np.concatenate([[0], np.cumsum(lengths)]))
        atomic_write_text(directory / _IDS, json.dumps(self._ids))
        if engine is None:  # empty index: bm25s writes no vocabulary
            atomic_write_text(directory / "vocab.index.json", json.dumps(self._vocab))
        atomic_write_text(directory / _CONFIG, json.dumps(self.config(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, directory: str | Path) -> BM25Index:
        """Read an index written by ``save``.

        Raises:
            FileNotFoundError: ``directory`` holds no BM25 index.
            ValueError: it was written in another format version.
        """
        directory = Path(directory)
        params = read_index_config(directory, _CONFIG, "BM25", FORMAT, drop=("engine", "n_docs"))
        index = cls(**params)
        index._ids = json.loads((directory / _IDS).read_text(encoding="utf-8"))
        index._row = {i: r for r, i in enumerate(index._ids)}
        flat = np.load(directory / _TERMS)
        offsets = np.load(directory / _OFFSETS)
        index._terms = [flat[offsets[r] : offsets[r + 1]] for r in range(len(index._ids))]
        if index._ids:
            import bm25s

            engine = bm25s.BM25.load(directory, show_progress=False)
            index._vocab = dict(engine.vocab_dict)
            index._engine = engine
            index._ids_array = np.array(index._ids, dtype=object)
        return index
