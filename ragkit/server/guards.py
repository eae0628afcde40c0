"""ASGI middleware that guards the chat service: body size, API key, security headers.

Each is a plain ASGI app wrapping another (no ``BaseHTTPMiddleware``: it adds a task per
request and buffers the body). They answer their own refusals as ``{"error": "<message>"}``
with ``Connection: close``, so a refused client cannot keep streaming a body the server ignores.

- ``BodyLimit`` counts the bytes of the request body as the app receives them, chunked or not:
  a ``Content-Length`` over the limit is refused before any byte is read, and a body that grows
  past it is refused with 413 as soon as the limit is crossed, without reading the rest.
- ``ApiKey`` requires ``Authorization: Bearer <key>`` (or ``X-API-Key: <key>``) on every path
  but the chat page's shell (``/`` and ``/static/``), compared in constant time.
- ``SecurityHeaders`` adds a Content-Security-Policy that lets the page load only its own
  script, style and API, plus ``X-Content-Type-Options``, ``X-Frame-Options`` and ``Referrer-Policy``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Awaitable, Callable

from starlette.exceptions import HTTPException

__all__ = ["BodyLimit", "ApiKey", "SecurityHeaders", "BodyTooLarge", "check_key", "key_matches", "CSP", "MIN_KEY_CHARS"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
MIN_KEY_CHARS = 16


async def send_error(send: Send, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Send ``{"error": message}`` with ``status`` and close the connection after it."""
    body = json.dumps({"error": message}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"), *headers],
    })
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the limit (FastAPI re-raises HTTPExceptions)."""


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, counting bytes as they are received.

    Args:
        app: the ASGI app to guard.
        max_bytes: the largest body accepted.
        message: the 413's error text.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, message: str):
        self.app = app
        self.max_bytes = max_bytes
        self.message = message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await send_error(send, 413, self.message)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(413, self.message, headers={"connection": "close"})
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:  # the app had answered before reading on: nothing more to say
                return
            await send_error(send, 413, self.message)


def key_matches(given: bytes, digest: bytes) -> bool:
    """Whether ``given`` (the raw header value) is the key whose SHA-256 is ``digest``, in constant time.

    Both sides are hashed to the same length first, so not even the key's length leaks.
    """
    return hmac.compare_digest(hashlib.sha256(given).digest(), digest)


def check_key(key: str) -> None:
    """Refuse an API key that is too short to resist guessing.

    Raises:
        ValueError: fewer than ``MIN_KEY_CHARS`` characters.
    """
    if len(key) < MIN_KEY_CHARS:
        raise ValueError(
            f"the API key has {len(key)} characters; use at least {MIN_KEY_CHARS}, e.g. "
            "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`"
        )


class ApiKey:
    """Require the API key on every request except the page's shell.

    Args:
        app: the ASGI app to guard.
        key: the key clients must send (at least ``MIN_KEY_CHARS`` characters).

    Raises:
        ValueError: the key is too short.
    """

    def __init__(self, app: ASGIApp, key: str):
        check_key(key)
        self.app = app
        self._digest = hashlib.sha256(key.encode("utf-8")).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path == "/" or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        given = _bearer(scope)
        if given is None or not key_matches(given, self._digest):
            what = "wrong API key" if given is not None else "this server needs an API key"
            await send_error(send, 401, f"{what}; send the header 'Authorization: Bearer <key>'",
                             ((b"www-authenticate", b'Bearer realm="ragkit"'),))
            return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Add the security headers (CSP, nosniff, no framing, no referrer) to every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def _bearer(scope: Scope) -> bytes | None:
    """The key a request sends: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = _header(scope, b"authorization")
    if auth is not None:
        scheme, _, value = auth.partition(b" ")
        return value.strip() if scheme.lower() == b"bearer" else None
    return _header(scope, b"x-api-key")
