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
