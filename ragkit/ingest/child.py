"""The ingest parser process (``python -m ragkit.ingest.child``), started by ``ParseWorker``.

It reads ``(path, source)`` requests from one pipe and answers each with ``Parsed.to_wire()`` on
another, until the parent closes the pipe; the parent kills it when a file runs over its budget.
"""

from __future__ import annotations

import json
import signal
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ragkit.ingest.worker import parse_file

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Serve parse requests; ``argv`` is ``[prog, read fd, write fd, chunker settings as JSON]``.

    Returns:
        The exit status: 0 when the parent closed the pipe, 1 when start-up failed.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    inbox = Connection(int(argv[1]), writable=False)
    outbox = Connection(int(argv[2]), readable=False)
    chunker = json.loads(argv[3])
    try:
        from ragkit.connectors.chunking import Chunker

        Chunker(**chunker).count("warm up")  # load the tokenizer before the first file's clock starts
    except Exception as exc:  # reported to the parent, which raises it with this message
        outbox.send({"ready": False, "type": type(exc).__name__, "error": str(exc)})
        return 1
    outbox.send({"ready": True})
    cache: dict[str, Any] = {}
    while True:
        try:
            path, source = inbox.recv()
        except (EOFError, OSError):
            return 0
        try:
            outbox.send(parse_file(Path(path), source, chunker, cache).to_wire())
        except (BrokenPipeError, OSError):
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
