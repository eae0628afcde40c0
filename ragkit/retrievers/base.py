"""Retriever capabilities, and the shared plumbing of the index-backed retrievers.

Every retriever answers ``retrieve(queries, k)``. What else it can do is declared by the
protocols below, which the pipeline checks (``isinstance``) before it hands a rewrite to it:

- ``TermSearch``: search with analyzed, weighted term queries and expose the index's term
  statistics (BM25; what RM3 needs);
- ``VectorSearch``: embed queries, search with query vectors and read stored document vectors
  (dense; what Rocchio and HyDE's vector averaging need);
- ``TextVectorSearch``: search with each query's text and a given query vector together
  (hybrid: the text feeds BM25, the vector replaces the embedded text on the dense side; what a
  ``QueryVector`` rewrite such as ``lol:DIR`` needs when the retriever is not ``VectorSearch``).

Several queries per question (multi-query, GenQR fusion) need no capability: the pipeline runs
them through ``retrieve`` in one batch and fuses the runs itself.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ragkit.indexes.index import Index, StaleIndexError
from ragkit.registry import Component
from ragkit.retrievers.filters import allowed_ids, compile_filters
from ragkit.types import Hit

__all__ = ["Retriever", "TermSearch", "TermStatistics", "VectorSearch", "TextVectorSearch", "IndexRetriever"]


@runtime_checkable
class Retriever(Protocol):
    """What every retriever does: the top ``k`` hits per query, ``Hit.chunk`` filled, ranks 1-based."""

    def retrieve(self, queries: list[str], k: int = 10) -> list[list[Hit]]: ...


@runtime_checkable
class TermStatistics(Protocol):
    """A term index's statistics (``ragkit.indexes.bm25.BM25Index`` has them)."""

    def analyzer(self, text: str) -> list[str]: ...

    def document_terms(self, doc_id: str) -> list[str]: ...

    def document_frequencies(self, terms: Sequence[str]) -> list[int]: ...

    def __len__(self) -> int: ...

    def __contains__(self, doc_id: object) -> bool: ...


@runtime_checkable
class TermSearch(Retriever, Protocol):
    """Term-weighted search: analyzed queries (term lists or ``{term: weight}``) and term statistics."""

    def retrieve_terms(self, queries: Sequence[Sequence[str] | dict[str, float]], k: int = 10) -> list[list[Hit]]: ...

    def term_statistics(self) -> TermStatistics: ...


@runtime_checkable
class VectorSearch(Retriever, Protocol):
    """Vector search: query embeddings, search by vector, stored document vectors by chunk id."""

    def embed_queries(self, queries: list[str]) -> np.ndarray: ...

    def retrieve_vectors(self, vectors: np.ndarray, k: int = 10) -> list[list[Hit]]: ...

    def document_vectors(self, chunk_ids: list[str]) -> np.ndarray: ...


@runtime_checkable
class TextVectorSearch(Retriever, Protocol):
    """Search with each query's text and a query vector of the index's space together (hybrid)."""

    def retrieve_text_vectors(self, queries: list[str], vectors: np.ndarray, k: int = 10) -> list[list[Hit]]: ...


class IndexRetriever(Component):
    """Base for retrievers over one index directory (``self.index``: its path).

    Subclasses store ``index`` and ``filters`` (and their own arguments) in ``__init__``;
    nothing is read from disk until the first ``retrieve``.
    """

    index: str
    filters: dict[str, Any] | None

    def _check_filters(self) -> None:
        compile_filters(self.filters)  # fail fast on a bad filter spec

    def _open(self) -> Index:
        opened = getattr(self, "_opened", None)
        if opened is None:
            opened = Index.open(self.index)
            self._opened = opened
        return opened

    def use_index(self, index: Index) -> None:
        """Share an already opened ``Index`` (same directory) instead of opening it again."""
        for cached in ("_allowed_ids", "_engine", "_embedder", "_retrievers", "_resolved"):
            self.__dict__.pop(cached, None)
        self._opened = index

    def _allowed(self) -> frozenset[str] | None:
        if not hasattr(self, "_allowed_ids"):
            self._allowed_ids = allowed_ids(self._open().store, self.filters)
        return self._allowed_ids

    def _fill(self, runs: list[list[Hit]], name: str) -> list[list[Hit]]:
        """Attach each hit's Chunk from the store and set ``retriever`` to ``name``."""
        store = self._open().store
        for hits in runs:
            for hit in hits:
                if hit.chunk_id not in store:
                    raise StaleIndexError(
                        f"chunk {hit.chunk_id} is indexed but no longer in {self.index}'s chunk "
                        f"store; update the index with `ragkit index {self.index}`"
                    )
                hit.chunk = store.get(hit.chunk_id)
                hit.retriever = name
        return runs
