"""ragkit ``Hit`` <-> llama-index ``NodeWithScore``, for the llama-index adapters of retrievers and rerankers.

A node made from a hit has the chunk's text, the chunk id as node id, and the chunk's provenance
(source, page, lines, symbol, heading …) plus the hit's ``retriever`` and ``rank`` as metadata;
``node_to_hit`` reads that back, and reads any other llama-index node too (its
``file_path`` / ``file_name`` metadata as the source, else its node id).
"""

from __future__ import annotations

from typing import Any

from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from ragkit.types import Chunk, Hit

__all__ = ["hit_to_node", "node_to_hit", "PROVENANCE"]

PROVENANCE = ("source", "kind", "language", "page", "start_line", "end_line", "symbol", "heading")


def hit_to_node(hit: Hit) -> NodeWithScore:
    """A ``NodeWithScore`` holding the hit's chunk text, provenance and score."""
    chunk = hit.chunk
    metadata: dict[str, Any] = {"retriever": hit.retriever, "rank": hit.rank}
    text = ""
    if chunk is not None:
        text = chunk.text
        metadata.update({key: getattr(chunk, key) for key in PROVENANCE if getattr(chunk, key) not in (None, [])})
    return NodeWithScore(node=TextNode(id_=hit.chunk_id, text=text, metadata=metadata), score=hit.score)


def node_to_hit(node: NodeWithScore, rank: int) -> Hit:
    """A ``Hit`` (with its chunk) for a llama-index node; a missing score counts as 0."""
    meta = node.node.metadata or {}
    source = meta.get("source") or meta.get("file_path") or meta.get("file_name") or node.node.node_id
    fields = {key: meta[key] for key in PROVENANCE[1:] if meta.get(key) is not None}
    chunk = Chunk(text=node.node.get_content(metadata_mode=MetadataMode.NONE), source=str(source),
                  id=node.node.node_id, **fields)
    retriever = str(meta.get("retriever", "llama-index"))
    return Hit(chunk_id=node.node.node_id, score=float(node.score or 0.0), rank=rank, retriever=retriever, chunk=chunk)
