"""The ASGI guards on their own: body counting, API key check, security headers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import pytest

from ragkit.server import guards
from ragkit.server.guards import ApiKey, BodyLimit, SecurityHeaders, key_matches

LIMIT = 256 * 1024
CHUNK = 64 * 1024
KEY = "k" * 24


async def _echo_length(scope, receive, send) -> None:
    """An app that reads the whole body and answers its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = json.dumps({"size": size}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def _call(app, headers=(), chunks=(b"",), path="/feedback"):
    """Run ``app`` on one request; return (status, headers, body, chunks the app pulled)."""
    pulled = 0
    sent: list[dict] = []
    pieces = list(chunks)

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        body = pieces[pulled - 1]
        return {"type": "http.request", "body": body, "more_body": pulled < len(pieces)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [(k.lower(), v) for k, v in headers]}
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body, pulled


def test_chunked_body_over_the_limit_stops_being_read_at_the_limit() -> None:
    chunks = [b"x" * CHUNK] * 800  # 50 MiB, no Content-Length (chunked)
    status, headers, body, pulled = _call(BodyLimit(_echo_length, LIMIT, "too big"), chunks=chunks)
    assert status == 413 and json.loads(body) == {"error": "too big"}
    assert headers[b"connection"] == b"close"
    assert pulled == LIMIT // CHUNK + 1  # the first chunk past the limit, not one more


def test_body_under_the_limit_passes_whole() -> None:
    chunks = [b"x" * CHUNK] * (LIMIT // CHUNK)  # exactly the limit
    status, _, body, pulled = _call(BodyLimit(_echo_length, LIMIT, "too big"), chunks=chunks)
    assert status == 200 and json.loads(body) == {"size": LIMIT} and pulled == len(chunks)


@pytest.mark.parametrize("length", [str(LIMIT + 1).encode(), b"12abc", b"-1"])
def test_a_large_or_bad_content_length_is_refused_before_reading(length: bytes) -> None:
    status, _, body, pulled = _call(BodyLimit(_echo_length, LIMIT, "too big"), headers=[(b"content-length", length)])
    assert status == 413 and pulled == 0


def test_key_matches_compares_digests_with_hmac_compare_digest(monkeypatch) -> None:
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(guards.hmac, "compare_digest", spy)
    digest = hashlib.sha256(KEY.encode()).digest()
    assert key_matches(KEY.encode(), digest) is True
    assert key_matches(b"short", digest) is False
    assert key_matches(KEY.encode() + b"x", digest) is False
    # both sides are 32-byte digests: the comparison's time does not depend on the key's length
    assert len(calls) == 3 and all(len(a) == len(b) == 32 for a, b in calls)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([], 401),
        ([(b"authorization", b"Bearer wrong-key-wrong-key")], 401),
        ([(b"authorization", b"Basic " + KEY.encode())], 401),
        ([(b"authorization", b"Bearer " + KEY.encode())], 200),
        ([(b"authorization", b"bearer  " + KEY.encode())], 200),
        ([(b"x-api-key", KEY.encode())], 200),
    ],
)
def test_api_key_is_required_on_the_api(headers, status) -> None:
    got, got_headers, body, pulled = _call(ApiKey(_echo_length, KEY), headers=headers)
    assert got == status
    if status == 401:
        assert "Authorization: Bearer" in json.loads(body)["error"] and pulled == 0
        assert got_headers[b"www-authenticate"].startswith(b"Bearer")


@pytest.mark.parametrize("path", ["/", "/static/app.js"])
def test_the_page_shell_needs_no_key(path: str) -> None:
    assert _call(ApiKey(_echo_length, KEY), path=path)[0] == 200


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        ApiKey(_echo_length, "short")


def test_security_headers_are_added_to_every_response() -> None:
    _, headers, _, _ = _call(SecurityHeaders(BodyLimit(_echo_length, 10, "too big")), chunks=[b"x" * 11])
    assert headers[b"content-security-policy"].startswith(b"default-src 'none'")
    assert headers[b"x-content-type-options"] == b"nosniff" and headers[b"x-frame-options"] == b"DENY"
