"""`--spec` / `--rewrite` / `--rerank` as a pipeline spec, and `ragkit search` with a rewriter and a reranker."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.commands.options import pipeline_spec
from ragkit.indexes.index import Index
from ragkit.pipeline import Pipeline
from ragkit.types import Chunk

runner = CliRunner()


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("opts") / "index"
    Index.create(directory, [
        Chunk(text="Cats purr when they are content.", source="cats.md"),
        Chunk(text="A kitten purrs while nursing.", source="kitten.md"),
        Chunk(text="Hold the power button to reset the router.", source="router.md"),
    ], dense=False, show_progress=False)
    return str(directory)


def test_options_overlay_the_spec_file(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("retriever: {type: hybrid, fusion: weighted}\nreranker: reorder\nk: 3\n")
    assert pipeline_spec(spec, retriever={"fusion": "rrf"}, rewrite="rm3:fb_docs=2", k=5) == {
        "retriever": {"type": "hybrid", "fusion": "rrf"}, "reranker": "reorder", "k": 5,
        "rewriter": {"type": "rm3", "fb_docs": 2}}
    assert pipeline_spec(retriever={"type": "bm25"}, rerank="reorder", rerank_k=7) == {
        "retriever": {"type": "bm25"}, "reranker": {"type": "reorder"}, "rerank_k": 7}


def test_pipeline_from_options_runs_rewrite_then_rerank(bm25_index):
    spec = pipeline_spec(retriever={"type": "bm25"}, rewrite="rm3:fb_docs=1,max_df=1.0", rerank="reorder", k=3)
    hits, timings = Pipeline.for_index(bm25_index, spec).retrieve(["cats content"])
    assert {h.chunk.source for h in hits[0]} == {"cats.md", "kitten.md"}
    assert {"retrieve", "rewrite", "rerank"} <= set(timings)


def test_cli_search_with_rewrite_and_rerank(bm25_index):
    result = runner.invoke(app, ["search", bm25_index, "cats content", "--mode", "bm25", "-k", "2",
                                 "--rewrite", "rm3:fb_docs=1,max_df=1.0", "--rerank", "reorder", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert [h["chunk"]["source"] for h in hits][0] == "cats.md" and len(hits) == 2
    result = runner.invoke(app, ["search", bm25_index, "cats", "--mode", "bm25", "--rerank", "nope"])
    assert result.exit_code == 2 and "no reranker named 'nope'" in result.output
    result = runner.invoke(app, ["search", bm25_index, "cats", "--mode", "bm25", "--rewrite", "rocchio"])
    assert result.exit_code == 2 and "needs a retriever with VectorSearch (dense)" in result.output
