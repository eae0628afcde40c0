"""`ragkit index / search / eval-retrieval` through typer's CliRunner (BM25 only: fast)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from ragkit.commands.index import eval_retrieval_cmd, index_cmd, search_cmd
from ragkit.indexes.store import ChunkStore
from ragkit.indexes.manifest import new_manifest, write_manifest
from ragkit.types import Chunk

app = typer.Typer()
app.command("index")(index_cmd)
app.command("search")(search_cmd)
app.command("eval-retrieval")(eval_retrieval_cmd)
runner = CliRunner()


def _ingested(directory):
    store = ChunkStore()
    store.add([
        Chunk(text="Hold the power button to reset the router.", source="docs/manual.md"),
        Chunk(text="def reset_router(): pass", source="src/net.py", kind="function", language="python"),
        Chunk(text="Cats purr when content.", source="notes/cats.md"),
    ])
    store.save(directory)
    write_manifest(directory, new_manifest())


def test_index_then_search(tmp_path):
    _ingested(tmp_path)
    result = runner.invoke(app, ["index", str(tmp_path), "--no-dense", "--k1", "1.2"])
    assert result.exit_code == 0, result.output
    assert "bm25" in result.output and "k1=1.2" in result.output
    result = runner.invoke(app, ["search", str(tmp_path), "reset router", "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert [h["rank"] for h in hits] == [1, 2] and hits[0]["retriever"] == "bm25"
    result = runner.invoke(app, ["search", str(tmp_path), "reset router", "--mode", "bm25", "--language", "python"])
    assert result.exit_code == 0 and "src/net.py" in result.output and "manual" not in result.output
    result = runner.invoke(app, ["search", str(tmp_path), "zebra", "--mode", "bm25"])
    assert "no hits" in result.output
    result = runner.invoke(app, ["search", str(tmp_path), "x", "--mode", "dense"])
    assert result.exit_code != 0 and "no dense index" in str(result.exception)


def test_eval_retrieval_writes_runs_and_metrics(tmp_path):
    data = tmp_path / "tiny"
    (data / "qrels").mkdir(parents=True)
    docs = [{"_id": "a", "title": "Router", "text": "reset the router"}, {"_id": "b", "title": "", "text": "cats purr"}]
    (data / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (data / "queries.jsonl").write_text(json.dumps({"_id": "1", "text": "purring cats"}) + "\n")
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\tb\t1\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval-retrieval", str(data), "--out", str(out), "--mode", "bm25",
                                 "--metric", "ndcg@10", "--metric", "recall@100"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["results"]["bm25"]["aggregate"] == {"ndcg@10": 1.0, "recall@100": 1.0}
    assert (out / "bm25.trec").is_file() and (out / "bm25.per_query.json").is_file()
    assert "ndcg@10" in result.output
    bad = runner.invoke(app, ["eval-retrieval", str(data), "--out", str(out), "--mode", "splade"])
    assert bad.exit_code != 0
