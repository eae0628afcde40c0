"""Use any ragkit retriever as a llama-index ``BaseRetriever``.

``retrieve`` and ``aretrieve`` both work; the async one runs the ragkit call in a worker thread
(``asyncio.to_thread``), so an event loop is never blocked by BM25 or the query encoder.

Example:
    >>> from ragkit.retrievers.hybrid import HybridRetriever                    # doctest: +SKIP
    >>> li = as_llama_index_retriever(HybridRetriever("runs/idx"), k=5)         # doctest: +SKIP
    >>> li.retrieve("how do I reset the device?")                              # doctest: +SKIP
    >>> await li.aretrieve("how do I reset the device?")                       # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from ragkit.llama_nodes import hit_to_node

__all__ = ["RagkitRetriever", "as_llama_index_retriever"]


class RagkitRetriever(BaseRetriever):
    """A llama-index retriever that delegates to a ragkit ``retrieve(queries, k)``.

    Args:
        retriever: any object with ``retrieve(list[str], k) -> list[list[Hit]]`` (a ragkit retriever).
        k: hits per query.
    """

    def __init__(self, retriever: Any, k: int = 10, **kwargs: Any):
        self._ragkit = retriever
        self._k = k
        super().__init__(**kwargs)

    def _hits(self, query: str) -> list[NodeWithScore]:
        return [hit_to_node(hit) for hit in self._ragkit.retrieve([query], k=self._k)[0]]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._hits(query_bundle.query_str)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._hits, query_bundle.query_str)


def as_llama_index_retriever(retriever: Any, k: int = 10) -> BaseRetriever:
    """Wrap a ragkit retriever so llama-index query engines can use it."""
    return RagkitRetriever(retriever, k=k)
