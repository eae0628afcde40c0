"""Parse files in a child process under a per-file time budget: the ingest watchdog.

``ParseWorker`` starts ``python -m ragkit.ingest.child`` once and sends it one file at a time
over a pipe. The parent waits for each answer in short polls, so it stays responsive (SIGTERM,
turned into ``SystemExit`` by the CLI, acts within a poll), and when a file takes longer than
the budget, or the child dies (a crash in a parser library, out of memory), the child is killed,
the file is reported as failed with the reason, and a fresh child takes the next file. A parser
stuck inside C code (a huge line in a tokenizer, a pathological PDF) therefore costs at most
the budget, never the whole ingest.

``parse_file`` is the part that runs in the child (and in-process when no budget is set).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ragkit.connectors.base import ConnectorWarning, ParseError
from ragkit.types import Chunk

__all__ = ["DEFAULT_FILE_TIMEOUT_S", "ParseWorker", "Parsed", "parse_file"]

DEFAULT_FILE_TIMEOUT_S = 120.0
_POLL_S = 0.1  # how often the parent wakes while a file is parsed (its reaction time)
_START_TIMEOUT_S = 300.0  # starting the child: imports and the tokenizer, on a loaded machine
# errors of the child's start-up (bad chunker settings, no tokenizer) raised again in the parent
_REPORTED = (FileNotFoundError, ValueError, KeyError, TypeError)


@dataclass
class Parsed:
    """What parsing one file gave: its chunks, the connector's warnings, or why it failed."""

    chunks: list[Chunk] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"chunks": [c.to_dict() for c in self.chunks], "warnings": self.warnings, "error": self.error}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Parsed:
        chunks = [Chunk.from_dict(c) for c in data["chunks"]]
        return cls(chunks, list(data["warnings"]), data["error"])


def parse_file(path: Path, source: str, chunker: dict[str, Any], cache: dict[str, Any]) -> Parsed:
    """Parse one file with the connector its extension picks, catching its warnings and errors.

    Args:
        path: the file.
        source: its name in the store.
        chunker: the connectors' chunker settings.
        cache: connector instances reused across calls (one per connector name).

    Returns:
        A ``Parsed``; ``error`` holds the reason when the file could not be parsed at all
        (a ``ParseError``, or an unexpected exception from a connector, named as such).
    """
    from ragkit.connectors.dispatch import connector_for

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConnectorWarning)
        try:
            chunks = list(connector_for(path, chunker, cache).parse(path, source))
            error = None
        except ParseError as exc:
            chunks, error = [], str(exc)
        except (OSError, ValueError, RecursionError, MemoryError) as exc:
            chunks, error = [], f"the {type(exc).__name__} {exc} stopped its parser"
    messages = [str(w.message) for w in caught if issubclass(w.category, ConnectorWarning)]
    return Parsed(chunks, messages, error)


class ParseWorker:
    """A child process that parses files one at a time, killed when one exceeds ``timeout_s``.

    Args:
        chunker: the connectors' chunker settings (``max_tokens``, ``overlap_tokens``, ``tokenizer``).
        timeout_s: the time budget for one file, in seconds.

    Example:
        >>> with ParseWorker({"tokenizer": "whitespace"}, timeout_s=30) as worker:  # doctest: +SKIP
        ...     parsed = worker.parse(Path("notes.txt"), "notes.txt")
    """

    def __init__(self, chunker: dict[str, Any], timeout_s: float = DEFAULT_FILE_TIMEOUT_S):
        if timeout_s <= 0:
            raise ValueError(f"the per-file time budget must be positive, got {timeout_s}")
        self.chunker = chunker
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None

    def __enter__(self) -> ParseWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        here = str(Path(__file__).resolve().parents[2])  # the ragkit this process runs
        env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        command = [sys.executable, "-m", "ragkit.ingest.child", str(to_child_r), str(from_child_w)]
        try:
            self._proc = subprocess.Popen(
                [*command, json.dumps(self.chunker)], pass_fds=(to_child_r, from_child_w), env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(from_child_r, writable=False)
        ready = self._wait(_START_TIMEOUT_S)
        if ready is None or ready.get("ready") is not True:
            self.close()
            if ready is None:
                raise RuntimeError(f"the ingest parser process did not start within {_START_TIMEOUT_S:g} s")
            kind = next((e for e in _REPORTED if e.__name__ == ready["type"]), RuntimeError)
            raise kind(ready["error"])  # e.g. a missing tokenizer, bad chunker settings

    def _wait(self, timeout_s: float) -> dict[str, Any] | None:
        """The child's next message, or ``None`` if it died or the time ran out."""
        assert self._recv is not None
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self._recv.poll(min(left, _POLL_S)):
                try:
                    return self._recv.recv()
                except (EOFError, OSError):
                    return None

    def parse(self, path: Path, source: str) -> Parsed:
        """Parse one file in the child; a timeout or a dead child is a ``Parsed`` with ``error``."""
        if self._proc is None:
            self._start()
        assert self._send is not None and self._proc is not None
        started = time.monotonic()
        try:
            self._send.send((str(path), source))
        except (BrokenPipeError, OSError):
            answer = None
        else:
            answer = self._wait(self.timeout_s)
        if answer is not None:
            return Parsed.from_wire(answer)
        alive = self._proc.poll() is None
        status = self.close()
        if alive and time.monotonic() - started >= self.timeout_s:
            return Parsed(error=(
                f"parsing took longer than the per-file time budget of {self.timeout_s:g} s and was "
                f"stopped; raise it with --file-timeout, or exclude the file"
            ))
        return Parsed(error=f"the parser process died (exit status {status}) on this file")

    def close(self) -> int | None:
        """Stop the child (killed if busy); returns its exit status. A later ``parse`` restarts it."""
        proc, self._proc = self._proc, None
        for conn in (self._send, self._recv):
            if conn is not None:
                conn.close()
        self._send = self._recv = None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        return proc.wait()
