"""The real ``openai`` SDK against a real ``ragkit serve`` process on loopback (fake LLM, BM25 demo index)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

openai = pytest.importorskip("openai")

from ragkit.server.background import free_port  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(demo_index: Path, demo_qa: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ragkit serve`` in its own process, its generator a FakeLLM that streams word by word."""
    _question, answer = demo_qa
    work = tmp_path_factory.mktemp("openai-serve")
    spec = work / "spec.json"
    llm = {"type": "fake", "default": answer, "stream_words": True,
           "responses": {"Who wrote Hamlet?": "Shakespeare wrote Hamlet."}}
    spec.write_text(json.dumps({"retriever": "bm25", "generator": {"type": "llm", "llm": llm}}))
    port = free_port()
    log = (work / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragkit.cli", "serve", str(demo_index), "--spec", str(spec), "--port", str(port),
         "--feedback-db", str(work / "feedback.sqlite"), "--no-warmup"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, HF_HUB_OFFLINE="1", NO_COLOR="1"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ragkit serve exited with {proc.returncode}:\n{(work / 'serve.log').read_text()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("ragkit serve did not answer /health within 90 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def client(server: str) -> "openai.OpenAI":
    return openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_models_lists_rag_and_closed_book(client) -> None:
    assert [m.id for m in client.models.list()] == ["ragkit", "ragkit-closed-book"]


def test_chat_completion_answers_with_sources(client, server: str, demo_qa) -> None:
    question, answer = demo_qa
    completion = client.chat.completions.create(
        model="ragkit", temperature=0.2,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}],
    )
    assert completion.object == "chat.completion" and completion.model == "ragkit"
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == answer
    assert choice.finish_reason == "stop"
    sources = completion.model_extra["sources"]
    assert sources[0]["file"] == "notes/faq.md" and sources[0]["cited"] is True
    assert "every 5 minutes" in sources[0]["text"]
    assert [c["source"] for c in completion.model_extra["citations"]] == ["notes/faq.md"]
    # the answer is in the service's log: feedback on it is accepted
    r = httpx.post(server + "/feedback", json={"answer_id": completion.model_extra["answer_id"], "rating": 1})
    assert r.status_code == 200 and r.json()["ok"] is True


def test_streamed_completion_is_openai_chunks(client, demo_qa) -> None:
    question, answer = demo_qa
    chunks = list(client.chat.completions.create(
        model="ragkit", stream=True, messages=[{"role": "user", "content": [{"type": "text", "text": question}]}],
    ))
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) == len(answer.split()) and "".join(pieces) == answer  # word by word, as generated
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert last.model_extra["answer"] == answer
    assert last.model_extra["sources"][0]["file"] == "notes/faq.md"


def test_stream_ends_with_done(server: str, demo_qa) -> None:
    body = {"model": "ragkit", "stream": True, "messages": [{"role": "user", "content": demo_qa[0]}]}
    with httpx.stream("POST", server + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]" and text.endswith("data: [DONE]\n\n")


def test_closed_book_model_has_no_sources(client) -> None:
    completion = client.chat.completions.create(
        model="ragkit-closed-book", messages=[{"role": "user", "content": "Who wrote Hamlet?"}])
    assert completion.choices[0].message.content == "Shakespeare wrote Hamlet."
    assert completion.model_extra["sources"] == []


def test_errors_are_openai_errors(client) -> None:
    with pytest.raises(openai.NotFoundError, match="GET /v1/models lists ragkit"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="no user message"):
        client.chat.completions.create(model="ragkit", messages=[{"role": "system", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.chat.completions.create(model="ragkit", messages=[{"role": "user", "content": "  "}], stream=True)
    with pytest.raises(openai.BadRequestError, match="n=2"):
        client.chat.completions.create(model="ragkit", n=2, messages=[{"role": "user", "content": "hi"}])


def test_a_failure_mid_stream_reaches_the_client_as_an_error(make_pipeline, demo_index: Path, feedback_db: Path) -> None:
    from fastapi.testclient import TestClient

    from ragkit.server.app import create_app

    app = create_app(make_pipeline(demo_index, fail=True), feedback_db)
    with TestClient(app) as http:
        client = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=http, max_retries=0)
        stream = client.chat.completions.create(
            model="ragkit", stream=True, messages=[{"role": "user", "content": "How often does the app update?"}])
        with pytest.raises(openai.APIError, match="internal server error"):
            list(stream)
        assert http.get("/health").json()["asks_pending"] == 0  # the failed ask no longer counts as waiting
