"""BM25 retriever over an index directory's ``bm25/`` index.

References: Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond".
"""

from __future__ import annotations

from typing import Any, Sequence

from ragkit.indexes.bm25 import BM25Index
from ragkit.registry import register
from ragkit.retrievers.base import IndexRetriever
from ragkit.types import Hit

__all__ = ["BM25Retriever"]


@register("retriever", "bm25")
class BM25Retriever(IndexRetriever):
    """Lexical retrieval with BM25.

    Args:
        index: index directory (built with `ragkit index`).
        method, k1, b: scoring overrides; ``None`` keeps what the index was built with. An
            override re-scores the stored terms in memory (the index on disk is unchanged).
        filters: metadata filters, e.g. ``{"path": "src/**", "kind": "function"}``.

    Example:
        >>> BM25Retriever("runs/idx", k1=1.2).retrieve(["what is ragkit?"], k=5)  # doctest: +SKIP
    """

    def __init__(
        self,
        index: str,
        method: str | None = None,
        k1: float | None = None,
        b: float | None = None,
        filters: dict[str, Any] | None = None,
    ):
        self.index = str(index)
        self.method = method
        self.k1 = k1
        self.b = b
        self.filters = filters
        self._check_filters()

    @property
    def bm25(self) -> BM25Index:
        """The BM25 index searched (with any scoring overrides applied)."""
        engine = getattr(self, "_engine", None)
        if engine is None:
            opened = self._open()
            opened.check_fresh("bm25")
            engine = opened.bm25
            overrides = {k: v for k, v in (("method", self.method), ("k1", self.k1), ("b", self.b)) if v is not None}
            if any(engine.params()[k] != v for k, v in overrides.items()):
                engine = engine.with_params(**overrides)
            self._engine = engine
        return engine

    def retrieve(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        """Top-``k`` chunks for each query; ``Hit.chunk`` filled, ranks 1-based."""
        return self._fill(self.bm25.search(queries, k, self._allowed()), "bm25")

    def warm_up(self) -> None:
        """Open the index and load the BM25 engine now (not on the first query)."""
        self.bm25.search(["warm-up"], 1)

    def term_statistics(self) -> BM25Index:
        """The searched index's analyzer, document terms and frequencies (``TermSearch``)."""
        return self.bm25

    def retrieve_terms(self, queries: Sequence[Sequence[str] | dict[str, float]], k: int = 10) -> list[list[Hit]]:
        """Like ``retrieve`` for analyzed queries: term lists or {term: weight} (query expansion)."""
        return self._fill(self.bm25.search_terms(queries, k, self._allowed()), "bm25")
