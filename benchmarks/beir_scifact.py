"""BEIR SciFact: ragkit's BM25, dense MiniLM and hybrid retrieval next to published numbers.

Reads the SciFact release from ``../shared/data/scifact`` (see its README), indexes the 5,183
abstracts as ``title + " " + abstract`` and runs the 300 test claims (depth 1000), scoring
nDCG@10 / Recall@100 / MRR@10 / MAP with trec_eval's definitions (``trec_eval -c``).

- bm25: ragkit analyzer + bm25s ``lucene``, k1=0.9, b=0.4 (Pyserini's flat BM25 settings).
- bm25-okapi: the same terms scored as rank-bm25's BM25Okapi (the parity-test variant).
- dense: all-MiniLM-L6-v2, normalised embeddings, exact inner product (MTEB's setup).
- hybrid-rrf / hybrid-weighted: top-100 of each fused by RRF (k=60) or min-max CombSUM.

Then FAISS HNSW and IVF-PQ against exact search on the real SciFact embeddings: recall@10
(overlap with the flat top 10), build seconds and batched queries/s.

    .venv/bin/python benchmarks/beir_scifact.py [--data ../shared/data/scifact] [--rewriters]

``--rewriters`` then adds the query rewriting / reranking rows of ``benchmarks/scifact_rewrite.py``.

The index (with its MiniLM embedding cache) lives in ``~/.cache/ragkit/bench/scifact-index``,
so reruns embed nothing. Results: ``benchmarks/results/beir_scifact.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import RESULTS, ROOT, offline  # noqa: E402

offline()

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console(width=max(Console().width, 132))

METRICS = ["ndcg@10", "recall@100", "mrr@10", "map"]
SYSTEMS = {  # pipeline specs, run by ragkit.pipeline.Pipeline as `ragkit search` runs them
    "bm25": {"retriever": "bm25"},
    "bm25-okapi": {"retriever": {"type": "bm25", "method": "okapi"}},
    "dense": {"retriever": "dense"},
    "hybrid-rrf": {"retriever": {"type": "hybrid", "fusion": "rrf"}},
    "hybrid-weighted": {"retriever": {"type": "hybrid", "fusion": "weighted", "normalization": "minmax"}},
}
# Published nDCG@10 / Recall@100 on the same split and qrels (see the dataset README).
PUBLISHED = {
    "bm25": [("BM25 flat, Pyserini (k1=0.9, b=0.4)", 0.6789, 0.9253), ("BM25, BEIR paper (Elasticsearch)", 0.665, None)],
    "dense": [("all-MiniLM-L6-v2, MTEB", 0.6451, None)],
}
TARGETS = {"bm25": "≥ 0.675", "dense": "0.645 ± 0.01", "hybrid-rrf": "> both (≥ 0.70)", "hybrid-weighted": "> both"}


def ann_benchmark(index, queries: list[str], k: int = 10, repeats: int = 5) -> list[dict]:
    """Recall@k of HNSW / IVF-PQ against exact search, with build time and batched q/s."""
    from ragkit.indexes.faiss_index import DenseIndex
    from ragkit.retrievers.dense import DenseRetriever

    ids = index.dense.ids
    vectors = index.vectors(ids)
    dense = DenseRetriever(str(index.directory))
    dense.use_index(index)
    qvec = dense.embed_queries(queries)
    rows, truth = [], None
    for label, params in [
        ("flat (exact)", {"index_type": "flat"}),
        ("hnsw M=32 efC=200 efS=128", {"index_type": "hnsw"}),
        ("hnsw M=16 efC=100 efS=32", {"index_type": "hnsw", "hnsw_m": 16, "ef_construction": 100, "ef_search": 32}),
        ("ivfpq nprobe=16", {"index_type": "ivfpq"}),
    ]:
        ann = DenseIndex(vectors.shape[1], **params)
        start = time.perf_counter()
        ann.add(ids, vectors)
        build = time.perf_counter() - start
        ann.search(qvec[:1], k=k)
        start = time.perf_counter()
        for _ in range(repeats):
            hits = ann.search(qvec, k=k)
        qps = repeats * len(queries) / (time.perf_counter() - start)
        found = [[h.chunk_id for h in hs] for hs in hits]
        truth = truth or found
        recall = float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth) if t]))
        rows.append({"index": label, **ann.config(), "build_s": build, "queries_per_second": qps,
                     "recall_at_10_vs_flat": recall})
    return rows


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(results)
    ours = [results[name]["aggregate"]["ndcg@10"] for name in labels]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    bars = ax.bar(x - 0.2, ours, width=0.4, color="#4C72B0", label="ragkit (measured)")
    published = [PUBLISHED[name][0][1] if name in PUBLISHED else np.nan for name in labels]
    ref_bars = ax.bar(x + 0.2, published, width=0.4, color="#DD8452", label="published")
    for bar, value in list(zip(bars, ours)) + list(zip(ref_bars, published)):
        if not np.isnan(value):
            ax.text(bar.get_x() + bar.get_width() / 2, value + 0.004, f"{value:.3f}", ha="center", fontsize=8)
    ax.set_xticks(x, labels)
    ax.set_ylim(0.5, max(ours) + 0.05)
    ax.set_ylabel("nDCG@10")
    ax.set_title("BEIR SciFact (test, 300 queries)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    from ragkit.experiments.beir import evaluate_beir, load_beir
    from ragkit.models import cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--index", type=Path, default=cache_dir() / "bench" / "scifact-index")
    parser.add_argument("--k", type=int, default=1000, help="run depth")
    parser.add_argument("--faiss-threads", type=int, default=1,
                        help="OpenMP threads for the FAISS comparison (1: stable timings on a shared machine)")
    parser.add_argument("--rewriters", action="store_true",
                        help="then the query-rewriting and reranking rows (benchmarks/scifact_rewrite.py run)")
    args = parser.parse_args()

    data = load_beir(args.data)
    console.print(f"SciFact: {len(data.corpus):,} documents, {len(data.queries)} test queries; index {args.index}")
    start = time.perf_counter()
    results = evaluate_beir(data, args.index, SYSTEMS, k=args.k, metrics=METRICS, runs_dir=args.index.parent / "scifact-runs")
    elapsed = time.perf_counter() - start

    table = Table("retriever", *METRICS, "q/s", "published nDCG@10 / R@100", "target",
                  title="BEIR SciFact test (trec_eval -c, depth 1000)")
    for name, res in results.items():
        agg = res["aggregate"]
        refs = "; ".join(f"{label}: {n:.4f}" + (f" / {r:.4f}" if r else "") for label, n, r in PUBLISHED.get(name, []))
        table.add_row(name, *(f"{agg[m]:.4f}" for m in METRICS), f"{res['queries_per_second']:.0f}",
                      refs or "–", TARGETS.get(name, ""))
    console.print(table)

    import faiss

    from ragkit.indexes.index import Index

    faiss.omp_set_num_threads(args.faiss_threads)
    ann = ann_benchmark(Index.open(args.index), list(data.queries.values()))
    ann_table = Table("index", "build s", "queries/s (batched)", "recall@10 vs flat",
                      title=f"FAISS on SciFact MiniLM embeddings ({len(data.corpus):,} × 384, {len(data.queries)} "
                            f"queries, {args.faiss_threads} thread(s))")
    for row in ann:
        ann_table.add_row(row["index"], f"{row['build_s']:.3f}", f"{row['queries_per_second']:,.0f}",
                          f"{row['recall_at_10_vs_flat']:.4f}")
    console.print(ann_table)

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "dataset": "BEIR SciFact test", "n_docs": len(data.corpus), "n_queries": len(data.queries),
        "depth": args.k, "seconds_total": elapsed, "published": PUBLISHED, "targets": TARGETS,
        "retrieval": {name: {"config": SYSTEMS[name], "aggregate": res["aggregate"],
                             "queries_per_second": res["queries_per_second"]} for name, res in results.items()},
        "ann": ann, "faiss_threads": args.faiss_threads,
    }
    (RESULTS / "beir_scifact.json").write_text(json.dumps(out, indent=2))
    plot(results, RESULTS / "beir_scifact.png")
    console.print(f"wrote benchmarks/results/beir_scifact.json and .png ({elapsed:.0f} s for indexing + retrieval)")
    if args.rewriters:
        from benchmarks import scifact_rewrite

        scifact_rewrite.main(["run", "--data", str(args.data), "--index", str(args.index), "--depth", str(args.k)])


if __name__ == "__main__":
    main()
