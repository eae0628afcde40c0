"""/health reads the promoted reranker at request time: a promotion after start shows, a broken one is reported."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from ragkit.indexes.promoted import write_promoted
from ragkit.pipeline import Pipeline
from ragkit.server.app import create_app


def _promote(index: Path, name: str, spec: dict) -> dict:
    generation = index / "models" / "reranker" / name
    generation.mkdir(parents=True, exist_ok=True)
    return write_promoted(index, "reranker", generation, spec, {})


def test_health_names_the_model_promoted_after_start_and_reports_a_failed_load(demo_index: Path, tmp_path: Path,
                                                                              demo_qa) -> None:
    index = tmp_path / "idx"
    shutil.copytree(demo_index, index)
    generator = {"type": "llm", "llm": {"type": "fake", "default": demo_qa[1]}}
    pipeline = Pipeline.for_index(index, {"retriever": "bm25", "reranker": "promoted", "generator": generator})
    with TestClient(create_app(pipeline, tmp_path / "fb.sqlite"), raise_server_exceptions=False) as client:
        health = client.get("/health").json()["pipeline"]
        assert health["reranker"] == "promoted" and health["promoted_reranker"] is None

        record = _promote(index, "g1", {"type": "reorder"})
        health = client.get("/health").json()["pipeline"]
        assert health["promoted_reranker"]["model"] == "g1"
        assert health["promoted_reranker"]["promoted_at"] == record["promoted_at"]
        assert health["promoted_reranker_error"] is None
        assert client.post("/ask", json={"question": demo_qa[0]}).status_code == 200

        _promote(index, "g2", {"type": "no-such-reranker"})
        health = client.get("/health").json()["pipeline"]
        assert health["promoted_reranker"]["model"] == "g1"  # the old one stays in service
        assert "no-such-reranker" in health["promoted_reranker_error"]["message"]
        assert str(tmp_path) not in client.get("/health").text  # no server paths
        assert client.post("/ask", json={"question": demo_qa[0]}).status_code == 200
