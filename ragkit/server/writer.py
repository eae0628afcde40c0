"""One writer thread for the feedback log: requests wait on a queue, each batch is one group commit.

A request handler awaits ``FeedbackWriter.submit(write)``. The writer thread takes every write
waiting in the queue (up to ``max_batch``), applies them with ``FeedbackLog.write_batch`` in one
transaction, and only after the commit hands each request its outcome on its event loop. While a
batch commits, the next one gathers, so the number of transactions per second, not per request,
is what SQLite limits. A write is acknowledged only once it is committed; a failed commit fails
every write of its batch (none is kept).

Example:
    >>> writer = FeedbackWriter(FeedbackLog("runs/feedback.sqlite"))  # doctest: +SKIP
    >>> ids = await writer.submit(FeedbackWrite("3f2a…", rating=1))  # doctest: +SKIP
    >>> writer.close()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any

from ragkit.feedback import FeedbackLog, Write

__all__ = ["FeedbackWriter", "WriterClosedError"]

log = logging.getLogger("ragkit.server")

_STOP = object()


class WriterClosedError(RuntimeError):
    """A write was submitted after the writer was closed (the server is shutting down)."""


class FeedbackWriter:
    """Serialise writes to ``log`` through one thread, committing whatever has queued up as one batch.

    Args:
        log: the feedback log to write.
        max_batch: most writes in one transaction.
    """

    def __init__(self, log: FeedbackLog, max_batch: int = 512):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.log = log
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0  # committed transactions, for /health and the benchmark

    async def submit(self, write: Write) -> list[int]:
        """Queue ``write``; return its outcome once its batch is committed.

        Returns:
            The new feedback row ids (``[]`` for an answer).

        Raises:
            ValueError / UnknownAnswerError: the log refused this write (nothing was written).
            sqlite3.Error: the batch could not be committed.
            WriterClosedError: the writer is closed.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        with self._lock:
            if self._closed:
                raise WriterClosedError("the feedback log is closed (the server is shutting down); retry later")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ragkit-feedback-writer", daemon=True)
                self._thread.start()
            self._queue.put((write, loop, future))
        return await future

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, stop the thread, and refuse later writes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            try:
                outcomes: list[Any] = self.log.write_batch([write for write, _, _ in batch])
                self.batches += 1
            except Exception as exc:  # noqa: BLE001 - every write of the batch fails with it
                log.error("feedback log commit failed for %d write(s)", len(batch), exc_info=exc)
                outcomes = [exc] * len(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
            for (_, loop, future), outcome in zip(batch, outcomes):
                by_loop.setdefault(loop, []).append((future, outcome))
            for loop, settled in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, settled)
                except RuntimeError:  # that loop is closed: its requests are gone; the rows are committed
                    log.warning("%d feedback write(s) committed after their event loop closed", len(settled))


def _settle(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in settled:
        if future.cancelled():  # the client went away; its write is committed all the same
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
