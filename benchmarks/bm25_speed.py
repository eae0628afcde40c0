"""BM25 speed: ragkit's BM25Index vs rank-bm25 vs llama-index's BM25Retriever, same corpora.

Corpora: BEIR SciFact (5,183 abstracts, 300 claims) and a synthetic corpus of 100k documents
(Zipf-distributed pseudo-words, 40-200 words each; queries are 3-8 words drawn from random
documents). Every system indexes the same texts and answers the same queries (top 10):

- ragkit: ``BM25Index`` (lucene, k1=0.9, b=0.4) — its own analyzer (word split, identifier
  split, stopwords, Snowball stemming) runs inside both the build and every query; the
  "filtered" row also applies a metadata filter (an allowed-id set of half the corpus).
- rank-bm25: ``BM25Okapi`` over ragkit's analyzer output (analysis time counted in its build and
  its queries); at 100k documents it does ~3 q/s, so it is timed on a query subsample.
- llama-index: ``BM25Retriever.from_defaults`` (bm25s with its own tokenizer + stemmer),
  queried through ``retrieve(query)``.

    .venv/bin/python benchmarks/bm25_speed.py [--docs 100000] [--queries 1000] [--rank-bm25-queries 20]

Prints one table (build seconds, queries/s, ratios vs rank-bm25) and writes
``benchmarks/results/bm25_speed.json``. Single process; timings are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DISABLE_TQDM", "1")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
console = Console(width=max(Console().width, 132))


def synthetic(n_docs: int, n_queries: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Zipf-distributed pseudo-word documents and queries drawn from them."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pu", "ga", "do", "fi", "be", "xo"]
    vocab_size = 50_000
    words = np.array(
        ["".join(rng.choice(syllables, size=rng.integers(2, 5))) + str(i % 7) for i in range(vocab_size)]
    )
    p = 1.0 / np.arange(1, vocab_size + 1) ** 1.05
    p /= p.sum()
    lengths = rng.integers(40, 200, size=n_docs)
    ids = rng.choice(vocab_size, size=int(lengths.sum()), p=p)
    docs, start = [], 0
    for n in lengths:
        docs.append(" ".join(words[ids[start : start + n]]))
        start += n
    queries = []
    for d in rng.integers(0, n_docs, size=n_queries):
        toks = docs[d].split()
        queries.append(" ".join(rng.choice(toks, size=min(len(toks), int(rng.integers(3, 9))), replace=False)))
    return docs, queries


def scifact() -> tuple[list[str], list[str]]:
    from ragkit.experiments.beir import load_beir

    data = load_beir(SCIFACT)
    return [c.text for c in data.chunks()], list(data.queries.values())


def best_of(repeats: int, build):
    """(fastest wall time, last result) of ``repeats`` calls of ``build()``."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = build()
        times.append(time.perf_counter() - start)
    return min(times), result


def time_ragkit(docs, queries, filtered: bool, repeats: int) -> dict:
    from ragkit.indexes.bm25 import BM25Index

    ids = [str(i) for i in range(len(docs))]

    def build():
        index = BM25Index()
        index.add(ids, docs)
        index.engine  # noqa: B018 - builds the bm25s score matrix
        return index

    build_s, index = best_of(repeats, build)
    allowed = frozenset(ids[::2]) if filtered else None
    index.search([queries[0]], k=10, allowed=allowed)  # warm-up (and the filter mask)
    start = time.perf_counter()
    for q in queries:
        index.search([q], k=10, allowed=allowed)
    return {"build_s": build_s, "qps": len(queries) / (time.perf_counter() - start), "n_queries": len(queries)}


def time_rank_bm25(docs, queries, repeats: int) -> dict:
    from rank_bm25 import BM25Okapi

    from ragkit.indexes.tokenize import Analyzer

    build_s, index = best_of(repeats, lambda: BM25Okapi(Analyzer().many(docs)))
    analyzer = Analyzer()
    start = time.perf_counter()
    for q in queries:
        scores = index.get_scores(analyzer(q))
        np.argsort(-scores)[:10]
    return {"build_s": build_s, "qps": len(queries) / (time.perf_counter() - start), "n_queries": len(queries)}


def time_llama_index(docs, queries, repeats: int) -> dict:
    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

    nodes = [TextNode(text=t, id_=str(i)) for i, t in enumerate(docs)]
    build_s, retriever = best_of(repeats, lambda: BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=10))
    retriever.retrieve(queries[0])
    start = time.perf_counter()
    for q in queries:
        retriever.retrieve(q)
    return {"build_s": build_s, "qps": len(queries) / (time.perf_counter() - start), "n_queries": len(queries)}


def warm_up() -> None:
    """Import and exercise every library once, so no timing pays for an import."""
    from ragkit.indexes.bm25 import BM25Index

    index = BM25Index()
    index.add(["a", "b"], ["warm up text", "another document"])
    index.search(["text"])
    time_rank_bm25(["warm up text", "another document"], ["text"], 1)
    time_llama_index(["warm up text", "another document"], ["text"], 1)


def bench(name: str, docs: list[str], queries: list[str], rank_bm25_queries: int, repeats: int) -> dict:
    console.print(f"[bold]{name}[/]: {len(docs):,} documents, {len(queries):,} queries")
    rows = {
        "ragkit": time_ragkit(docs, queries, filtered=False, repeats=repeats),
        "ragkit (filtered)": time_ragkit(docs, queries, filtered=True, repeats=1),
        "rank-bm25": time_rank_bm25(docs, queries[:rank_bm25_queries], repeats=repeats),
        "llama-index BM25Retriever": time_llama_index(docs, queries, repeats=repeats),
    }
    base = rows["rank-bm25"]
    for row in rows.values():
        row["qps_vs_rank_bm25"] = row["qps"] / base["qps"]
        row["build_vs_rank_bm25"] = row["build_s"] / base["build_s"]
    return {"corpus": name, "n_docs": len(docs), "n_queries": len(queries), "systems": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="synthetic corpus size")
    parser.add_argument("--queries", type=int, default=1000, help="synthetic queries")
    parser.add_argument("--rank-bm25-queries", type=int, default=20, help="rank-bm25 subsample at 100k docs")
    parser.add_argument("--repeats", type=int, default=3, help="builds timed per system (fastest kept)")
    parser.add_argument("--skip-scifact", action="store_true")
    args = parser.parse_args()

    warm_up()
    results = []
    if not args.skip_scifact:
        docs, queries = scifact()
        results.append(bench("scifact", docs, queries, len(queries), args.repeats))
    docs, queries = synthetic(args.docs, args.queries)
    results.append(bench(f"synthetic-{args.docs // 1000}k", docs, queries, args.rank_bm25_queries, args.repeats))

    table = Table("corpus", "system", "build s", "build ÷ rank-bm25", "queries/s", "q/s × rank-bm25", "queries timed",
                  title="BM25 speed (top-10, one query per call, analysis included; build = fastest of "
                  f"{args.repeats}; rank-bm25 q/s on the first {args.rank_bm25_queries} synthetic queries)")
    for res in results:
        for system, row in res["systems"].items():
            table.add_row(
                f"{res['corpus']} ({res['n_docs']:,})", system, f"{row['build_s']:.2f}",
                f"{row['build_vs_rank_bm25']:.2f}", f"{row['qps']:,.1f}", f"{row['qps_vs_rank_bm25']:,.0f}×",
                str(row["n_queries"]),
            )
    console.print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bm25_speed.json"
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "build_repeats": args.repeats, "rank_bm25_synthetic_queries": args.rank_bm25_queries}
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
