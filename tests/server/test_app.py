"""The FastAPI chat service: /ask, /feedback, /health, the page, and bad input (fake LLM, real index)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragkit.server.app import MAX_QUESTION_CHARS, create_app
from ragkit.tuning.feedback import read_feedback


@pytest.fixture
def client(pipeline, feedback_db: Path):
    with TestClient(create_app(pipeline, feedback_db), raise_server_exceptions=False) as c:
        yield c


def _no_trace(response) -> None:
    """An error response is a short JSON message, never a Python traceback."""
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]
    assert "Traceback" not in response.text and 'File "' not in response.text


def test_health(client, demo_index: Path) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "ok" and data["asks_pending"] == 0
    assert data["pipeline"]["retriever"] == "bm25" and data["pipeline"]["llm"] == "fake"
    assert data["index"] == demo_index.name and str(demo_index.parent) not in r.text  # no server paths


def test_ask_returns_answer_with_citations_sources_and_timings(client, feedback_db: Path, demo_qa) -> None:
    question, answer = demo_qa
    r = client.post("/ask", json={"question": question})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["answer"] == answer and data["mode"] == "rag" and len(data["id"]) == 32
    [citation] = data["citations"]
    assert citation["number"] == 1 and citation["source"] == "notes/faq.md"
    first = data["sources"][0]
    assert first["chunk_id"] == citation["chunk_id"] and first["cited"] is True
    assert first["file"] == "notes/faq.md" and first["lines"] == f"{citation['start_line']}-{citation['end_line']}"
    assert "every 5 minutes" in first["text"] and first["snippet"] in " ".join(first["text"].split()) + " …"
    assert [s["number"] for s in data["sources"]] == list(range(1, len(data["sources"]) + 1))
    assert not any(s["cited"] for s in data["sources"][1:])
    pdf = [s for s in data["sources"] if s["file"].endswith(".pdf")]
    assert pdf and all(isinstance(s["page"], int) for s in pdf)
    for stage in ("retrieve", "generate", "total", "queue", "request"):
        assert data["timings"][stage] >= 0
    con = sqlite3.connect(feedback_db)
    row = con.execute("SELECT question, answer, mode, citations FROM answers WHERE id = ?", (data["id"],)).fetchone()
    con.close()
    assert row[:3] == (question, answer, "rag")
    assert json.loads(row[3])[0]["chunk_id"] == citation["chunk_id"]


def test_closed_book_has_no_sources(client) -> None:
    r = client.post("/ask", json={"question": "Who wrote Hamlet?", "mode": "closed-book"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["mode"] == "closed-book" and data["sources"] == [] and data["citations"] == []
    assert "retrieve" not in data["timings"]


def test_feedback_thumbs_and_marks_land_in_sqlite(client, feedback_db: Path, demo_qa) -> None:
    question, answer = demo_qa
    data = client.post("/ask", json={"question": question}).json()
    first, second = data["sources"][0], data["sources"][1]
    r = client.post("/feedback", json={"answer_id": data["id"], "rating": -1})
    assert r.status_code == 200 and r.json()["rows"] == 1
    marks = [{"chunk_id": first["chunk_id"], "relevant": True}, {"chunk_id": second["chunk_id"], "relevant": False}]
    r = client.post("/feedback", json={"answer_id": data["id"], "sources": marks})
    assert r.status_code == 200 and r.json()["rows"] == 2
    rows = read_feedback(feedback_db)
    assert [(r.rating, r.chunk_id, r.relevant) for r in rows] == [
        (-1, None, None), (0, first["chunk_id"], 1), (0, second["chunk_id"], 0),
    ]
    assert all(r.question == question and r.answer == answer for r in rows)
    assert rows[1].chunk_text == first["text"]


def test_page_and_static_files_are_served(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="ask-form"' in page.text and "/static/app.js" in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    # no external resources: the page must work offline
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert "http://" not in text and "https://" not in text


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        ({"question": ""}, 422, "empty"),
        ({"question": "   \n "}, 422, "empty"),
        ({"question": "x" * (MAX_QUESTION_CHARS + 1)}, 422, "limit is"),
        ({"question": 42}, 422, "question"),
        ({"question": ["a"]}, 422, "question"),
        ({"question": None}, 422, "question"),
        ({}, 422, "question"),
        ({"question": "hi", "mode": "open-book"}, 422, "mode"),
        ({"question": "hi", "extra": 1}, 422, "extra"),
        ([1, 2], 422, "invalid request"),
    ],
)
def test_bad_ask_bodies_get_4xx_messages(client, body, status, match) -> None:
    r = client.post("/ask", json=body)
    assert r.status_code == status, r.text
    _no_trace(r)
    assert match in r.json()["error"]


def test_malformed_json_and_huge_bodies(client) -> None:
    r = client.post("/ask", content=b'{"question": "unterminated', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    _no_trace(r)
    r = client.post("/ask", content=b"question=hi", headers={"content-type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500
    _no_trace(r)
    r = client.post("/ask", json={"question": "x" * 300_000})
    assert r.status_code == 413 and "limited to" in r.json()["error"]
    _no_trace(r)


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        ({"answer_id": "0" * 32, "rating": 1}, 404, "no answer with id"),
        ({"answer_id": "ID", "rating": 5}, 422, "rating"),
        ({"answer_id": "ID", "rating": "up"}, 422, "rating"),
        ({"answer_id": "ID"}, 422, "needs a rating"),
        ({"answer_id": "ID", "sources": [{"chunk_id": "nope", "relevant": True}]}, 404, "was not given chunk"),
        ({"answer_id": "ID", "sources": [{"chunk_id": "x", "relevant": "yes"}]}, 422, "relevant"),
        ({"answer_id": 7, "rating": 1}, 422, "answer_id"),
        ({"answer_id": "ID", "rating": True}, 422, "rating: Input should be a valid integer"),
        ({"answer_id": "ID", "rating": 1.0}, 422, "rating: Input should be a valid integer"),
        ({"answer_id": "ID", "rating": "1"}, 422, "rating"),
        ({"answer_id": "ID", "sources": [{"chunk_id": "x", "relevant": 1}]}, 422, "relevant: Input should be a valid boolean"),
        ({"answer_id": "ID\ud800", "rating": 1}, 422, "answer_id: text has a lone UTF-16 surrogate (U+D800 at position 32)"),
    ],
)
def test_bad_feedback_gets_4xx_and_writes_nothing(client, feedback_db: Path, demo_qa, body, status, match) -> None:
    answer_id = client.post("/ask", json={"question": demo_qa[0]}).json()["id"]
    if body.get("answer_id") == "ID":
        body = {**body, "answer_id": answer_id}
    if isinstance(body.get("answer_id"), str):
        body["answer_id"] = body["answer_id"].replace("ID", answer_id)
    # json.dumps escapes non-ASCII (a lone surrogate becomes \\ud800), as a browser's JSON.stringify does
    r = client.post("/feedback", content=json.dumps(body).encode(), headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    _no_trace(r)
    assert match in r.json()["error"]
    assert read_feedback(feedback_db) == []


def test_model_failure_is_a_short_500_and_logged(demo_index, feedback_db, make_pipeline, caplog) -> None:
    app = create_app(make_pipeline(demo_index, fail=True), feedback_db)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/ask", json={"question": "How often does the app update?"})
        assert r.status_code == 500
        _no_trace(r)
        assert "FakeLLM" not in r.text  # details stay in the server log
        assert client.get("/health").status_code == 200  # still serving
    assert any("POST /ask failed" in rec.getMessage() and rec.exc_info for rec in caplog.records)


def test_rag_without_an_index_is_a_422(feedback_db, make_pipeline) -> None:
    with TestClient(create_app(make_pipeline(None), feedback_db), raise_server_exceptions=False) as client:
        r = client.post("/ask", json={"question": "anything?"})
        assert r.status_code == 422 and "closed-book" in r.json()["error"]
        assert client.post("/ask", json={"question": "anything?", "mode": "closed-book"}).status_code == 200


def test_unknown_index_dir_fails_at_startup(tmp_path: Path, feedback_db, make_pipeline) -> None:
    with pytest.raises(FileNotFoundError, match="ragkit ingest"):
        create_app(make_pipeline(tmp_path / "missing"), feedback_db)
    (tmp_path / "not-an-index").mkdir()
    with pytest.raises(ValueError, match="not a ragkit index"):
        create_app(make_pipeline(tmp_path / "not-an-index"), feedback_db)


def test_unknown_component_fails_at_startup(demo_index, feedback_db) -> None:
    from ragkit.pipeline import Pipeline

    with pytest.raises(KeyError):
        create_app(Pipeline(index=str(demo_index), retriever="no-such-retriever"), feedback_db)


def test_feedback_answers_the_committed_row_ids(client, feedback_db: Path, demo_qa) -> None:
    answer_id = client.post("/ask", json={"question": demo_qa[0]}).json()["id"]
    data = client.post("/feedback", json={"answer_id": answer_id, "rating": 1}).json()
    con = sqlite3.connect(feedback_db)
    ids = [row[0] for row in con.execute("SELECT id FROM feedback WHERE answer_id = ?", (answer_id,))]
    con.close()
    assert data["rows"] == 1 and data["ids"] == ids


def test_undecodable_input_gets_a_clean_4xx(client) -> None:
    r = client.post("/ask", content=b'{"question": "\\udc80 hi"}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "question: text has a lone UTF-16 surrogate (U+DC80 at position 0)" in r.json()["error"]
    _no_trace(r)
    r = client.post("/ask", content='{"question": "caf\u00e9"}'.encode("latin-1"), headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "request body is not valid UTF-8; send JSON encoded as UTF-8"
    _no_trace(r)
    assert "codec" not in r.text


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_docs_and_no_openapi_schema(client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    _no_trace(r)


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/health"])
def test_security_headers(client, path: str) -> None:
    headers = client.get(path).headers
    csp = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    # the page loads only its own script and style and calls only its own API
    assert csp["script-src"] == csp["style-src"] == csp["connect-src"] == "'self'"
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_page_has_no_inline_script_or_style_the_csp_would_block(client) -> None:
    page = client.get("/").text
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", page)  # no inline event handlers (onclick=…)
    assert page.count("<script") == page.count('<script src="/static/') == 1


KEY = "test-key-0123456789abcdef"


def test_api_key_guards_the_api_but_not_the_page(pipeline, feedback_db: Path, demo_qa) -> None:
    app = create_app(pipeline, feedback_db, api_key=KEY)
    with TestClient(app, raise_server_exceptions=False) as c:
        for method, path in (("get", "/health"), ("post", "/ask"), ("post", "/feedback")):
            r = c.request(method, path, json={"question": demo_qa[0]})
            assert r.status_code == 401 and "needs an API key" in r.json()["error"]
            assert r.headers["www-authenticate"].startswith("Bearer") and r.headers["x-frame-options"] == "DENY"
        r = c.post("/ask", json={"question": demo_qa[0]}, headers={"Authorization": "Bearer " + KEY[:-1] + "X"})
        assert r.status_code == 401 and "wrong API key" in r.json()["error"]
        auth = {"Authorization": f"Bearer {KEY}"}
        answer = c.post("/ask", json={"question": demo_qa[0]}, headers=auth)
        assert answer.status_code == 200
        r = c.post("/feedback", json={"answer_id": answer.json()["id"], "rating": 1}, headers={"X-API-Key": KEY})
        assert r.status_code == 200
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
    assert [r.rating for r in read_feedback(feedback_db)] == [1]


def test_short_api_key_is_refused_at_startup(pipeline, feedback_db: Path) -> None:
    with pytest.raises(ValueError, match="has 7 characters; use at least 16"):
        create_app(pipeline, feedback_db, api_key="hunter2")
