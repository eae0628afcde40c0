"""A misbehaving OpenAI-compatible server (loopback only) never breaks search: it times out, sends
non-JSON, or answers with junk text, and every rewriter / the LLM reranker falls back."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragkit.pipeline import Pipeline
from ragkit.rerankers.llm import RerankWarning
from ragkit.retrievers.bm25 import BM25Retriever
from ragkit.rewriters.base import RewriteWarning

QUESTION = "how do I reset the router"


class Handler(BaseHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):  # noqa: N802 (http.server's name)
        Handler.requests.append(self.path)
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        mode = self.path.strip("/").split("/")[0]
        if mode == "slow":
            time.sleep(1.0)  # longer than the client's timeout; bounded so the thread ends
            body = b"{}"
        elif mode == "notjson":
            body = b"<html>502 upstream</html>"
        else:  # "junk": valid JSON, useless text
            body = json.dumps({"choices": [{"message": {"content": "}{ ;; ## \x00"}, "text": "}{"}]}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _llm(server: str, mode: str) -> dict:
    return {"type": "openai", "base_url": f"{server}/{mode}", "model": "m", "timeout": 0.3, "max_retries": 0,
            "api_key_env": ""}


@pytest.mark.parametrize("mode", ["slow", "notjson", "junk"])
@pytest.mark.parametrize("rewriter", ["genqr-ensemble", "genqr-fusion-rf", "hyde", "multi-query"])
def test_search_still_answers_with_the_original_query(index_dir, server, mode, rewriter):
    plain = BM25Retriever(index_dir).retrieve([QUESTION], 3)[0]
    pipeline = Pipeline(index=index_dir, retriever="bm25", k=3,
                        rewriter={"type": rewriter, "llm": _llm(server, mode)})
    Handler.requests.clear()
    start = time.perf_counter()
    with pytest.warns(RewriteWarning):
        hits, timings = pipeline.retrieve([QUESTION])
    assert [h.chunk_id for h in hits[0]] == [h.chunk_id for h in plain]
    assert hits[0][0].chunk.source == "router.md"
    # a failing server costs one request (no retries configured), not one per instruction
    assert len(Handler.requests) <= (1 if mode != "junk" else 10)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("mode", ["slow", "notjson"])
def test_llm_reranker_keeps_the_first_stage_order(index_dir, server, mode):
    pipeline = Pipeline(index=index_dir, retriever="bm25", k=2,
                        reranker={"type": "llm", "llm": _llm(server, mode)})
    plain = BM25Retriever(index_dir).retrieve([QUESTION], 2)[0]
    with pytest.warns(RerankWarning):
        hits, _ = pipeline.retrieve([QUESTION])
    assert [h.chunk_id for h in hits[0]] == [h.chunk_id for h in plain]
