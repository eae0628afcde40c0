"""The reranker an index was promoted to: follows ``INDEX/models/reranker.json`` without a restart.

``ragkit tune reranker --feedback`` promotes a tuned reranker only when it beats the one in
service on held-out questions (``ragkit.tuning.promotion``); the pointer names the winner's
spec. This component checks the pointer on each call (one ``stat``) and, when it has moved,
switches in three steps:

1. under a load lock (one loader at a time), the new reranker is built and fully loaded
   (``warm_up``) while nothing references it;
2. only then, under a swap lock, the served reranker and its record are replaced together;
3. if building or loading fails (a deleted model directory, broken weights), the old reranker
   stays in service, the error is logged and kept for ``/health``, and that pointer version is
   not retried until the pointer moves again.

So a running server picks up a promotion on its next question (or its next ``/health``), never
serves a half-loaded model, and a bad promotion cannot take the service down. Without a
pointer it passes the first-stage ranking through.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ragkit.indexes.promoted import pointer_path, read_promoted
from ragkit.registry import build, register
from ragkit.rerankers.base import Reranker, check_batch
from ragkit.types import Hit

__all__ = ["PromotedReranker"]

log = logging.getLogger("ragkit.rerankers.promoted")

Stamp = tuple[int, int, int]


@register("reranker", "promoted")
class PromotedReranker(Reranker):
    """Rerank with whatever reranker is promoted in ``index`` (first-stage order if none).

    Thread-safe: requests and ``/health`` may call it from different threads; a model loads
    once, and callers wait for the load rather than see a half-built model.

    Args:
        index: the index directory whose ``models/reranker.json`` names the reranker
            (``ragkit serve`` / ``search`` / ``ask`` fill in their own index).

    Example:
        >>> build("reranker", {"type": "promoted", "index": "runs/demo"})  # doctest: +SKIP
    """

    cli_arg = "index"

    def __init__(self, index: str | Path):
        self.index = str(index)
        self._load_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._stamp: Stamp | None = None  # pointer version served now (None: no pointer)
        self._failed: Stamp | None = None  # pointer version whose load failed (not retried)
        self._reranker: Reranker | None = None
        self._record: dict[str, Any] | None = None
        self._loaded_at: str | None = None
        self._error: dict[str, Any] | None = None

    def _pointer_stamp(self) -> Stamp | None:
        try:
            st = pointer_path(self.index, "reranker").stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)  # os.replace gives a new inode

    def refresh(self) -> None:
        """Switch to the promoted reranker if the pointer moved (loading it fully first)."""
        stamp = self._pointer_stamp()
        if stamp == self._stamp or (stamp is not None and stamp == self._failed):
            return
        with self._load_lock:
            stamp = self._pointer_stamp()  # another thread may have loaded it meanwhile
            if stamp == self._stamp or (stamp is not None and stamp == self._failed):
                return
            try:
                record = read_promoted(self.index, "reranker") if stamp else None
                reranker = build("reranker", record["spec"]) if record else None
                if reranker is not None and hasattr(reranker, "warm_up"):
                    reranker.warm_up()  # load fully before switching: requests keep the old one until then
            except Exception as exc:  # noqa: BLE001 - any failure keeps the old model in service
                self._failed = stamp
                message = f"{type(exc).__name__}: {exc}".replace(str(Path(self.index).resolve()), "INDEX")
                self._error = {"message": message.replace(self.index, "INDEX"), "at": _now(),  # no server paths
                               "kept": self._record.get("generation") if self._record else None}
                log.error("could not load the promoted reranker of %s (%s); still serving %s", self.index, exc,
                          self._error["kept"] or "the first-stage ranking")
                return
            with self._swap_lock:
                self._reranker, self._record, self._stamp = reranker, record, stamp
                self._loaded_at, self._error, self._failed = _now(), None, None
            log.info("serving promoted reranker %s", record.get("generation") if record else None)

    def warm_up(self) -> None:
        """Load the promoted reranker now (not on the first query)."""
        self.refresh()

    def describe(self) -> dict[str, Any]:
        """What ``/health`` shows: the reranker served now, when it was promoted and loaded, the last load error.

        Reads the state as it is (call ``refresh`` first to pick up a new pointer). No paths:
        the model is named by its generation.
        """
        with self._swap_lock:
            record, loaded_at, error = self._record, self._loaded_at, self._error
        promoted = None
        if record is not None:
            spec = record.get("spec", {})
            promoted = {"reranker": spec.get("type"), "model": record.get("generation"),
                        "generation": record.get("generation"), "promoted_at": record.get("promoted_at"),
                        "first_stage_weight": spec.get("first_stage_weight"), "loaded_at": loaded_at}
        return {"type": "promoted", "promoted": promoted, "load_error": error}

    def rerank(self, queries: list[str], hits: list[list[Hit]], k: int) -> list[list[Hit]]:
        check_batch(queries, hits)
        self.refresh()
        with self._swap_lock:
            reranker = self._reranker
        if reranker is None:
            return [list(hs[:k]) for hs in hits]
        return reranker.rerank(queries, hits, k)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
