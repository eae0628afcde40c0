"""Run an ASGI app with uvicorn in a background thread on a free loopback port.

For tests, benchmarks and notebooks: ``with serve_in_thread(app) as url: ...`` starts the
server, waits until it accepts connections, yields its base URL and stops it on exit.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["free_port", "serve_in_thread"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int | None = None, startup_timeout: float = 30.0, log_level: str = "warning"
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread; yield ``http://host:port``.

    Args:
        app: an ASGI app (e.g. ``ragkit.server.app.create_app(...)``).
        host: interface to bind; loopback by default.
        port: port to bind; a free one when ``None``.
        startup_timeout: seconds to wait for the server to start.
        log_level: uvicorn's log level.

    Raises:
        RuntimeError: the server did not start in time (the port was taken, the app failed).
    """
    import uvicorn

    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(
                f"uvicorn did not start on {host}:{port} within {startup_timeout:.0f} s; "
                "is the port in use? (see the log above)"
            )
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
