"""BM25 speed: ragkit's BM25Index beside bm25s, rank-bm25 and llama-index, same texts, same run.

Two questions, answered separately so neither favours ragkit by construction:

1. **Scoring + top-10 on the same matrix** (queries already analyzed into ragkit's terms; every
   system is handed the same term lists). bm25s loads the very index ragkit saved (same score
   matrix, bm25s' file layout), so the rows differ only in their query kernels: ragkit numpy /
   numba vs bm25s numpy / numba, one query per call and all queries in one call (batch).
   ``--previous REF`` adds ragkit's BM25 as of git ``REF`` (the code before this rewrite).
2. **End to end from the query text** (analysis included): ragkit ``search``, rank-bm25
   ``BM25Okapi`` over ragkit's analyzer output (slow: timed on a subsample), llama-index's
   ``BM25Retriever`` (bm25s with its own tokenizer).

Every system is warmed once (imports, numba compilation, filter masks) before timing; the
timed rounds alternate the systems (rotated order each round); medians and min–max spread over
rounds are printed, with the machine's load average before and after. A growth table builds
synthetic corpora of 10k / 100k (``--growth``) documents in fresh processes: build seconds, peak
RSS, one-query and batch q/s.

    .venv/bin/python benchmarks/bm25_speed.py [--rounds 5] [--docs 100000] [--previous b1f6ca3]

Writes ``benchmarks/results/bm25_speed.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import RESULTS, ROOT, alternate, offline  # noqa: E402

offline(DISABLE_TQDM="1")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
console = Console(width=max(Console().width, 140))


def synthetic(n_docs: int, n_queries: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Zipf-distributed pseudo-word documents (40-200 words) and 3-8 word queries drawn from them."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pu", "ga", "do", "fi", "be", "xo"]
    vocab_size = 50_000
    words = np.array(
        ["".join(rng.choice(syllables, size=rng.integers(2, 5))) + "q" * (i % 7) for i in range(vocab_size)]
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


def load_previous(ref: str):
    """ragkit's ``indexes/bm25.py`` as of git ``ref``, imported as a separate module."""
    source = subprocess.run(["git", "show", f"{ref}:ragkit/indexes/bm25.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "bm25_previous.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("bm25_previous", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BM25Index


def same_matrix(docs: list[str], queries: list[str], rounds: int, previous_ref: str | None) -> dict:
    """Question 1: kernels on one score matrix, pre-analyzed queries."""
    import bm25s

    from ragkit.indexes.bm25 import BM25Index

    ids = [str(i) for i in range(len(docs))]
    index = BM25Index(backend="numpy")
    index.add(ids, docs)
    terms = [index.analyzer(q) for q in queries]
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "bm25")
        fast = BM25Index.load(Path(tmp) / "bm25", backend="numba")
        theirs = bm25s.BM25.load(Path(tmp) / "bm25", show_progress=False)
    # every system answers every query with the same top-10 (ids and order), or the rows mean nothing
    ours_top = [rows.tolist() for rows, _ in index.search_arrays(terms, 10)]
    their_top, _ = theirs.retrieve(terms, k=10, backend_selection="numpy", show_progress=False)
    agree = sum(set(a) == set(b.tolist()) for a, b in zip(ours_top, their_top))

    def one(search):
        def run() -> int:
            for t in terms:
                search([t])
            return len(terms)
        return run

    def batch(search):
        def run() -> int:
            search(terms)
            return len(terms)
        return run

    def bm25s_call(backend):
        return lambda qs: theirs.retrieve(qs, k=10, backend_selection=backend, show_progress=False, n_threads=1)

    systems = {
        "ragkit numpy": one(lambda qs: index.search_arrays(qs, 10)),
        "bm25s numpy": one(bm25s_call("numpy")),
        "ragkit numba": one(lambda qs: fast.search_arrays(qs, 10)),
        "bm25s numba": one(bm25s_call("numba")),
    }
    if previous_ref:
        old = load_previous(previous_ref)()
        old.add(ids, docs)
        # that version built a bm25s.BM25, whose backend="auto" jit-compiles its scorer once numba is
        # installed; numba was not a dependency then, so time it as shipped: bm25s' numpy scorer
        vars(old.engine).pop("_compute_relevance_from_scores", None)
        systems[f"ragkit @{previous_ref}"] = one(lambda qs: old.search_terms(qs, 10))
    batches = {
        "ragkit numpy (batch)": batch(lambda qs: index.search_arrays(qs, 10)),
        "bm25s numpy (batch)": batch(bm25s_call("numpy")),
        "ragkit numba (batch)": batch(lambda qs: fast.search_arrays(qs, 10)),
        "bm25s numba (batch)": batch(
            lambda qs: theirs.retrieve(qs, k=10, backend_selection="numba", show_progress=False, n_threads=0)
        ),
    }
    return {"top10_sets_equal_bm25s": agree, "one_query": alternate(systems, rounds),
            "batch": alternate(batches, rounds)}


def end_to_end(docs: list[str], queries: list[str], rounds: int, rank_bm25_queries: int) -> dict:
    """Question 2: from query text to top-10 (analysis included), builds timed too."""
    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever
    from rank_bm25 import BM25Okapi

    from ragkit.indexes.bm25 import BM25Index
    from ragkit.indexes.tokenize import Analyzer

    ids = [str(i) for i in range(len(docs))]
    analyzer = Analyzer()
    nodes = [TextNode(text=t, id_=i) for i, t in zip(ids, docs)]

    def build_ragkit():
        index = BM25Index()
        index.add(ids, docs)
        index.matrix  # noqa: B018 - builds the score matrix
        return index

    builds = {
        "ragkit": build_ragkit,
        "rank-bm25": lambda: BM25Okapi(analyzer.many(docs)),
        "llama-index BM25Retriever": lambda: BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=10),
    }
    built, build_s = {}, {name: [] for name in builds}
    for r in range(rounds if len(docs) < 20_000 else 1):
        for name in list(builds)[r % 3 :] + list(builds)[: r % 3]:
            start = time.perf_counter()
            built[name] = builds[name]()
            build_s[name].append(time.perf_counter() - start)
    ragkit, okapi, llama = built["ragkit"], built["rank-bm25"], built["llama-index BM25Retriever"]
    sub = queries[:rank_bm25_queries]

    def rank_bm25_run() -> int:
        for q in sub:
            scores = okapi.get_scores(analyzer(q))
            np.argpartition(-scores, 10)[:10]
        return len(sub)

    def each(fn):
        def run() -> int:
            for q in queries:
                fn(q)
            return len(queries)
        return run

    qps = alternate({
        "ragkit": each(lambda q: ragkit.search([q], k=10)),
        "rank-bm25": rank_bm25_run,
        "llama-index BM25Retriever": each(llama.retrieve),
    }, rounds)
    for name, row in qps.items():
        row["build_s_median"] = statistics.median(build_s[name])
        row["queries_timed"] = len(sub) if name == "rank-bm25" else len(queries)
    return qps


def growth_child(n_docs: int, n_queries: int) -> None:
    """One growth-table row, in its own process so peak RSS is this build's."""
    from ragkit.indexes.bm25 import BM25Index

    docs, queries = synthetic(n_docs, n_queries)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    index = BM25Index(backend="numba")
    index.add([str(i) for i in range(n_docs)], docs)
    index.matrix  # noqa: B018
    build_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    terms = [index.analyzer(q) for q in queries]
    row = {"n_docs": n_docs, "build_s": build_s, "peak_rss_mb": peak / 1024, "build_rss_mb": (peak - before) / 1024}
    for backend in ("numpy", "numba"):
        index.backend, index._backend = backend, backend
        index.search_arrays(terms[:40], 10)  # warm-up (numba compile / cache load)
        start = time.perf_counter()
        for t in terms:
            index.search_arrays([t], 10)
        row[f"{backend}_one_qps"] = len(terms) / (time.perf_counter() - start)
        start = time.perf_counter()
        index.search_arrays(terms, 10)
        row[f"{backend}_batch_qps"] = len(terms) / (time.perf_counter() - start)
    print(json.dumps(row))


def growth(sizes: list[int], n_queries: int) -> list[dict]:
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--growth-child", str(n), "--queries", str(n_queries)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            rows.append({"n_docs": n, "error": out.stderr.strip().splitlines()[-1][:200]})
        else:
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def print_tables(report: dict) -> None:
    for corpus in report["corpora"]:
        head = f"{corpus['corpus']} ({corpus['n_docs']:,} docs, {corpus['n_queries']:,} queries)"
        same = corpus["same_matrix"]
        table = Table("mode", "system", "q/s median", "min–max", title=f"{head}: scoring + top-10 on one matrix "
                      f"(top-10 sets equal to bm25s for {same['top10_sets_equal_bm25s']}/{corpus['n_queries']})")
        for mode in ("one_query", "batch"):
            base = same[mode]["bm25s numpy" if mode == "one_query" else "bm25s numpy (batch)"]["qps_median"]
            for name, row in same[mode].items():
                table.add_row(mode, name, f"{row['qps_median']:,.0f} ({row['qps_median'] / base:.2f}× bm25s numpy)",
                              f"{row['qps_min']:,.0f}–{row['qps_max']:,.0f}")
        console.print(table)
        e2e = corpus["end_to_end"]
        table = Table("system", "build s", "q/s median", "min–max", "queries timed", title=f"{head}: end to end")
        for name, row in e2e.items():
            table.add_row(name, f"{row['build_s_median']:.2f}", f"{row['qps_median']:,.1f}",
                          f"{row['qps_min']:,.1f}–{row['qps_max']:,.1f}", str(row["queries_timed"]))
        console.print(table)
    if report["growth"]:
        table = Table("docs", "build s", "peak RSS MB", "numpy 1q q/s", "numba 1q q/s", "numpy batch", "numba batch",
                      title="growth (synthetic corpus, fresh process per size)")
        for row in report["growth"]:
            if "error" in row:
                table.add_row(f"{row['n_docs']:,}", row["error"], "", "", "", "", "")
                continue
            table.add_row(f"{row['n_docs']:,}", f"{row['build_s']:.1f}", f"{row['peak_rss_mb']:,.0f}",
                          *(f"{row[k]:,.0f}" for k in ("numpy_one_qps", "numba_one_qps", "numpy_batch_qps",
                                                        "numba_batch_qps")))
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="synthetic corpus size")
    parser.add_argument("--queries", type=int, default=1000, help="synthetic queries")
    parser.add_argument("--rounds", type=int, default=5, help="alternated timing rounds per system")
    parser.add_argument("--rank-bm25-queries", type=int, default=20, help="rank-bm25 subsample (it is slow)")
    parser.add_argument("--previous", default=None, help="git ref of an earlier ragkit BM25 to time beside")
    parser.add_argument("--growth", default="10000,100000", help="growth-table sizes ('' to skip)")
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument("--growth-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.growth_child:
        growth_child(args.growth_child, args.queries)
        return

    corpora = []
    if not args.skip_scifact and SCIFACT.exists():
        corpora.append(("scifact", *scifact(), None))
    corpora.append((f"synthetic-{args.docs // 1000}k", *synthetic(args.docs, args.queries), args.rank_bm25_queries))
    report = {"meta": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                       "processor": platform.processor(), "rounds": args.rounds}, "corpora": [], "growth": []}
    for name, docs, queries, sub in corpora:
        console.print(f"[bold]{name}[/]: {len(docs):,} documents, {len(queries):,} queries")
        load_before = os.getloadavg()
        row = {"corpus": name, "n_docs": len(docs), "n_queries": len(queries),
               "same_matrix": same_matrix(docs, queries, args.rounds, args.previous),
               "end_to_end": end_to_end(docs, queries, args.rounds, sub or len(queries))}
        row["load_avg_before_after"] = [load_before, os.getloadavg()]
        report["corpora"].append(row)
    sizes = [int(s) for s in args.growth.split(",") if s]
    report["growth"] = growth(sizes, min(args.queries, 300))
    print_tables(report)
    console.print(f"load average (1/5/15 min) at start and end of each corpus: "
                  f"{[c['load_avg_before_after'] for c in report['corpora']]}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bm25_speed.json"
    out.write_text(json.dumps(report, indent=2))
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
