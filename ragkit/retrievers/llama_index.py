"""Use any ragkit retriever as a llama-index ``BaseRetriever``.

Example:
    >>> from ragkit.retrievers.hybrid import HybridRetriever          # doctest: +SKIP
    >>> li = as_llama_index_retriever(HybridRetriever("runs/idx"), k=5)  # doctest: +SKIP
    >>> li.retrieve("how do I reset the device?")                    # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

__all__ = ["RagkitRetriever", "as_llama_index_retriever"]

_PROVENANCE = ("source", "kind", "language", "page", "start_line", "end_line", "symbol", "heading")


class RagkitRetriever(BaseRetriever):
    """A llama-index retriever that delegates to a ragkit ``retrieve(queries, k)``.

    Args:
        retriever: any object with ``retrieve(list[str], k) -> list[list[Hit]]``.
        k: hits per query.
    """

    def __init__(self, retriever: Any, k: int = 10, **kwargs: Any):
        self._ragkit = retriever
        self._k = k
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self._ragkit.retrieve([query_bundle.query_str], k=self._k)[0]
        nodes = []
        for hit in hits:
            chunk = hit.chunk
            metadata: dict[str, Any] = {"retriever": hit.retriever, "rank": hit.rank}
            text = ""
            if chunk is not None:
                text = chunk.text
                metadata.update({key: getattr(chunk, key) for key in _PROVENANCE if getattr(chunk, key) not in (None, [])})
            node = TextNode(id_=hit.chunk_id, text=text, metadata=metadata)
            nodes.append(NodeWithScore(node=node, score=hit.score))
        return nodes


def as_llama_index_retriever(retriever: Any, k: int = 10) -> BaseRetriever:
    """Wrap a ragkit retriever so llama-index query engines can use it."""
    return RagkitRetriever(retriever, k=k)
