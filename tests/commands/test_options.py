"""`--rewrite` / `--rerank` option parsing and `ragkit search` with a rewriter and a reranker."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.commands.options import parse_component, search
from ragkit.indexes.index import Index
from ragkit.registry import build
from ragkit.types import Chunk

runner = CliRunner()


def test_parse_name_arg_and_key_values():
    assert parse_component("rewriter", "rm3") == {"type": "rm3"}
    assert parse_component("rewriter", "rm3:fb_docs=5, fb_terms=20,original_query_weight=0.7") == {
        "type": "rm3", "fb_docs": 5, "fb_terms": 20, "original_query_weight": 0.7}
    assert parse_component("reranker", "cross-encoder:runs/my ce") == {"type": "cross-encoder", "model": "runs/my ce"}
    assert parse_component("rewriter", "hyde:smollm2-135m") == {
        "type": "hyde", "llm": {"type": "transformers", "model": "smollm2-135m"}}
    assert parse_component("reranker", "llm:method=query-likelihood") == {"type": "llm", "method": "query-likelihood"}
    assert build("rewriter", parse_component("rewriter", "rm3:fb_docs=5")).fb_docs == 5


def test_parse_errors_say_what_to_do():
    with pytest.raises(KeyError, match="available: .*rm3"):
        parse_component("rewriter", "rm4")
    with pytest.raises(ValueError, match="rm3:key=value"):
        parse_component("rewriter", "rm3:10")
    with pytest.raises(ValueError, match="key=value"):
        parse_component("rewriter", "rm3:=3")


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("opts") / "index"
    Index.create(directory, [
        Chunk(text="Cats purr when they are content.", source="cats.md"),
        Chunk(text="A kitten purrs while nursing.", source="kitten.md"),
        Chunk(text="Hold the power button to reset the router.", source="router.md"),
    ], dense=False, show_progress=False)
    return str(directory)


def test_search_function_runs_rewrite_then_rerank(bm25_index):
    retriever = build("retriever", {"type": "bm25", "index": bm25_index})
    hits, timings = search(retriever, ["cats content"], 3, rewrite="rm3:fb_docs=1,max_df=1.0", rerank="reorder")
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
    assert result.exit_code == 2 and "needs the dense retriever" in result.output
