"""A live uvicorn server refuses a 50 MB chunked body with 413 long before it has read it."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from ragkit.server.app import MAX_BODY_BYTES, create_app
from ragkit.server.background import serve_in_thread

TOTAL = 50 * 1024 * 1024
CHUNK = 64 * 1024


class CountBody:
    """Outermost ASGI wrapper: counts the request-body bytes the server handed to the app."""

    def __init__(self, app):
        self.app = app
        self.received = 0

    async def __call__(self, scope, receive, send):
        async def counting():
            message = await receive()
            self.received += len(message.get("body", b""))
            return message

        await self.app(scope, counting, send)


def _send_chunked(url: str, path: str, total: int) -> tuple[bytes, int]:
    """POST ``total`` bytes as ``Transfer-Encoding: chunked``; stop once the server answers.

    Returns:
        (the raw response, bytes of body this client managed to send).
    """
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    response = bytearray()
    answered = threading.Event()

    def read() -> None:
        try:
            while data := sock.recv(65536):
                response.extend(data)
                if b"\r\n\r\n" in response:
                    answered.set()
        except OSError:
            pass
        answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    piece = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
    sent = 0
    try:
        while sent < total and not answered.is_set():
            sock.sendall(piece)
            sent += CHUNK
    except OSError:  # the server closed the connection: it stopped reading
        pass
    answered.wait(30)
    time.sleep(0.2)  # the rest of the response body
    sock.close()
    reader.join(5)
    return bytes(response), sent


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/feedback", "/ask"])
def test_chunked_50mb_body_gets_413_without_being_read(pipeline, feedback_db: Path, path: str) -> None:
    app = CountBody(create_app(pipeline, feedback_db))
    with serve_in_thread(app) as url:
        response, sent = _send_chunked(url, path, TOTAL)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), response[:300]
    assert b"connection: close" in head.lower()
    assert "over 256 KiB" in json.loads(body)["error"]
    # the app stopped at the first message past the limit (uvicorn hands over up to ~320 KiB at once) …
    assert MAX_BODY_BYTES < app.received <= MAX_BODY_BYTES + 512 * 1024
    # … and the connection closed: the client could push little more than the socket buffers hold
    assert sent < TOTAL // 4, f"the client sent {sent} of {TOTAL} bytes"


@pytest.mark.integration
def test_a_body_within_the_limit_still_works_chunked(pipeline, feedback_db: Path, demo_qa) -> None:
    import httpx

    app = create_app(pipeline, feedback_db)

    def body():  # a generator body: httpx sends it chunked, with no Content-Length
        yield json.dumps({"question": demo_qa[0]}).encode()

    with serve_in_thread(app) as url:
        r = httpx.post(url + "/ask", content=body(), headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 200 and r.json()["answer"] == demo_qa[1]
