"""Start and stop a local ``milvus-lite server`` (a real Milvus gRPC server) for tests and benchmarks.

Production runs a Milvus cluster instead; ragkit's client code is the same for both.

Example:
    >>> with LiteServer("runs/milvus-data") as server:      # doctest: +SKIP
    ...     MilvusIndex(server.uri, "docs").exists()
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["LiteServer", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _executable() -> str:
    beside = Path(sys.executable).with_name("milvus-lite")
    found = str(beside) if beside.is_file() else shutil.which("milvus-lite")
    if found is None:
        raise FileNotFoundError("milvus-lite is not installed; install ragkit's extra: pip install 'ragkit[milvus]'")
    return found


class LiteServer:
    """``milvus-lite server --data-dir D --port P`` as a subprocess on loopback.

    Args:
        data_dir: where the server keeps its data (kept across ``restart``).
        port: TCP port; default a free one.
        start_timeout: seconds to wait for the port to accept connections.
    """

    def __init__(self, data_dir: str | Path, port: int | None = None, start_timeout: float = 60.0):
        self.data_dir = str(data_dir)
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self._process: subprocess.Popen | None = None
        self._log: Any = None

    @property
    def uri(self) -> str:
        """The client URI, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiteServer:
        """Start the server and wait until it accepts connections.

        Raises:
            RuntimeError: it exited or did not listen within ``start_timeout`` (its log is quoted).
        """
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        log = Path(self.data_dir).with_name(Path(self.data_dir).name + ".log")
        self._log = log.open("ab")
        command = [_executable(), "server", "--data-dir", self.data_dir, "--host", "127.0.0.1", "--port", str(self.port)]
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"milvus-lite server did not start on port {self.port}:\n{tail}")

    def stop(self, kill: bool = False) -> None:
        """Stop the server (``kill=True``: SIGKILL, as a crash would)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            (process.kill if kill else process.terminate)()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, kill: bool = True) -> None:
        """Stop (by default: kill) and start again on the same port and data directory."""
        self.stop(kill=kill)
        self.start()

    @property
    def pid(self) -> int | None:
        """The server process id while it runs."""
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> LiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
