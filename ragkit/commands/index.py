"""`ragkit index`, `ragkit search` and `ragkit eval-retrieval`: build, query and score indexes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()

_MODES = ("bm25", "dense", "hybrid")


def index_cmd(
    directory: Annotated[Path, typer.Argument(help="Index directory written by `ragkit ingest`.")],
    embedder: Annotated[str, typer.Option(help="Embedding model: minilm, a model dir or a hub id.")] = "minilm",
    bm25: Annotated[bool, typer.Option("--bm25/--no-bm25", help="Build/update the BM25 index.")] = True,
    dense: Annotated[bool, typer.Option("--dense/--no-dense", help="Build/update the FAISS index.")] = True,
    index_type: Annotated[Optional[str], typer.Option(help="FAISS index: flat, hnsw or ivfpq.")] = None,
    method: Annotated[Optional[str], typer.Option(help="BM25 variant: lucene, robertson, atire, bm25l, bm25+, okapi.")] = None,
    k1: Annotated[Optional[float], typer.Option(help="BM25 k1 (default 0.9).")] = None,
    b: Annotated[Optional[float], typer.Option(help="BM25 b (default 0.4).")] = None,
    rebuild: Annotated[bool, typer.Option(help="Start over: re-index and re-embed every chunk.")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per embedding batch.")] = 64,
    device: Annotated[Optional[str], typer.Option(help="Embedding device (cpu, cuda); default: GPU if any.")] = None,
) -> None:
    """Build or update the BM25 and dense indexes of an ingested directory (incremental)."""
    from ragkit.indexes.index import Index

    bm25_spec: bool | dict[str, Any] = bm25
    if bm25:
        overrides = {k: v for k, v in (("method", method), ("k1", k1), ("b", b)) if v is not None}
        bm25_spec = overrides or True
    dense_spec: bool | dict[str, Any] = {"index_type": index_type} if dense and index_type else dense
    with console.status("indexing") as status:
        index = Index.build(
            directory,
            embedder=embedder,
            bm25=bm25_spec,
            dense=dense_spec,
            rebuild=rebuild,
            batch_size=batch_size,
            device=device,
            on_stage=lambda stage: status.update(f"indexing: {stage}"),
        )
    table = Table("index", "settings", "documents", title=str(directory))
    if "bm25" in index.manifest:
        m = index.manifest["bm25"]
        table.add_row("bm25", f"{m['method']} k1={m['k1']} b={m['b']} stemmer={m['stemmer']}", str(m["n_docs"]))
    if "dense" in index.manifest:
        m = index.manifest["dense"]
        table.add_row("dense", f"{m['embedder']} {m['index_type']} d={m['dimension']}", str(m["n_vectors"]))
    console.print(table)


def search_cmd(
    directory: Annotated[Path, typer.Argument(help="Index directory.")],
    query: Annotated[str, typer.Argument(help="The query text.")],
    mode: Annotated[
        Optional[str], typer.Option(help="bm25, dense or hybrid; default: hybrid when both indexes exist.")
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Number of hits.")] = 10,
    fusion: Annotated[str, typer.Option(help="Hybrid fusion: rrf or weighted.")] = "rrf",
    path: Annotated[Optional[list[str]], typer.Option(help="Only sources matching this glob (repeatable).")] = None,
    language: Annotated[Optional[list[str]], typer.Option(help="Only this language (repeatable).")] = None,
    kind: Annotated[Optional[list[str]], typer.Option(help="Only this chunk kind (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
    rewrite: Annotated[
        Optional[str], typer.Option(help="Query rewriter NAME[:ARG], e.g. rm3, rocchio, hyde, genqr-fusion:fb_docs=3.")
    ] = None,
    rerank: Annotated[
        Optional[str], typer.Option(help="Reranker NAME[:ARG], e.g. cross-encoder:DIR, llm, reorder.")
    ] = None,
    rerank_depth: Annotated[Optional[int], typer.Option(help="Candidates the reranker sees (default 4*k).")] = None,
) -> None:
    """Search an index and print the top hits with their provenance."""
    from ragkit.commands.options import search
    from ragkit.indexes.index import Index
    from ragkit.registry import build

    index = Index.open(directory)
    if mode is None:
        mode = "hybrid" if index.has("bm25") and index.has("dense") else "dense" if index.has("dense") else "bm25"
    if mode not in _MODES:
        raise typer.BadParameter(f"--mode must be one of {', '.join(_MODES)}, not {mode!r}")
    filters = {key: v for key, v in (("path", path), ("language", language), ("kind", kind)) if v}
    spec: dict[str, Any] = {"type": mode, "index": str(directory), "filters": filters or None}
    if mode == "hybrid":
        spec["fusion"] = fusion
    retriever = build("retriever", spec)
    retriever.use_index(index)
    hits = search(retriever, [query], k, rewrite=rewrite, rerank=rerank, rerank_depth=rerank_depth)[0][0]
    if as_json:
        print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return
    table = Table("#", "score", "where", "text", title=f"{mode}: {query}", show_lines=False)
    for hit in hits:
        chunk = hit.chunk
        snippet = " ".join(chunk.text.split())[:160] if chunk else ""
        table.add_row(str(hit.rank), f"{hit.score:.4f}", chunk.location if chunk else hit.chunk_id, snippet)
    console.print(table)
    if not hits:
        console.print("[yellow]no hits[/] (BM25 needs a shared term; filters may exclude everything)")


def eval_retrieval_cmd(
    dataset: Annotated[Path, typer.Argument(help="BEIR dataset dir (corpus.jsonl …) or SciFact CSV zip dir.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dir: index/, runs, metrics.json.")] = Path(
        "runs/eval-retrieval"
    ),
    mode: Annotated[Optional[list[str]], typer.Option(help="bm25, dense, hybrid (repeatable; default all).")] = None,
    split: Annotated[str, typer.Option(help="qrels split.")] = "test",
    k: Annotated[int, typer.Option("-k", "--k", help="Run depth (hits per query).")] = 1000,
    metric: Annotated[
        Optional[list[str]], typer.Option(help="ndcg@k, recall@k, mrr@k, map … (repeatable).")
    ] = None,
    embedder: Annotated[str, typer.Option(help="Embedding model for dense/hybrid.")] = "minilm",
    fusion: Annotated[str, typer.Option(help="Hybrid fusion: rrf or weighted.")] = "rrf",
) -> None:
    """Index a BEIR-style dataset, run retrievers over its queries, write TREC runs and metrics."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ragkit.eval.beir import evaluate_beir, load_beir
    from ragkit.eval.retrieval import DEFAULT_METRICS
    from ragkit.indexes.atomic import atomic_write_text

    modes = mode or list(_MODES)
    bad = [m for m in modes if m not in _MODES]
    if bad:
        raise typer.BadParameter(f"--mode must be one of {', '.join(_MODES)}, not {bad}")
    metrics = metric or list(DEFAULT_METRICS)
    data = load_beir(dataset, split)
    console.print(f"{data.name}: {len(data.corpus)} documents, {len(data.queries)} {split} queries")
    specs = {m: {"type": m, **({"fusion": fusion} if m == "hybrid" else {})} for m in modes}
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:
        tasks: dict[str, Any] = {}

        def on_progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=done)

        results = evaluate_beir(
            data, out / "index", specs, k=k, metrics=metrics, runs_dir=out, embedder=embedder,
            on_progress=on_progress,
        )
    summary = {
        "dataset": str(dataset), "split": split, "k": k, "embedder": embedder,
        "results": {label: {key: r[key] for key in ("aggregate", "n_queries", "queries_per_second", "run_file")}
                    for label, r in results.items()},
    }
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=2))
    for label, r in results.items():
        atomic_write_text(out / f"{label}.per_query.json", json.dumps(r["per_query"], indent=1))
    table = Table("retriever", *metrics, "q/s", title=f"{data.name} ({split}, {len(data.queries)} queries)")
    for label, r in results.items():
        table.add_row(label, *(f"{r['aggregate'][m]:.4f}" for m in metrics), f"{r['queries_per_second']:.1f}")
    console.print(table)
    console.print(f"runs and metrics in {out}")
