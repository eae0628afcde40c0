"""OpenAICompatibleLLM against a real loopback HTTP server: round trips, retries, failures."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import ragkit.llm.openai_compat as llm_mod
from ragkit.llm import LLMError, OpenAICompatibleLLM


# -- OpenAICompatibleLLM against a loopback server -----------------------------------------


class _Server:
    """A loopback HTTP server whose behaviour the test picks: ok, slow, garbage, 500-then-ok, 400."""

    def __init__(self, mode: str):
        self.mode = mode
        self.requests: list[tuple[str, dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                payload = json.loads(body)
                outer.requests.append((self.path, payload, dict(self.headers)))
                if outer.mode == "slow":
                    time.sleep(0.6)
                if outer.mode == "flaky" and len(outer.requests) == 1 or outer.mode == "500":
                    return self._send(500, b"overloaded")
                if outer.mode == "400":
                    return self._send(400, b'{"error": "unknown model"}')
                if outer.mode == "garbage":
                    return self._send(200, b"<html>not json</html>")
                if outer.mode == "nochoices":
                    return self._send(200, b'{"id": "x"}')
                if self.path.endswith("/chat/completions"):
                    last = payload["messages"][-1]["content"]
                    data = {"choices": [{"message": {"role": "assistant", "content": f"echo: {last}###tail"}}]}
                else:
                    data = {"choices": [{"text": f" echo: {payload['prompt']}"}]}
                self._send(200, json.dumps(data).encode())

            def _send(self, code, body):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(llm_mod, "_BACKOFF_S", 0.01)


def test_openai_chat_and_complete_roundtrip(monkeypatch):
    monkeypatch.setenv("RAGKIT_TEST_KEY", "sk-test")
    with _Server("ok") as srv:
        llm = OpenAICompatibleLLM(base_url=srv.url + "/v1/", model="m1", api_key_env="RAGKIT_TEST_KEY", timeout=5)
        out = llm.chat([[{"role": "user", "content": "hi"}], [{"role": "user", "content": "yo"}]], max_new_tokens=7, stop=["###"])
        assert out == ["echo: hi", "echo: yo"]
        assert llm.complete(["abc"]) == ["echo: abc"]
    path, payload, headers = srv.requests[0]
    assert path == "/v1/chat/completions"
    assert payload["model"] == "m1" and payload["max_tokens"] == 7 and payload["stop"] == ["###"]
    assert payload["temperature"] == 0.0 and payload["seed"] == 0
    assert headers["Authorization"] == "Bearer sk-test"
    assert srv.requests[2][0] == "/v1/completions" and srv.requests[2][1]["max_tokens"] == 256
    assert llm.count_tokens("x" * 10) == 3
    assert llm.to_config()["context_window"] == 8192


def test_openai_timeout_retries_then_raises():
    with _Server("slow") as srv:
        llm = OpenAICompatibleLLM(base_url=srv.url, model="m", timeout=0.2, max_retries=2)
        t0 = time.perf_counter()
        with pytest.raises(LLMError, match="3 attempt.*timed out"):
            llm.chat([[{"role": "user", "content": "hi"}]])
        assert time.perf_counter() - t0 < 3.0
    assert len(srv.requests) == 3


def test_openai_retries_5xx_then_succeeds():
    with _Server("flaky") as srv:
        llm = OpenAICompatibleLLM(base_url=srv.url, model="m", timeout=5, max_retries=1)
        assert llm.complete(["q"]) == ["echo: q"]
    assert len(srv.requests) == 2


def test_openai_persistent_5xx_raises_with_status():
    with _Server("500") as srv:
        llm = OpenAICompatibleLLM(base_url=srv.url, model="m", timeout=5, max_retries=1)
        with pytest.raises(LLMError, match="HTTP 500"):
            llm.complete(["q"])
    assert len(srv.requests) == 2


def test_openai_client_error_is_not_retried():
    with _Server("400") as srv:
        llm = OpenAICompatibleLLM(base_url=srv.url, model="nope", timeout=5, max_retries=3)
        with pytest.raises(LLMError, match="HTTP 400.*'nope'"):
            llm.complete(["q"])
    assert len(srv.requests) == 1


@pytest.mark.parametrize("mode,match", [("garbage", "not JSON"), ("nochoices", "choices")])
def test_openai_malformed_responses_raise(mode, match):
    with _Server(mode) as srv:
        llm = OpenAICompatibleLLM(base_url=srv.url, model="m", timeout=5)
        with pytest.raises(LLMError, match=match):
            llm.chat([[{"role": "user", "content": "hi"}]])


def test_openai_connection_refused_raises_after_retries():
    with _Server("ok") as srv:
        url = srv.url
    llm = OpenAICompatibleLLM(base_url=url, model="m", timeout=0.5, max_retries=1)
    with pytest.raises(LLMError, match="2 attempt.*connection failed"):
        llm.complete(["q"])


def test_chat_json_asks_the_server_for_the_schema():
    schema = {"title": "Verdict", "type": "object", "properties": {"verdict": {"type": "integer"}},
              "required": ["verdict"]}
    with _Server("ok") as server:
        llm = OpenAICompatibleLLM(base_url=server.url + "/v1", model="m")
        assert llm.supports_json_schema
        llm.chat_json([[{"role": "user", "content": "judge"}]], schema, max_new_tokens=8)
        llm.chat([[{"role": "user", "content": "plain"}]])
    (_, constrained, _), (_, plain, _) = server.requests
    assert constrained["response_format"] == {"type": "json_schema",
                                              "json_schema": {"name": "Verdict", "schema": schema, "strict": False}}
    assert "response_format" not in plain
