"""The reranker an index was promoted to: follows ``INDEX/models/reranker.json`` without a restart.

``ragkit tune reranker --feedback`` promotes a tuned reranker only when it beats the one in
service on held-out questions (``ragkit.tuning.promotion``); the pointer names the winner's
spec. This component reads the pointer on each call (one ``stat``), and when it has moved,
builds and loads the new reranker *before* switching to it, so a running server picks up a
promotion on its next question and never serves a half-loaded model. Without a pointer it
passes the first-stage ranking through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragkit.indexes.promoted import pointer_path, read_promoted
from ragkit.registry import build, register
from ragkit.rerankers.base import Reranker, check_batch
from ragkit.types import Hit

__all__ = ["PromotedReranker"]


@register("reranker", "promoted")
class PromotedReranker(Reranker):
    """Rerank with whatever reranker is promoted in ``index`` (first-stage order if none).

    Args:
        index: the index directory whose ``models/reranker.json`` names the reranker.

    Example:
        >>> build("reranker", {"type": "promoted", "index": "runs/demo"})  # doctest: +SKIP
    """

    cli_arg = "index"

    def __init__(self, index: str | Path):
        self.index = str(index)
        self._stamp: tuple[int, int] | None = None
        self._reranker: Reranker | None = None
        self._record: dict[str, Any] | None = None

    def _current(self) -> Reranker | None:
        path = pointer_path(self.index, "reranker")
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            record = read_promoted(self.index, "reranker") if stamp else None
            reranker = build("reranker", record["spec"]) if record else None
            if reranker is not None and hasattr(reranker, "warm_up"):
                reranker.warm_up()  # load fully before switching: requests keep the old one until then
            self._reranker, self._record, self._stamp = reranker, record, stamp
        return self._reranker

    def warm_up(self) -> None:
        """Load the promoted reranker now (not on the first query)."""
        self._current()

    def describe(self) -> dict[str, Any]:
        """What ``/health`` shows: the promoted reranker's type, generation and promotion time."""
        self._current()
        if self._record is None:
            return {"type": "promoted", "promoted": None}
        return {"type": "promoted", "promoted": {"reranker": self._record["spec"].get("type"),
                                                 "generation": self._record.get("generation"),
                                                 "promoted_at": self._record.get("promoted_at")}}

    def rerank(self, queries: list[str], hits: list[list[Hit]], k: int) -> list[list[Hit]]:
        check_batch(queries, hits)
        reranker = self._current()
        if reranker is None:
            return [list(hs[:k]) for hs in hits]
        return reranker.rerank(queries, hits, k)
