"""Fixtures for the chat-service tests: a real BM25 index of the demo corpus, fake-LLM pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest

import ragkit
from ragkit.pipeline import Pipeline

DEMO = Path(ragkit.__file__).parent / "demo_corpus"
QUESTION = "How often does the Helios Monitor app update?"
# Grounded in notes/faq.md ("receives a new data point every 5 minutes"), so the generator keeps it.
FAKE_ANSWER = "The Helios Monitor app receives a new data point every 5 minutes [1]."


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus ingested and BM25-indexed once per test session."""
    from ragkit.indexes.index import Index
    from ragkit.ingest import ingest

    out = tmp_path_factory.mktemp("server") / "demo-index"
    ingest([DEMO], out)
    Index.build(out, bm25=True, dense=False, show_progress=False)
    return out


def fake_pipeline(index: Path | None, answer: str = FAKE_ANSWER, **llm: object) -> Pipeline:
    """A BM25 pipeline whose generator is the FakeLLM answering ``answer``."""
    generator = {"type": "llm", "llm": {"type": "fake", "default": answer, **llm}}
    return Pipeline(index=None if index is None else str(index), retriever="bm25", generator=generator)


@pytest.fixture
def pipeline(demo_index: Path) -> Pipeline:
    return fake_pipeline(demo_index)


@pytest.fixture
def feedback_db(tmp_path: Path) -> Path:
    return tmp_path / "feedback.sqlite"


@pytest.fixture
def make_pipeline():
    """``make_pipeline(index, answer=..., **fake_llm_args)`` -> a fake-LLM BM25 pipeline."""
    return fake_pipeline


@pytest.fixture(scope="session")
def demo_qa() -> tuple[str, str]:
    """(a demo-corpus question, the grounded answer the fake LLM gives)."""
    return QUESTION, FAKE_ANSWER
