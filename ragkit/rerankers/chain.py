"""Chain rerankers: each stage reorders the previous stage's output (e.g. cross-encoder, then reorder).

A pipeline has one reranker slot; ``{"type": "chain", "rerankers": [...]}`` fills it with several.
Every stage but the last keeps ``depth`` hits (default: all it was given), the last keeps ``k``.
"""

from __future__ import annotations

from typing import Any

from ragkit.registry import build, register
from ragkit.rerankers.base import Reranker, check_batch
from ragkit.types import Hit

__all__ = ["ChainReranker"]


@register("reranker", "chain")
class ChainReranker(Reranker):
    """Run rerankers in order.

    Args:
        rerankers: reranker configs (names or ``{"type": ..., ...}``), first to last.
        depth: hits each stage but the last passes on (``None``: as many as it was given).

    Raises:
        ValueError: no rerankers.

    Example:
        >>> build("reranker", {"type": "chain", "rerankers": [{"type": "cross-encoder", "model": "runs/ce"}, "reorder"]})  # doctest: +SKIP
    """

    def __init__(self, rerankers: list[str | dict[str, Any]], depth: int | None = None):
        if not rerankers:
            raise ValueError("a chain needs at least one reranker config")
        self.rerankers = rerankers
        self.depth = depth
        self._stages = [build("reranker", config) for config in rerankers]

    def rerank(self, queries: list[str], hits: list[list[Hit]], k: int) -> list[list[Hit]]:
        check_batch(queries, hits)
        for n, stage in enumerate(self._stages):
            last = n == len(self._stages) - 1
            keep = k if last else (self.depth or max((len(h) for h in hits), default=k))
            hits = stage.rerank(queries, hits, keep)
        return hits
