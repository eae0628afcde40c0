"""Ray ingestion and embedding on a real local Ray (num_cpus=2), into the local index and into Milvus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import ragkit
from ragkit.cli import app
from ragkit.indexes.index import Index
from ragkit.ingest import ingest
from ragkit.pipeline import Pipeline
from ragkit.scale.ray_engine import ray_index, ray_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(ragkit.__file__).resolve().parent.parent
DEMO = Path(ragkit.__file__).parent / "demo_corpus"
QA = [json.loads(line) for line in (ROOT / "examples" / "demo-qa.jsonl").read_text().splitlines() if line.strip()]
FAKE = {"type": "llm", "llm": {"type": "fake", "responses": {q["question"]: f"{q['answer']} [1]." for q in QA}}}
STORE_FILES = ("chunks.jsonl", "sources.json", "failures.json")


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_local):
    """The demo corpus through the local path and through Ray (ingest + embed on 2 actors)."""
    root = tmp_path_factory.mktemp("ray")
    ingest([DEMO], root / "local")
    Index.build(root / "local", show_progress=False)
    seen: list[tuple[str, int, int]] = []
    report = ray_ingest([DEMO], root / "ray", workers=2, on_progress=lambda *a: seen.append(a))
    result = ray_index(root / "ray", workers=2, on_progress=lambda *a: seen.append(a))
    return root, report, result, seen


def test_ray_ingest_writes_the_local_paths_chunk_store(built):
    root, report, _, seen = built
    assert len(report.parsed) == 6 and report.chunks_total == 45 and not report.failed
    for name in STORE_FILES:
        assert (root / "ray" / name).read_text() == (root / "local" / name).read_text(), name
    assert ("parse", 6, 6) in seen and seen[-1][0] == "embed" and seen[-1][1] == seen[-1][2] == 45


def test_ray_embeddings_equal_the_local_index(built):
    root, _, result, _ = built
    ours, theirs = Index.open(root / "local"), Index.open(root / "ray")
    ids = ours.store.ids()
    assert result == {"target": str(root / "ray"), "embedded": 45, "total": 45}
    np.testing.assert_allclose(theirs.vectors(ids), ours.vectors(ids), atol=1e-5)
    assert theirs.manifest["dense"]["n_vectors"] == theirs.manifest["bm25"]["n_docs"] == 45
    questions = [q["question"] for q in QA]
    a = Pipeline(index=str(root / "local"), retriever="hybrid", generator=FAKE).ask(questions)
    b = Pipeline(index=str(root / "ray"), retriever="hybrid", generator=FAKE).ask(questions)
    assert [x.citations for x in a] == [x.citations for x in b]
    assert ray_index(root / "ray", workers=1)["embedded"] == 0  # incremental: nothing new to embed


def test_an_interrupted_ray_index_leaves_the_previous_index_intact(built):
    root, *_ = built
    before = {p.relative_to(root): p.read_bytes() for p in (root / "ray").rglob("*") if p.is_file()}

    def interrupt(stage: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ray_index(root / "ray", workers=2, rebuild=True, on_progress=interrupt)
    after = {p.relative_to(root): p.read_bytes() for p in (root / "ray").rglob("*") if p.is_file()}
    assert after == before
    left = sorted(p.name for p in root.iterdir() if not p.name.endswith((".gens", ".lock")))
    assert left == ["local", "ray"]  # no temp dir left behind
    assert not [p for g in root.glob(".*.gens") for p in g.iterdir() if p.name.startswith(".")]


def test_ray_into_milvus_answers_with_the_local_citations(built, milvus_server):
    root, *_ = built
    where = {"uri": milvus_server.uri, "collection": "ray_demo"}
    result = ray_index(root / "ray", workers=2, milvus=where)
    assert result["upserted"] == 45 and result["deleted"] == 0
    questions = [q["question"] for q in QA]
    # milvus-hybrid fuses by RRF: compared with local RRF, not the local code-index default
    a = Pipeline(index=str(root / "local"), retriever={"type": "hybrid", "fusion": "rrf"}, generator=FAKE).ask(questions)
    b = Pipeline(index=str(root / "ray"), retriever={"type": "milvus-hybrid", **where}, generator=FAKE).ask(questions)
    differ = [x.question for x, y in zip(b, a) if [c.chunk_id for c in x.citations] != [c.chunk_id for c in y.citations]]
    # Milvus' BM25 side indexes the chunk text without ragkit's contextual header (see test_milvus_retrievers)
    assert len(differ) <= 1, differ
    assert ray_index(root / "ray", workers=1, milvus=where)["upserted"] == 0


def test_cli_ingest_engine_ray(tmp_path, ray_local):
    result = CliRunner().invoke(app, ["ingest", str(DEMO), "--out", str(tmp_path / "idx"), "--engine", "ray"])
    assert result.exit_code == 0, result.output
    assert "ingested 6 file(s)" in result.output and "= 45" in result.output
    result = CliRunner().invoke(app, ["ingest", str(DEMO), "--out", str(tmp_path / "idx"), "--engine", "spark"])
    assert result.exit_code == 2 and "--engine must be one of local, ray" in result.output
