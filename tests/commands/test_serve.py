"""`ragkit ask`, `ragkit chat` and `ragkit serve` through typer's CliRunner (fake LLM, real BM25 index)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import ragkit
from ragkit.cli import friendly
from ragkit.commands.serve import ask_cmd, chat_cmd, load_pipeline, serve_cmd
from ragkit.types import Answer

DEMO = Path(ragkit.__file__).parent / "demo_corpus"
QUESTION = "How often does the Helios Monitor app update?"
FAKE_ANSWER = "The Helios Monitor app receives a new data point every 5 minutes [1]."
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    for name, command in (("ask", ask_cmd), ("chat", chat_cmd), ("serve", serve_cmd)):
        app.command(name)(friendly(command))
    return app


APP = _app()


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ragkit.indexes.index import Index
    from ragkit.ingest import ingest

    out = tmp_path_factory.mktemp("commands-serve") / "demo-index"
    ingest([DEMO], out)
    Index.build(out, bm25=True, dense=False, show_progress=False)
    return out


def _spec(tmp_path: Path, answer: str = FAKE_ANSWER) -> Path:
    path = tmp_path / "spec.json"
    generator = {"type": "llm", "llm": {"type": "fake", "default": answer}}
    path.write_text(json.dumps({"retriever": "bm25", "generator": generator}))
    return path


def test_ask_prints_answer_sources_and_timings(demo_index: Path, tmp_path: Path) -> None:
    result = runner.invoke(APP, ["ask", str(demo_index), QUESTION, "--spec", str(_spec(tmp_path))], env=ENV)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "receives a new data point every 5 minutes [1]" in out
    assert "sources" in out and "notes/faq.md" in out
    row = next(line for line in out.splitlines() if "notes/faq.md" in line)
    assert "13-17" in row and "How often does the app update?" in row  # lines and section
    assert "retrieve" in out and "generate" in out and "total" in out


def test_ask_json_is_an_answer(demo_index: Path, tmp_path: Path) -> None:
    args = ["ask", str(demo_index), QUESTION, "--spec", str(_spec(tmp_path)), "--json", "-k", "2"]
    result = runner.invoke(APP, args, env=ENV)
    assert result.exit_code == 0, result.output
    answer = Answer.from_dict(json.loads(result.stdout))
    assert answer.text == FAKE_ANSWER and answer.mode == "rag" and len(answer.hits) == 2
    assert [c.source for c in answer.citations] == ["notes/faq.md"]
    assert answer.hits[0].chunk is not None and "every 5 minutes" in answer.hits[0].chunk.text


def test_ask_closed_book_has_no_sources(demo_index: Path, tmp_path: Path) -> None:
    args = ["ask", str(demo_index), "Who wrote Hamlet?", "--mode", "closed-book", "--spec", str(_spec(tmp_path, "Shakespeare."))]
    result = runner.invoke(APP, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert "Shakespeare." in result.output and "closed-book" in result.output
    assert "sources" not in result.output and "retrieve" not in result.output


def test_ask_says_when_it_does_not_know(demo_index: Path, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "Paris is the capital of France [1].")  # not supported by any context
    result = runner.invoke(APP, ["ask", str(demo_index), QUESTION, "--spec", str(spec)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "I don't know." in result.output and "no answer: unsupported" in result.output
    assert "notes/faq.md" not in result.output  # nothing cited


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "open-book"], "--mode must be one of"),
        (["-k", "0"], "-k must be at least 1"),
    ],
)
def test_ask_rejects_bad_options(demo_index: Path, tmp_path: Path, args, message) -> None:
    result = runner.invoke(APP, ["ask", str(demo_index), QUESTION, "--spec", str(_spec(tmp_path)), *args], env=ENV)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_ask_rejects_empty_question_and_unknown_index(demo_index: Path, tmp_path: Path) -> None:
    result = runner.invoke(APP, ["ask", str(demo_index), "  "], env=ENV)
    assert result.exit_code == 2 and "question is empty" in result.output
    result = runner.invoke(APP, ["ask", str(tmp_path / "nowhere"), QUESTION], env=ENV)
    assert result.exit_code == 2 and "does not exist" in result.output and "ragkit ingest" in result.output


def test_load_pipeline_fits_the_index(demo_index: Path, tmp_path: Path) -> None:
    assert load_pipeline(demo_index).retriever == "bm25"  # no dense index built
    pipeline = load_pipeline(demo_index, _spec(tmp_path), k=3)
    assert pipeline.index == str(demo_index) and pipeline.k == 3
    assert pipeline.generator["llm"]["type"] == "fake"


def test_chat_answers_each_line_until_exit(demo_index: Path, tmp_path: Path) -> None:
    text = f"{QUESTION}\n\n   \n{QUESTION}\nexit\nnever asked\n"
    result = runner.invoke(APP, ["chat", str(demo_index), "--spec", str(_spec(tmp_path))], input=text, env=ENV)
    assert result.exit_code == 0, result.output
    assert result.output.count("receives a new data point every 5 minutes") == 2
    assert "never asked" not in result.output


def test_chat_ends_at_end_of_input(demo_index: Path, tmp_path: Path) -> None:
    result = runner.invoke(APP, ["chat", str(demo_index), "--spec", str(_spec(tmp_path))], input=f"{QUESTION}\n", env=ENV)
    assert result.exit_code == 0, result.output
    assert result.output.count("receives a new data point every 5 minutes") == 1


def test_serve_builds_the_app_and_runs_uvicorn(demo_index: Path, tmp_path: Path, monkeypatch) -> None:
    import uvicorn
    from fastapi import FastAPI

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    db = tmp_path / "logs" / "fb.sqlite"
    args = ["serve", str(demo_index), "--spec", str(_spec(tmp_path)), "--port", "8765", "--feedback-db", str(db)]
    result = runner.invoke(APP, args, env=ENV)
    assert result.exit_code == 0, result.output
    [(app, kw)] = calls
    assert isinstance(app, FastAPI) and kw["host"] == "127.0.0.1" and kw["port"] == 8765
    assert db.is_file() and "http://127.0.0.1:8765/" in result.output


def test_serve_takes_rerank_like_search_and_follows_the_promoted_one_by_default(demo_index: Path, tmp_path: Path,
                                                                                 monkeypatch) -> None:
    import uvicorn

    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    base = ["serve", str(demo_index), "--spec", str(_spec(tmp_path)), "--no-warmup"]
    # the hint `ragkit tune reranker` prints for a cross-encoder: NAME:key=value,... as for `ragkit search`
    result = runner.invoke(APP, base + ["--rerank", "bi-encoder:model=minilm,first_stage_weight=0.3"], env=ENV)
    assert result.exit_code == 0, result.output
    assert apps[-1].state.pipeline.reranker == {"type": "bi-encoder", "model": "minilm", "first_stage_weight": 0.3}
    assert runner.invoke(APP, base, env=ENV).exit_code == 0  # no reranker asked: follow the index's promoted one
    assert apps[-1].state.pipeline.reranker == {"type": "promoted", "index": str(demo_index)}
    result = runner.invoke(APP, base + ["--rerank", "no-such-reranker"], env=ENV)
    assert result.exit_code == 2 and "no-such-reranker" in result.output


def test_ask_takes_rerank(demo_index: Path, tmp_path: Path) -> None:
    args = ["ask", str(demo_index), QUESTION, "--spec", str(_spec(tmp_path)), "--json", "--rerank", "reorder"]
    result = runner.invoke(APP, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert load_pipeline(demo_index, rerank="promoted").reranker == {"type": "promoted", "index": str(demo_index)}
    assert load_pipeline(demo_index).reranker is None  # one-off commands: no pointer, no reranker


def test_serve_default_feedback_db_sits_beside_the_index(demo_index: Path, tmp_path: Path, monkeypatch) -> None:
    import shutil

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    index = tmp_path / "idx"
    shutil.copytree(demo_index, index)
    result = runner.invoke(APP, ["serve", str(index), "--spec", str(_spec(tmp_path)), "--no-warmup"], env=ENV)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "idx-feedback.sqlite").is_file() and not (index / "idx-feedback.sqlite").exists()


def test_serve_unknown_index_is_a_startup_error(tmp_path: Path, monkeypatch) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("must not start"))
    result = runner.invoke(APP, ["serve", str(tmp_path / "missing")], env=ENV)
    assert result.exit_code == 2 and "does not exist" in result.output


KEY = "serve-test-key-0123456789"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.org", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    from ragkit.commands.serve import is_loopback

    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "myhost"])
def test_serve_beyond_loopback_without_a_key_refuses_to_start(demo_index: Path, tmp_path: Path, monkeypatch, host) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("must not start"))
    monkeypatch.delenv("RAGKIT_API_KEY", raising=False)
    result = runner.invoke(APP, ["serve", str(demo_index), "--spec", str(_spec(tmp_path)), "--host", host], env=ENV)
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()  # one line: what is wrong and what to pass
    assert line.startswith(f"error: binding {host}") and "--api-key KEY or set RAGKIT_API_KEY" in line


def test_serve_short_key_refuses_to_start(demo_index: Path, tmp_path: Path, monkeypatch) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("must not start"))
    args = ["serve", str(demo_index), "--spec", str(_spec(tmp_path)), "--host", "0.0.0.0", "--api-key", "abc"]
    result = runner.invoke(APP, args, env=ENV)
    assert result.exit_code == 2 and "use at least 16" in result.output


@pytest.mark.parametrize("how", ["option", "env"])
def test_serve_beyond_loopback_with_a_key_starts_guarded(demo_index: Path, tmp_path: Path, monkeypatch, how) -> None:
    import uvicorn
    from fastapi.testclient import TestClient

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    args = ["serve", str(demo_index), "--spec", str(_spec(tmp_path)), "--host", "0.0.0.0", "--no-warmup",
            "--feedback-db", str(tmp_path / "fb.sqlite")]
    env = {**ENV, "RAGKIT_API_KEY": KEY} if how == "env" else ENV
    result = runner.invoke(APP, args + (["--api-key", KEY] if how == "option" else []), env=env)
    assert result.exit_code == 0, result.output
    assert "API key required" in " ".join(result.output.split()) and KEY not in result.output
    [(app, kw)] = calls
    assert kw["host"] == "0.0.0.0"
    with TestClient(app) as client:
        assert client.get("/health").status_code == 401
        assert client.get("/health", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


@pytest.mark.integration
def test_ragkit_serve_process_enforces_its_key(demo_index: Path, tmp_path: Path) -> None:
    """A real `ragkit serve` process on loopback with RAGKIT_API_KEY set."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from ragkit.server.background import free_port

    port = free_port()
    env = {**os.environ, "RAGKIT_API_KEY": KEY}
    cmd = [sys.executable, "-m", "ragkit.cli", "serve", str(demo_index), "--port", str(port), "--no-warmup",
           "--spec", str(_spec(tmp_path)), "--feedback-db", str(tmp_path / "fb.sqlite")]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert child.poll() is None, child.stdout.read().decode()
            try:
                first = httpx.get(url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "ragkit serve did not start in 60 s"
                time.sleep(0.2)
        assert first.status_code == 401 and first.headers["x-content-type-options"] == "nosniff"
        auth = {"Authorization": f"Bearer {KEY}"}
        answer = httpx.post(url + "/ask", json={"question": QUESTION}, headers=auth, timeout=30)
        assert answer.status_code == 200 and answer.json()["answer"] == FAKE_ANSWER
        wrong = httpx.post(url + "/feedback", json={"answer_id": answer.json()["id"], "rating": 1},
                           headers={"Authorization": f"Bearer {KEY[:-1]}"}, timeout=30)
        assert wrong.status_code == 401
        page = httpx.get(url + "/", timeout=30)
        assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    finally:
        child.terminate()
        child.wait(timeout=20)


def test_print_answer_reports_failed_reasoning_checks():
    from rich.console import Console

    from ragkit.commands.serve import print_answer

    out = Console(record=True, width=120, color_system=None)
    flagged = Answer(question="q", text="Eight [2].", metadata={"reasoning_flags": ["evidence_not_in_cited_passage"]})
    print_answer(flagged, out)
    print_answer(Answer(question="q", text="Eight [2].", metadata={"reasoning_flags": []}), out)
    assert out.export_text().count("reasoning check: evidence_not_in_cited_passage") == 1
