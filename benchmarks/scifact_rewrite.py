"""BEIR SciFact: query rewriting (RM3, Rocchio, GenQR, HyDE, multi-query) and reranking rows.

Rows (trec_eval -c metrics over SciFact's test claims, ``ragkit.eval.retrieval``):

- all 300 claims, depth 1000: BM25, BM25 + RM3 (Pyserini's ``set_rm3(10, 10, 0.5)``), dense
  MiniLM, dense + Rocchio (5 docs, 0.4 / 0.6) and dense + average PRF (3 docs);
- LLM rows with the bundled SmolLM2-135M-Instruct: BM25 + GenQREnsemble / GenQRFusion (10
  instructions) and their feedback variants (BM25 top-3 in the prompt), BM25 + multi-query,
  dense + HyDE, and BM25 top-100 reranked by the LLM reranker (yes/no P(yes), and query
  likelihood), each next to its baseline on the same queries;
- BM25 top-100 reranked by a cross-encoder trained by ``benchmarks/scifact_tuning.py`` when its
  output directory exists (otherwise the row is skipped, saying so).

The LLM work is separable, so it can run where it is fast (a GPU) while everything else runs
here, replaying the recorded outputs through the same rewriter / reranker code:

    python benchmarks/scifact_rewrite.py prepare [--queries N]   # record every LLM request
    python benchmarks/scifact_rewrite.py llm --device cuda       # answer them (anywhere)
    python benchmarks/scifact_rewrite.py run                     # all rows, LLM rows replayed

``run`` without recorded chat outputs computes the rewriting rows live on a query subsample
(``--llm-queries``, default 100; 135M-model inference is slow on 2 CPUs). Without recorded
reranker scores it scores BM25's top ``--rerank-depth`` (20) for ``--rerank-queries`` (20) seeded
random claims here, caching each query's scores (``--rerank-cache``) so an interrupted run
resumes. Every subsampled row has its BM25 / dense baseline on the same claims. Results:
``benchmarks/results/scifact_rewrite.json``; ``beir_scifact.py --rewriters`` calls ``run``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import RESULTS, ROOT, offline  # noqa: E402

offline()

METRICS = ["ndcg@10", "recall@100", "recall@1000", "mrr@10", "map"]
RERANK_DEPTH = 100

# label -> (retriever, rewriter config); the LLM ones get the replay / live LLM injected.
PRF_ROWS = {
    "BM25 + RM3 (fb_docs=10, fb_terms=10, w=0.5)": ("bm25", {"type": "rm3"}),
    "dense + Rocchio (5 docs, α=0.4, β=0.6)": ("dense", {"type": "rocchio"}),
    "dense + average PRF (3 docs)": ("dense", {"type": "average-prf"}),
}
LLM_ROWS = {
    "BM25 + GenQREnsemble (10 instr.)": ("bm25", {"type": "genqr-ensemble"}),
    "BM25 + GenQRFusion (10 instr.)": ("bm25", {"type": "genqr-fusion"}),
    "BM25 + GenQREnsembleRF (top-3 PRF)": ("bm25", {"type": "genqr-ensemble-rf"}),
    "BM25 + GenQRFusionRF (top-3 PRF)": ("bm25", {"type": "genqr-fusion-rf"}),
    "BM25 + multi-query (3)": ("bm25", {"type": "multi-query"}),
    "dense + HyDE (1 passage)": ("dense", {"type": "hyde"}),
}
RERANK_ROWS = {"LLM yes/no P(yes)": "yes-no", "LLM query likelihood": "query-likelihood"}


def _key(messages: list[dict[str, str]], max_new_tokens: int | None) -> str:
    return json.dumps([messages, max_new_tokens], sort_keys=True, ensure_ascii=False)


class Recorder:
    """An LLM stand-in that records every chat request and answers nothing."""

    def __init__(self) -> None:
        self.requests: dict[str, dict[str, Any]] = {}

    def chat(self, conversations, max_new_tokens=None, stop=None):
        for conv in conversations:
            self.requests[_key(conv, max_new_tokens)] = {"messages": conv, "max_new_tokens": max_new_tokens}
        return [""] * len(conversations)


class Replay:
    """An LLM stand-in answering from recorded outputs (a missing request is an error)."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def chat(self, conversations, max_new_tokens=None, stop=None):
        try:
            return [self.answers[_key(conv, max_new_tokens)] for conv in conversations]
        except KeyError:
            raise RuntimeError("a request was not recorded: run `prepare` and `llm` again for these queries") from None


def _io(path: Path, data: Any = None) -> Any:
    if data is None:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
    return path


def _setup(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from ragkit.experiments.beir import load_beir
    from ragkit.indexes.index import Index

    data = load_beir(args.data)
    index = Index.create(args.index, data.chunks(), show_progress=True)  # a no-op when built
    return data, index, {"index": index, "dir": str(args.index)}


def _pipeline(where: dict[str, Any], retriever: str, rewriter: Any = None, llm: Any = None) -> Any:
    """The pipeline of one row (the same code as ``ragkit search``); ``llm`` replaces the rewriter's LLM."""
    from ragkit.pipeline import Pipeline

    pipeline = Pipeline(index=where["dir"], retriever=retriever, rewriter=rewriter).use_index(where["index"])
    if llm is not None:
        pipeline.component("rewriter").use_llm(llm)
    return pipeline


def _subset(qids: list[str], n: int | None) -> list[str]:
    return qids if not n or n >= len(qids) else sorted(random.Random(0).sample(qids, n))


def _retrieve(pipeline: Any, texts: list[str], depth: int, batch: int = 50) -> tuple[list, float]:
    hits, start = [], time.perf_counter()
    for lo in range(0, len(texts), batch):
        hits += pipeline.retrieve(texts[lo : lo + batch], depth)[0]
    return hits, time.perf_counter() - start


def _score(data: Any, qids: list[str], hits: list, seconds: float) -> dict[str, Any]:
    from ragkit.eval.retrieval import evaluate, run_from_hits

    qrels = {q: data.qrels[q] for q in qids}
    result = evaluate(qrels, run_from_hits(qids, hits), METRICS)
    return {"aggregate": result["aggregate"], "n_queries": len(qids), "seconds": round(seconds, 2),
            "queries_per_second": float(f"{len(qids) / seconds:.3g}") if seconds else None}


# -- prepare: record the LLM requests ------------------------------------------------------
def prepare(args: argparse.Namespace) -> None:
    data, _, retrievers = _setup(args)
    qids = _subset(list(data.queries), args.queries)
    texts = [data.queries[q] for q in qids]
    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every rewrite "fails" on the recorder's empty answers
        for label, (retriever, config) in LLM_ROWS.items():
            _retrieve(_pipeline(retrievers, retriever, config, recorder), texts, 10)
    candidates, _ = _retrieve(_pipeline(retrievers, "bm25"), texts, RERANK_DEPTH)
    docs = {h.chunk_id: h.chunk.text for hs in candidates for h in hs}
    requests = {
        "qids": qids, "queries": texts, "chat": list(recorder.requests.values()),
        "pairs": [[q, h.chunk_id] for q, hs in zip(qids, candidates) for h in hs], "passages": docs,
        "rerank_methods": list(RERANK_ROWS.values()),
    }
    path = _io(args.requests, requests)
    print(f"{len(requests['chat'])} chat requests and {len(requests['pairs'])} (query, passage) pairs "
          f"for {len(qids)} queries -> {path} ({path.stat().st_size / 1e6:.1f} MB)")


# -- llm: answer the recorded requests -----------------------------------------------------
def answer(args: argparse.Namespace) -> None:
    import torch

    from ragkit.llm import TransformersLLM
    from ragkit.rerankers.llm import LLMReranker

    torch.backends.cuda.matmul.allow_tf32 = args.tf32  # fp32 weights; TF32 matmuls only if asked
    requests = _io(args.requests)
    llm_config = {"type": "transformers", "model": args.model, "device": args.device, "batch_size": args.batch_size}
    llm = TransformersLLM(**{k: v for k, v in llm_config.items() if k != "type"})
    out: dict[str, Any] = {"chat": {}, "scores": {}, "seconds": {}, "model": args.model, "tf32": args.tf32,
                           "device": args.device, "torch": torch.__version__, "batch_size": args.batch_size}
    if args.device and args.device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(0)
    by_budget: dict[Any, list[dict]] = {}
    for req in requests["chat"]:
        by_budget.setdefault(req["max_new_tokens"], []).append(req)
    start = time.perf_counter()
    for budget, reqs in by_budget.items():
        replies = llm.chat([r["messages"] for r in reqs], max_new_tokens=budget)
        out["chat"].update({_key(r["messages"], budget): reply for r, reply in zip(reqs, replies)})
    out["seconds"]["chat"] = round(time.perf_counter() - start, 1)
    _io(args.outputs, out)  # partial results survive a later failure
    queries = dict(zip(requests["qids"], requests["queries"]))
    pairs = [(queries[q], requests["passages"][d]) for q, d in requests["pairs"]]
    for method in requests["rerank_methods"]:
        start = time.perf_counter()
        reranker = LLMReranker(llm=llm_config, method=method, batch_size=args.batch_size)
        scores = reranker.score(pairs)
        out["scores"][method] = {f"{q}\t{d}": s for (q, d), s in zip(requests["pairs"], scores)}
        out["seconds"][method] = round(time.perf_counter() - start, 1)
        _io(args.outputs, out)
    print(json.dumps(out["seconds"]), out.get("gpu", platform.processor()))


# -- run: every row ------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    from ragkit.registry import build

    console = Console(width=160)
    data, index, retrievers = _setup(args)
    qids = list(data.queries)
    texts = [data.queries[q] for q in qids]
    rows: dict[str, Any] = {}
    runs: dict[str, list] = {}

    def add(label: str, qs: list[str], hits: list, seconds: float, note: str = "") -> None:
        rows[label] = {**_score(data, qs, hits, seconds), "note": note}
        console.print(f"{label}: {rows[label]['aggregate']['ndcg@10']:.4f} ({seconds:.0f} s)")

    for name in ("bm25", "dense"):
        runs[name], seconds = _retrieve(_pipeline(retrievers, name), texts, args.depth)
        add(name, qids, runs[name], seconds)
    for label, (retriever, config) in PRF_ROWS.items() if "prf" in args.rows else ():
        hits, seconds = _retrieve(_pipeline(retrievers, retriever, config), texts, args.depth)
        add(label, qids, hits, seconds)

    # LLM rows: replayed from recorded outputs, or live on a subsample
    outputs = _io(args.outputs) if args.outputs.is_file() else None
    if outputs is not None:
        sub = _io(args.requests)["qids"]
        llm: Any = Replay(outputs["chat"])
        where = f"LLM outputs computed on {outputs.get('gpu') or outputs['device']} ({outputs['model']})"
        timing = (f"q/s of the replayed LLM rows counts retrieval only: the LLM answered all "
                  f"{len(outputs['chat']):,} chat requests in {outputs['seconds'].get('chat', 0):.1f} s on "
                  f"{outputs.get('gpu') or outputs['device']} (batch {outputs.get('batch_size')}, greedy)")
    else:
        sub = _subset(qids, args.llm_queries)
        llm = build("llm", {"type": "transformers", "model": args.model})
        where = f"LLM run live on this machine's CPU ({args.model})"
        timing = "q/s of the LLM rows includes the LLM, run on this machine's CPU"
    pos = {q: i for i, q in enumerate(qids)}
    sub_texts = [data.queries[q] for q in sub]
    for name in ("bm25", "dense"):
        add(f"{name} (same {len(sub)} queries)", sub, [runs[name][pos[q]] for q in sub], 0.0, "baseline for the LLM rows")
    for label, (retriever, config) in LLM_ROWS.items() if "llm" in args.rows else ():
        pipeline = _pipeline(retrievers, retriever, config, llm)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hits, seconds = _retrieve(pipeline, sub_texts, args.depth)
        fallbacks = sum("searching with the original" in str(w.message) for w in caught)
        add(label, sub, hits, seconds, f"{where}; {fallbacks} fallback warning(s)")
    for name, method in RERANK_ROWS.items() if "rerank" in args.rows else ():
        recorded = (outputs or {}).get("scores", {}).get(method)
        if recorded:
            rq, depth, source = sub, RERANK_DEPTH, where
            seconds = outputs["seconds"].get(method, 0.0)
        else:  # live on this CPU: a smaller subsample and depth, scores cached and resumable
            rq, depth = _subset(qids, args.rerank_queries), args.rerank_depth
            source = f"LLM run live on this machine's CPU ({args.model})"
            recorded = _live_scores(args, method, data, rq, [runs["bm25"][pos[q]][:depth] for q in rq])
            seconds = recorded.get("_seconds", 0.0)
        baseline = f"bm25 top-{depth} (same {len(rq)} queries)"
        if baseline not in rows:
            add(baseline, rq, [runs["bm25"][pos[q]][:depth] for q in rq], 0.0, "baseline for the rerank rows")
        candidates = [runs["bm25"][pos[q]][:depth] for q in rq]
        scores = [recorded[f"{q}\t{h.chunk_id}"] for q, hs in zip(rq, candidates) for h in hs]
        add(f"BM25 top-{depth} + {name}", rq, _ranked_lists(candidates, scores), seconds, source)
    ce = Path(args.cross_encoder).expanduser()
    if "cross-encoder" not in args.rows:
        pass
    elif (ce / "config.json").is_file():
        from ragkit.pipeline import Pipeline

        pipeline = Pipeline(index=retrievers["dir"], retriever="bm25", reranker={"type": "cross-encoder", "model": str(ce)},
                            rerank_k=RERANK_DEPTH).use_index(retrievers["index"])
        hits, seconds = _retrieve(pipeline, texts, RERANK_DEPTH)
        add(f"BM25 top-{RERANK_DEPTH} + cross-encoder (scifact_tuning)", qids, hits, seconds, str(ce))
    else:
        rows[f"BM25 top-{RERANK_DEPTH} + cross-encoder"] = {"skipped": f"no cross-encoder at {ce}; run benchmarks/scifact_tuning.py"}

    table = Table("row", "queries", *METRICS, "q/s", "note", title="BEIR SciFact test: rewriting and reranking (trec_eval -c)")
    for label, row in rows.items():
        if "skipped" in row:
            table.add_row(label, "–", *([""] * len(METRICS)), "", row["skipped"])
            continue
        agg = row["aggregate"]
        table.add_row(label, str(row["n_queries"]), *(f"{agg[m]:.4f}" for m in METRICS),
                      f"{row['queries_per_second']:.3g}" if row["queries_per_second"] else "", row.get("note", ""))
    console.print(table)
    console.print(f"{where}. {timing}.")
    result = {"dataset": "BEIR SciFact test", "depth": args.depth, "llm_queries": len(sub), "llm": where, "timing": timing,
              "machine": f"{platform.machine()} {os.cpu_count()} CPUs", "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scifact_rewrite.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    console.print("wrote benchmarks/results/scifact_rewrite.json")
    return result


def _live_scores(args: argparse.Namespace, method: str, data: Any, qids: list[str], candidates: list) -> dict:
    """LLM reranker scores for each (query, candidate), computed here and cached in ``--rerank-cache``."""
    from ragkit.rerankers.base import hit_text
    from ragkit.rerankers.llm import LLMReranker

    cache = json.loads(args.rerank_cache.read_text()) if args.rerank_cache.is_file() else {}
    table = cache.setdefault(method, {})
    reranker = LLMReranker(method=method, llm={"type": "transformers", "model": args.model})
    for n, (q, hs) in enumerate(zip(qids, candidates), start=1):
        todo = [h for h in hs if f"{q}\t{h.chunk_id}" not in table]
        if not todo:
            continue
        start = time.perf_counter()
        for h, score in zip(todo, reranker.score([(data.queries[q], hit_text(h)) for h in todo])):
            table[f"{q}\t{h.chunk_id}"] = score
        table["_seconds"] = table.get("_seconds", 0.0) + time.perf_counter() - start
        args.rerank_cache.write_text(json.dumps(cache))
        print(f"{method}: {n}/{len(qids)} queries scored", flush=True)
    return table


def _ranked_lists(candidates: list, scores: list[float]) -> list:
    """Per query, its candidates reordered by their slice of ``scores`` (what ``rerank`` does)."""
    from ragkit.rerankers.base import ranked

    out, start = [], 0
    for hs in candidates:
        out.append(ranked(hs, scores[start : start + len(hs)], RERANK_DEPTH, "llm"))
        start += len(hs)
    return out


def main(argv: list[str] | None = None) -> None:
    from ragkit.models import cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", nargs="?", default="run", choices=["prepare", "llm", "run"])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--index", type=Path, default=cache_dir() / "bench" / "scifact-index")
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=None, help="prepare: LLM requests for this many queries (default all)")
    parser.add_argument("--llm-queries", type=int, default=100, help="run without recorded outputs: live LLM subsample")
    parser.add_argument("--rerank-queries", type=int, default=20, help="LLM reranking without recorded scores: subsample")
    parser.add_argument("--rerank-depth", type=int, default=20, help="LLM reranking without recorded scores: BM25 depth")
    parser.add_argument("--rerank-cache", type=Path, default=cache_dir() / "bench" / "scifact-llm-rerank-scores.json")
    parser.add_argument("--requests", type=Path, default=cache_dir() / "bench" / "scifact-llm-requests.json.gz")
    parser.add_argument("--outputs", type=Path, default=cache_dir() / "bench" / "scifact-llm-outputs.json.gz")
    parser.add_argument("--rows", type=lambda v: set(v.split(",")), default={"prf", "llm", "rerank", "cross-encoder"},
                        help="run: which row groups (comma-separated: prf,llm,rerank,cross-encoder)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tf32", action="store_true", help="llm on a GPU: allow TF32 matmuls")
    parser.add_argument("--cross-encoder", default=str(cache_dir() / "bench" / "scifact-tuning" / "reranker-plain"))
    args = parser.parse_args(argv)
    {"prepare": prepare, "llm": answer, "run": run}[args.step](args)


if __name__ == "__main__":
    main()
