"""Long-context reordering: put the strongest passages at both ends of the context.

LLMs use information at the start and the end of a long context best and miss what sits in the
middle, so the top ``k`` hits (by their incoming score; ties keep the incoming order) are laid
out best-first from both ends: 1st, 3rd, 5th … from the front and 2nd, 4th … from the back, so
the weakest land in the middle. Scores are kept; ranks become the new positions.

References: Liu et al. 2023, "Lost in the Middle: How Language Models Use Long Contexts";
Jin et al. 2025, "Long-Context LLMs Meet RAG: Overcoming Challenges for Long Inputs in RAG".
"""

from __future__ import annotations

from typing import Sequence

from ragkit.registry import register
from ragkit.rerankers.base import Reranker, check_batch
from ragkit.types import Hit

__all__ = ["LongContextReorder", "both_ends"]


def both_ends(n: int) -> list[int]:
    """Positions for items ranked 0..n-1: even ranks fill from the front, odd ranks from the back.

    Example:
        >>> both_ends(5)   # rank 0 -> position 0, rank 1 -> 4, rank 2 -> 1, rank 3 -> 3, rank 4 -> 2
        [0, 4, 1, 3, 2]
    """
    front, back = 0, n - 1
    positions = []
    for r in range(n):
        if r % 2 == 0:
            positions.append(front)
            front += 1
        else:
            positions.append(back)
            back -= 1
    return positions


@register("reranker", "reorder")
class LongContextReorder(Reranker):
    """Keep the top ``k`` hits and place the best at both ends ("lost in the middle")."""

    def __init__(self) -> None:
        pass

    def reorder(self, hits: Sequence[Hit], k: int) -> list[Hit]:
        """One query's top ``k`` hits in both-ends order (new Hit objects, ranks = positions)."""
        best = sorted(range(len(hits)), key=lambda i: (-hits[i].score, i))[: max(k, 0)]
        slots: list[Hit | None] = [None] * len(best)
        for i, pos in zip(best, both_ends(len(best))):
            h = hits[i]
            slots[pos] = Hit(chunk_id=h.chunk_id, score=h.score, rank=pos + 1, retriever=h.retriever, chunk=h.chunk)
        return [h for h in slots if h is not None]

    def rerank(self, queries: list[str], hits: list[list[Hit]], k: int) -> list[list[Hit]]:
        check_batch(queries, hits)
        return [self.reorder(h, k) for h in hits]
