"""Use any ragkit reranker as a llama-index node postprocessor (``BaseNodePostprocessor``).

The nodes may come from ragkit's retriever adapter or from any llama-index retriever: each node
becomes a ``Hit`` (its text, its score as the first-stage score), the reranker reorders them and
keeps ``top_n``, and the original node objects come back with the reranker's scores.

Example:
    >>> post = as_llama_index_postprocessor({"type": "cross-encoder", "model": "runs/reranker"}, top_n=4)  # doctest: +SKIP
    >>> engine = RetrieverQueryEngine.from_args(retriever, node_postprocessors=[post], llm=llm)       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from pydantic import Field, PrivateAttr

from ragkit.llama_nodes import node_to_hit
from ragkit.registry import build

__all__ = ["RagkitNodePostprocessor", "as_llama_index_postprocessor"]


class RagkitNodePostprocessor(BaseNodePostprocessor):
    """A llama-index postprocessor that reranks nodes with a ragkit reranker.

    Args:
        reranker: a reranker config (``"reorder"``, ``{"type": "cross-encoder", "model": DIR}``,
            ``{"type": "llm", "llm": …}``, ``{"type": "chain", …}``) or a built reranker.
        top_n: nodes kept.
    """

    top_n: int = Field(default=4, ge=1, description="Nodes kept after reranking.")
    reranker_config: Any = Field(default=None, description="The ragkit reranker's config.")
    _reranker: Any = PrivateAttr()

    def __init__(self, reranker: str | dict[str, Any] | Any, top_n: int = 4, **kwargs: Any):
        built = build("reranker", reranker) if isinstance(reranker, (str, dict)) else reranker
        super().__init__(top_n=top_n, reranker_config=built.to_config(), **kwargs)
        self._reranker = built

    @classmethod
    def class_name(cls) -> str:
        return "RagkitNodePostprocessor"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("a ragkit reranker needs the query: pass query_bundle= or query_str=")
        if not nodes:
            return []
        hits = [node_to_hit(node, rank) for rank, node in enumerate(nodes, start=1)]
        reranked = self._reranker.rerank([query_bundle.query_str], [hits], self.top_n)[0]
        by_id = {node.node.node_id: node.node for node in nodes}
        return [NodeWithScore(node=by_id[hit.chunk_id], score=hit.score) for hit in reranked]


def as_llama_index_postprocessor(reranker: str | dict[str, Any] | Any, top_n: int = 4) -> RagkitNodePostprocessor:
    """Wrap a ragkit reranker (a config or a built one) as a llama-index node postprocessor."""
    return RagkitNodePostprocessor(reranker, top_n=top_n)
