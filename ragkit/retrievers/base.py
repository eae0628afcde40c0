"""Shared plumbing of the index-backed retrievers: lazy index opening, filters, chunk filling."""

from __future__ import annotations

from typing import Any

from ragkit.indexes.index import Index, StaleIndexError
from ragkit.registry import Component
from ragkit.retrievers.filters import allowed_ids, compile_filters
from ragkit.types import Hit

__all__ = ["IndexRetriever"]


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
        for cached in ("_allowed_ids", "_engine", "_embedder", "_retrievers"):
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
