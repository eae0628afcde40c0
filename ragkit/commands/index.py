"""`ragkit index`, `ragkit search` and `ragkit eval-retrieval`: build, query and score indexes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ragkit.commands.options import RerankOpt
from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.extras import require

console = Console()

_MODES = ("bm25", "dense", "hybrid")


def index_cmd(
    directory: Annotated[Path, typer.Argument(help="Index directory written by `ragkit ingest`.")],
    embedder: Annotated[str, typer.Option(help="Embedding model: minilm, a model dir or a hub id.")] = DEFAULT_EMBEDDER,
    bm25: Annotated[bool, typer.Option("--bm25/--no-bm25", help="Build/update the BM25 index.")] = True,
    dense: Annotated[bool, typer.Option("--dense/--no-dense", help="Build/update the FAISS index.")] = True,
    index_type: Annotated[Optional[str], typer.Option(help="FAISS index: flat, hnsw or ivfpq.")] = None,
    method: Annotated[Optional[str], typer.Option(help="BM25 variant: lucene, robertson, atire, bm25l, bm25+, okapi.")] = None,
    k1: Annotated[Optional[float], typer.Option(help="BM25 k1 (default 0.9).")] = None,
    b: Annotated[Optional[float], typer.Option(help="BM25 b (default 0.4).")] = None,
    rebuild: Annotated[bool, typer.Option(help="Start over: re-index and re-embed every chunk.")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per embedding batch.")] = 64,
    device: Annotated[Optional[str], typer.Option(help="Embedding device (cpu, cuda); default: GPU if any.")] = None,
    engine: Annotated[str, typer.Option(help="Embed here (local) or on Ray actors (ray; ragkit[ray]).")] = "local",
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address (auto); default: a local Ray.")] = None,
    workers: Annotated[int, typer.Option(help="Ray embedding actors (--engine ray).")] = 2,
    milvus_uri: Annotated[Optional[str], typer.Option(help="Index into this Milvus server instead (ragkit[milvus]).")] = None,
    collection: Annotated[Optional[str], typer.Option(help="Milvus collection (default: the directory's name).")] = None,
) -> None:
    """Build or update the BM25 and dense indexes of an ingested directory (incremental)."""
    from ragkit.commands.scale import check_engine, index_scaled
    from ragkit.indexes.index import Index

    check_engine(engine)
    if engine == "ray" or milvus_uri or collection:
        index_scaled(directory, embedder, engine, address, workers, milvus_uri, collection, rebuild, batch_size, device)
        return

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


SpecOpt = Annotated[
    Optional[Path], typer.Option(help="Pipeline spec (YAML/TOML/JSON); the options below overlay its stages.")
]
RewriteOpt = Annotated[
    Optional[str], typer.Option(help="Query rewriter NAME[:ARG], e.g. rm3, rocchio, hyde, genqr-fusion:fb_docs=3.")
]
RerankDepthOpt = Annotated[Optional[int], typer.Option(help="Candidates the reranker sees (default 4*k).")]
FusionOpt = Annotated[Optional[str], typer.Option(help="Hybrid fusion: rrf or weighted.")]


def _retriever(mode: str | None, fusion: str | None, filters: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The retriever overlay that ``--mode``, ``--fusion`` and the filters ask for (``None``: nothing asked)."""
    if mode is not None and mode not in _MODES:
        raise typer.BadParameter(f"--mode must be one of {', '.join(_MODES)}, not {mode!r}")
    if fusion is not None and mode not in (None, "hybrid"):
        raise typer.BadParameter(f"--fusion is for --mode hybrid, not {mode}")
    changes: dict[str, Any] = {"type": mode} if mode else {}
    if fusion:
        changes["fusion"] = fusion
    if filters:
        changes["filters"] = filters
    return changes or None


def search_cmd(
    directory: Annotated[Path, typer.Argument(help="Index directory.")],
    query: Annotated[str, typer.Argument(help="The query text.")],
    mode: Annotated[
        Optional[str], typer.Option(help="bm25, dense or hybrid; default: the spec's, else hybrid when both indexes exist.")
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Number of hits.")] = 10,
    fusion: FusionOpt = None,
    path: Annotated[Optional[list[str]], typer.Option(help="Only sources matching this glob (repeatable).")] = None,
    language: Annotated[Optional[list[str]], typer.Option(help="Only this language (repeatable).")] = None,
    kind: Annotated[Optional[list[str]], typer.Option(help="Only this chunk kind (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
    rewrite: RewriteOpt = None,
    rerank: RerankOpt = None,
    rerank_depth: RerankDepthOpt = None,
    spec: SpecOpt = None,
) -> None:
    """Search an index and print the top hits with their provenance."""
    from ragkit.commands.options import pipeline_spec
    from ragkit.indexes.index import Index
    from ragkit.pipeline import Pipeline

    index = Index.open(directory)
    filters = {key: v for key, v in (("path", path), ("language", language), ("kind", kind)) if v}
    config = pipeline_spec(spec, rewrite=rewrite, rerank=rerank, rerank_k=rerank_depth, k=k)
    changes = _retriever(mode, fusion, filters)
    if changes is not None:
        from ragkit.config import overlay
        from ragkit.pipeline import default_retriever

        if "type" not in changes and "retriever" not in config:
            config["retriever"] = default_retriever(directory)
        config = overlay(config, {"retriever": changes})
    pipeline = Pipeline.for_index(directory, config).use_index(index)
    hits = pipeline.retrieve([query])[0][0]
    if as_json:
        print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return
    retriever = pipeline.retriever if isinstance(pipeline.retriever, str) else pipeline.retriever["type"]
    table = Table("#", "score", "where", "text", title=f"{retriever}: {query}", show_lines=False)
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
    mode: Annotated[
        Optional[list[str]], typer.Option(help="bm25, dense, hybrid (repeatable; default all, unless --spec).")
    ] = None,
    spec: Annotated[
        Optional[list[Path]],
        typer.Option(help="Pipeline spec to score (repeatable; labelled by file name): retriever, rewriter, reranker."),
    ] = None,
    split: Annotated[str, typer.Option(help="qrels split.")] = "test",
    k: Annotated[int, typer.Option("-k", "--k", help="Run depth (hits per query).")] = 1000,
    metric: Annotated[
        Optional[list[str]], typer.Option(help="ndcg@k, recall@k, mrr@k, map … (repeatable).")
    ] = None,
    embedder: Annotated[str, typer.Option(help="Embedding model for dense/hybrid.")] = DEFAULT_EMBEDDER,
    fusion: FusionOpt = None,
    rewrite: RewriteOpt = None,
    rerank: RerankOpt = None,
    rerank_depth: Annotated[
        Optional[int], typer.Option(help="Candidates the reranker sees (default: the spec's, else 100 as in BEIR).")
    ] = None,
    resample: Annotated[
        Optional[str], typer.Option(help="Score only the interpolation or extrapolation test set (Zhan et al. 2022, "
                                         "ReSTTest; needs a --train-split). Train models on resample-train.qrels.")
    ] = None,
    train_split: Annotated[str, typer.Option(help="--resample: qrels split of the training queries.")] = "train",
    seed: Annotated[int, typer.Option(help="--resample: seed of the clustering and the balancing sample.")] = 0,
    buckets: Annotated[int, typer.Option(help="--resample: query clusters (K; one is held out).")] = 5,
    fold: Annotated[Optional[int], typer.Option(help="--resample: held-out cluster, 0..K-1 (default: seed % K).")] = None,
) -> None:
    """Index a BEIR-style dataset, run pipelines over its queries, write TREC runs and metrics.

    Each --mode and each --spec is one system; --rewrite / --rerank / --rerank-depth apply to all.
    With --resample, only that resampled test set is scored (ragkit.experiments.resample).
    """
    require("eval")
    from ragkit.commands.options import pipeline_spec

    systems: dict[str, dict[str, Any]] = {}
    for path in spec or []:
        systems[path.stem] = pipeline_spec(path, rewrite=rewrite, rerank=rerank, rerank_k=rerank_depth)
        systems[path.stem].pop("index", None)
    for m in mode or ([] if spec else list(_MODES)):
        retriever = _retriever(m, fusion if m == "hybrid" else None)
        label = "+".join(re.sub(r"[^\w.=-]+", "_", x) for x in (m, rewrite, rerank) if x)  # a file name
        systems[label] = pipeline_spec(retriever=retriever, rewrite=rewrite, rerank=rerank, rerank_k=rerank_depth)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ragkit.eval.retrieval import DEFAULT_METRICS
    from ragkit.experiments.beir import evaluate_beir, load_beir
    from ragkit.indexes.atomic import atomic_write_text

    metrics = metric or list(DEFAULT_METRICS)
    data = load_beir(dataset, split)
    console.print(f"{data.name}: {len(data.corpus)} documents, {len(data.queries)} {split} queries")
    resampled = None
    if resample:
        from ragkit.experiments.resample import resample_dataset

        data, resampled = resample_dataset(dataset, data, resample, train_split, out, seed=seed, buckets=buckets, fold=fold)
        counts = resampled.record["counts"]
        console.print(f"{resample}: {len(data.queries)} {split} queries (interpolation {counts['interpolation']}, "
                      f"extrapolation {counts['extrapolation']}, neither {counts['neither']}); "
                      f"{len(resampled.train)} of {resampled.record['n_train']} {train_split} queries kept for training")
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
            data, out / "index", systems, k=k, metrics=metrics, runs_dir=out, embedder=embedder,
            on_progress=on_progress,
        )
    summary = {
        "dataset": str(dataset), "split": split, "k": k, "embedder": embedder,
        "resample": None if resampled is None else {"set": resample, **resampled.record},
        "results": {label: {key: r[key] for key in ("spec", "aggregate", "n_queries", "queries_per_second", "run_file")}
                    for label, r in results.items()},
    }
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=2))
    for label, r in results.items():
        atomic_write_text(out / f"{label}.per_query.json", json.dumps(r["per_query"], indent=1))
    title = f"{data.name} ({split}{', ' + resample if resample else ''}, {len(data.queries)} queries)"
    table = Table("retriever", *metrics, "q/s", title=title)
    for label, r in results.items():
        table.add_row(label, *(f"{r['aggregate'][m]:.4f}" for m in metrics), f"{r['queries_per_second']:.1f}")
    console.print(table)
    console.print(f"runs and metrics in {out}")
