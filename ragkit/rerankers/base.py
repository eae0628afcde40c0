"""Reranker protocol: ``rerank(queries, hits, k) -> list[list[Hit]]``, plus shared helpers.

A reranker reorders each query's candidate hits (which carry their chunk text) and keeps the
top ``k``. The returned hits are new ``Hit`` objects with the reranker's score, fresh 1-based
ranks and ``retriever`` set to the reranker's name; the chunk is carried over.
"""

from __future__ import annotations

from typing import Sequence

from ragkit.registry import Component
from ragkit.types import Hit

__all__ = ["Reranker", "ranked", "hit_text", "check_batch"]


class Reranker(Component):
    """Protocol of rerankers.

    Class attributes:
        cli_arg: the constructor argument ``--rerank NAME:ARG`` sets (``None``: none).
    """

    cli_arg: str | None = None

    def rerank(self, queries: list[str], hits: list[list[Hit]], k: int) -> list[list[Hit]]:
        """Reorder each query's hits and keep the best ``k``.

        Args:
            queries: the queries.
            hits: per query, the candidates (with ``Hit.chunk`` set), in first-stage order.
            k: hits kept per query.

        Returns:
            Per query, at most ``k`` hits, best first, ranks 1-based.

        Raises:
            ValueError: ``queries`` and ``hits`` differ in length, or a hit has no chunk text.
        """
        raise NotImplementedError


def check_batch(queries: Sequence[str], hits: Sequence[Sequence[Hit]]) -> None:
    """Raise ``ValueError`` unless there is one hit list per query."""
    if isinstance(queries, str):
        raise ValueError("rerank takes a list of queries; wrap a single query in a list")
    if len(queries) != len(hits):
        raise ValueError(f"rerank got {len(queries)} queries but {len(hits)} hit lists; give one list per query")


def hit_text(hit: Hit) -> str:
    """The chunk text of a hit.

    Raises:
        ValueError: the hit carries no chunk.
    """
    if hit.chunk is None:
        raise ValueError(
            f"hit {hit.chunk_id} has no chunk text to rerank; retrieve through a ragkit retriever "
            "(it fills Hit.chunk) or attach the chunks first"
        )
    return hit.chunk.text


def ranked(hits: Sequence[Hit], scores: Sequence[float], k: int, name: str) -> list[Hit]:
    """New hits ordered by ``scores`` (descending; ties keep the input order), top ``k``."""
    order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), i))[: max(k, 0)]
    return [
        Hit(chunk_id=hits[i].chunk_id, score=float(scores[i]), rank=r, retriever=name, chunk=hits[i].chunk)
        for r, i in enumerate(order, start=1)
    ]
