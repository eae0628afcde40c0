"""SciFact: fine-tuned retriever vs base MiniLM, and trained rerankers (plain vs CAR) over BM25.

Training data are SciFact's real training claims (``claims_train.csv``: 809 claims, 919
claim-document pairs from ``cited_doc_ids``); evaluation is BEIR's SciFact test split (300
claims, ``qrels-test.tsv``), scored with ``ragkit.eval.retrieval`` (trec_eval-exact). Rows:

- BM25 (ragkit's bm25 index, ``ragkit.experiments.beir.evaluate_beir``);
- MiniLM base vs MiniLM fine-tuned (``RetrieverTuner``: MNRL, no-duplicate batches);
- BM25 top-``depth`` reranked by a cross-encoder trained from MiniLM on the training claims with
  BM25 hard negatives (``RerankerTuner``), with the training queries as they are (plain) or
  rewritten by CAR (SmolLM2-135M, ambiguous claims only), alone and interpolated with the BM25
  score (``CrossEncoderReranker(first_stage_weight=w)``, w chosen on the dev claims);

plus the published reference numbers (BEIR paper / MTEB). Each training run's wall time on this
machine is in the table (peak RSS in the JSON); JSON goes to ``--out`` (default
``benchmarks/results/scifact_tuning.json``), a chart beside it (``.png``). Hyper-parameters and
the BM25 weight are chosen on a dev split of the training claims (every 7th), never on test.

    .venv/bin/python benchmarks/scifact_tuning.py [--data ../shared/data/scifact] [--depth 20]
    # the CPU run in benchmarks/results/scifact_tuning_cpu.json (settings chosen on dev earlier):
    .venv/bin/python benchmarks/scifact_tuning.py --depth 100 --stages reranker \
        --reranker-config "mnrl lr=1e-4 epochs=2" --out benchmarks/results/scifact_tuning_cpu.json
    .venv/bin/python benchmarks/scifact_tuning.py --stages retriever \
        --retriever-config "mnrl lr=5e-5 epochs=3 +1 BM25 hard negative" --out benchmarks/results/scifact_tuning_cpu.json

The data stay where they are (CC BY-NC 4.0, evaluation use only); models and indexes go to
``--work`` (default ``~/.cache/ragkit/bench/scifact-tuning``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import re
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import RESULTS, ROOT, offline  # noqa: E402

offline()

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console(width=150)

PUBLISHED = {
    "BM25 (BEIR paper, Elasticsearch)": 0.665,
    "all-MiniLM-L6-v2 dense (MTEB)": 0.6451,
    "BM25 top-100 + ms-marco-MiniLM-L-6 cross-encoder (BEIR paper)": 0.688,
}


def train_pairs(data: Path, corpus: dict[str, str]):
    """One QAPair per (training claim, cited document); the claim's other cited docs are extra contexts."""
    from ragkit.tuning.data import QAPair

    with zipfile.ZipFile(data / "scifact.zip") as zf:
        name = next(n for n in zf.namelist() if n.endswith("claims_train.csv"))
        rows = list(csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8")))
    cited: dict[str, tuple[str, list[str]]] = {}
    for row in rows:
        ids = [d for d in re.findall(r"\d+", row["cited_doc_ids"]) if d in corpus]
        claim, seen = cited.setdefault(row["id"], (row["claim"], []))
        seen.extend(d for d in ids if d not in seen)
    pairs = []
    for qid, (claim, ids) in cited.items():
        for d in ids:
            others = [corpus[o] for o in ids if o != d]
            pairs.append(QAPair(question=claim, chunk_id=d, source=d, contexts=[corpus[d]] + others,
                                metadata={"claim_id": qid}))
    return pairs


def _machine(device: str | None) -> str:
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.machine()}, {os.cpu_count()} cores"


def _subset(test, train, n: int):
    """A small slice for smoke tests: n test claims, n training pairs, their docs + 500 others."""
    import random

    from ragkit.experiments.beir import BeirDataset

    qids = sorted(test.queries)[:n]
    train = train[:n]
    keep = {d for q in qids for d in test.qrels[q]} | {p.chunk_id for p in train}
    keep |= set(random.Random(0).sample(sorted(test.corpus), 500))
    small = BeirDataset(name=test.name, corpus={d: test.corpus[d] for d in sorted(keep)},
                        queries={q: test.queries[q] for q in qids}, qrels={q: test.qrels[q] for q in qids})
    texts = {c.id: c.text for c in small.chunks()}
    for p in train:
        p.contexts = [t for t in p.contexts if t in texts.values()] or [texts[p.chunk_id]]
    return small, train


def plot(results: dict, path: Path) -> None:
    """nDCG@10 of every row beside the published references, and the reranker/BM25 interpolation curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {k: v for k, v in results["rows"].items() if "candidates" not in k}
    dev_curves = results.get("selection", {}).get("interpolation", {})
    dev_curve = dev_curves.get(results.get("reranker_choice")) or next(iter(dev_curves.values()), None)
    curves = {"dev claims (weight chosen here)": dev_curve}
    record = results.get("reranker_plain_record") or {}
    curves["test"] = record.get("interpolation")
    curves = {k: v for k, v in curves.items() if v}
    fig, axes = plt.subplots(1, 2 if curves else 1, figsize=(13 if curves else 8, 5.2), squeeze=False,
                             gridspec_kw={"width_ratios": [2, 1]} if curves else None)
    ax = axes[0][0]
    names = list(rows)
    values = [rows[n]["ndcg@10"] for n in names]
    ax.barh(range(len(names)), values, color="#4C72B0")
    for i, v in enumerate(values):
        ax.text(v + 0.003, i, f"{v:.3f}", va="center", fontsize=8)
    for (name, v), color in zip(PUBLISHED.items(), ("#DD8452", "#55A868", "#C44E52")):
        ax.axvline(v, color=color, ls="--", lw=1, label=f"{name}: {v:.3f}")
    ax.set_yticks(range(len(names)), [n if len(n) < 70 else n[:67] + "..." for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(min(values + list(PUBLISHED.values())) - 0.08, max(values) + 0.05)
    ax.set_xlabel("nDCG@10 (SciFact test)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    if curves:
        ax = axes[0][1]
        for label, curve in curves.items():
            ax.plot([float(w) for w in curve], list(curve.values()), marker="o", label=label)
        if "first_stage_weight" in results:
            ax.axvline(results["first_stage_weight"], color="grey", ls=":", lw=1)
        ax.set_xlabel("BM25 weight (0: cross-encoder only, 1: BM25 only)", fontsize=8)
        ax.set_ylabel("nDCG@10")
        ax.set_title("cross-encoder / BM25 interpolation", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(f"SciFact tuning; {results.get('machine', '')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def significance(results: dict, work: Path, task, qrels, depth: int) -> None:
    """Paired randomization / t-tests on per-query nDCG@10: rerankers vs BM25, CAR vs plain."""
    from ragkit.eval.retrieval import read_run
    from ragkit.eval.significance import compare_runs
    from ragkit.tuning.evaluate import first_stage_run, interpolate_run
    from ragkit.tuning.reranker import EVAL_RUN

    weight = results.get("first_stage_weight")
    bm25 = first_stage_run(task, depth)
    runs = {"BM25": bm25}
    for label in ("plain", "car"):
        path = work / f"reranker-{label}" / EVAL_RUN
        if path.is_file() and weight is not None:
            runs[label] = read_run(path)
            runs[f"{label}+BM25"] = interpolate_run(runs[label], bm25, weight)
    pairs = [(n, "BM25") for n in runs if n != "BM25"]
    if {"plain", "car"} <= set(runs):
        pairs += [("car", "plain"), ("car+BM25", "plain+BM25")]
    if pairs:
        results["significance_ndcg@10"] = compare_runs(qrels, runs, pairs)
        for name, row in results["significance_ndcg@10"].items():
            console.print(f"{name}: delta {row['delta']:+.4f}, p (randomization) {row['p_randomization']:.4g}, p (t) {row['p_t']:.4g}")


def _peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GiB."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "ragkit" / "bench" / "scifact-tuning")
    ap.add_argument("--depth", type=int, default=20, help="BM25 candidates reranked per query (BEIR paper: 100)")
    ap.add_argument("--negatives", type=int, default=3, help="BM25 hard negatives per pair for the reranker")
    ap.add_argument("--stages", default="retriever,reranker,car")
    ap.add_argument("--device", default=None)
    ap.add_argument("--precision", default="auto", help="auto (bf16 where native), fp32 or bf16")
    ap.add_argument("--max-length", type=int, default=256, help="tokens per text (retriever) or pair (reranker)")
    ap.add_argument("--minilm", default="minilm", help="base encoder for the retriever and the rerankers")
    ap.add_argument("--llm", default="smollm2-135m", help="CAR's rewriting LLM")
    ap.add_argument("--out", type=Path, default=RESULTS / "scifact_tuning.json")
    ap.add_argument("--select", action=argparse.BooleanOptionalAction, default=True,
                    help="pick hyper-parameters on a dev split of the training claims (default) or use the first")
    ap.add_argument("--train-limit", type=int, default=None, help="use the first N training claims only")
    ap.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test claims only")
    ap.add_argument("--reranker-config", default=None, help="skip selection and use this reranker grid entry")
    ap.add_argument("--retriever-config", default=None, help="skip selection and use this retriever grid entry")
    ap.add_argument("--limit", type=int, default=None,
                    help="smoke test: this many test claims and training pairs, a corpus cut to ~500 docs")
    args = ap.parse_args()
    stages = set(args.stages.split(","))

    from ragkit.experiments.beir import evaluate_beir, load_beir
    from ragkit.eval.retrieval import read_run
    from ragkit.tuning.evaluate import RetrievalTask, first_stage_run, interpolate_run, reranking_task, retrieval_metrics
    from ragkit.tuning.evaluate import bm25_run as bm25_run_for
    from ragkit.tuning.negatives import mine_hard_negatives
    from ragkit.tuning.reranker import EVAL_RUN, RerankerTuner
    from ragkit.tuning.retriever import RetrieverTuner

    out_path = args.out
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}

    test = load_beir(args.data, "test")
    corpus = {c.id: c.text for c in test.chunks()}
    train = train_pairs(args.data, corpus)
    if args.train_limit:
        keep = sorted({p.metadata["claim_id"] for p in train}, key=int)[: args.train_limit]
        train = [p for p in train if p.metadata["claim_id"] in set(keep)]
    if args.test_limit:
        qids = sorted(test.queries, key=int)[: args.test_limit]
        test.queries = {q: test.queries[q] for q in qids}
        test.qrels = {q: test.qrels[q] for q in qids}
    if args.limit:
        test, train = _subset(test, train, args.limit)
        corpus = {c.id: c.text for c in test.chunks()}
        args.work = args.work / f"limit{args.limit}"
        out_path = args.work / "scifact_tuning.json"
        results = {}
    results.update({"machine": _machine(args.device), "depth": args.depth, "max_length": args.max_length,
                    "train_limit": args.train_limit, "test_limit": args.test_limit,
                    "published_ndcg@10": PUBLISHED})
    rows = results.setdefault("rows", {})
    args.work.mkdir(parents=True, exist_ok=True)
    console.print(f"SciFact: {len(corpus)} docs, {len(test.queries)} test claims, {len(train)} training pairs")

    t = time.perf_counter()
    bm25 = evaluate_beir(test, args.work / "index-bm25", {"bm25": {"type": "bm25"}}, k=100,
                         metrics=("ndcg@10", "recall@10", "recall@100", "mrr@10", "map"), runs_dir=args.work / "runs")
    rows["BM25 (ragkit bm25 index)"] = {**bm25["bm25"]["aggregate"], "train_s": 0.0, "wall_s": round(time.perf_counter() - t, 1)}
    bm25_run = read_run(bm25["bm25"]["run_file"])
    task = reranking_task(RetrievalTask(queries=test.queries, corpus=corpus, qrels=test.qrels), bm25_run)
    candidates = task.candidates
    rows[f"BM25 top-{args.depth} (candidates)"] = retrieval_metrics(
        {q: {d: float(args.depth - i) for i, d in enumerate(c[: args.depth])} for q, c in candidates.items()}, test.qrels)

    def save() -> None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=2, sort_keys=True))

    # Hyper-parameters are chosen on a dev split of the *training* claims (every 7th claim),
    # never on the test claims; the chosen setting is then trained on all training pairs.
    dev_ids = {p.metadata["claim_id"] for i, p in enumerate(train) if int(p.metadata["claim_id"]) % 7 == 0}
    sel_train = [p for p in train if p.metadata["claim_id"] not in dev_ids]
    dev_pairs = [p for p in train if p.metadata["claim_id"] in dev_ids]
    dev_queries = {p.metadata["claim_id"]: p.question for p in dev_pairs}
    dev_qrels: dict[str, dict[str, int]] = {}
    for p in dev_pairs:
        dev_qrels.setdefault(p.metadata["claim_id"], {})[p.chunk_id] = 1
    dev_task = RetrievalTask(queries=dev_queries, corpus=corpus, qrels=dev_qrels)
    results.setdefault("selection", {}).update({"dev_claims": len(dev_queries), "train_pairs": len(sel_train)})

    def best_of(grid: dict[str, dict], make, train_set, dev) -> str:
        scores = {}
        for name, cfg in grid.items():
            res = make(cfg).fit(train_set, args.work / "select", evaluation=dev)
            scores[name] = res.metrics_after["ndcg@10"]
            console.print(f"  dev nDCG@10 {scores[name]:.4f}  {name}")
        results["selection"].setdefault("scores", {}).update(scores)
        return max(scores, key=scores.get)

    if "retriever" in stages:
        grid = {
            "mnrl lr=2e-5 epochs=2": dict(learning_rate=2e-5, epochs=2, hard_negatives=0),
            "mnrl lr=5e-5 epochs=3": dict(learning_rate=5e-5, epochs=3, hard_negatives=0),
            "mnrl lr=5e-5 epochs=3 +1 BM25 hard negative": dict(learning_rate=5e-5, epochs=3, hard_negatives=1),
        }
        mined1 = mine_hard_negatives(train, corpus, n=1, method="bm25", depth=30)
        sel1 = [p for p in mined1 if p.metadata["claim_id"] not in dev_ids]

        def make_retriever(cfg: dict) -> RetrieverTuner:
            return RetrieverTuner(base=args.minilm, batch_size=32, max_seq_length=args.max_length, device=args.device,
                                  precision=args.precision, **cfg)

        choice = args.retriever_config
        if choice not in grid:
            choice = best_of(grid, make_retriever, sel1, dev_task) if args.select else next(iter(grid))
        results["retriever_choice"] = choice
        t = time.perf_counter()
        res = make_retriever(grid[choice]).fit(mined1, args.work / "retriever", evaluation=task)
        wall = round(time.perf_counter() - t, 1)
        rows["MiniLM dense (base)"] = {**res.metrics_before, "train_s": 0.0}
        rows[f"MiniLM dense fine-tuned ({choice})"] = {**res.metrics_after, "train_s": res.record["train_time_s"], "wall_s": wall}
        results["retriever_record"] = res.record
        save()

    if stages & {"reranker", "car"}:
        mined = mine_hard_negatives(train, corpus, n=args.negatives, method="bm25", depth=30)
        grid = {
            "bce lr=3e-5 epochs=1": dict(loss="bce", learning_rate=3e-5, epochs=1),
            "bce lr=1e-4 epochs=2": dict(loss="bce", learning_rate=1e-4, epochs=2),
            "mnrl lr=1e-4 epochs=2": dict(loss="mnrl", learning_rate=1e-4, epochs=2),
        }

        def make_reranker(cfg: dict, rewrite: str = "none") -> RerankerTuner:
            return RerankerTuner(
                base=args.minilm, batch_size=32, max_length=args.max_length, negatives=args.negatives, query_rewrite=rewrite,
                eval_depth=args.depth, device=args.device, precision=args.precision,
                llm={"type": "transformers", "model": args.llm, "max_new_tokens": 48, "batch_size": 16}, **cfg)

        # The reranker's hyper-parameters and its weight against BM25 (first_stage_weight) are both
        # chosen on the dev claims, with BM25's real scores as the first stage.
        dev_rr = reranking_task(dev_task, bm25_run_for(dev_task, args.depth))
        sel = [p for p in mined if p.metadata["claim_id"] not in dev_ids]
        choice = args.reranker_config or results.get("reranker_choice")
        if choice not in grid:
            choice = best_of(grid, make_reranker, sel, dev_rr) if args.select else next(iter(grid))
        results["reranker_choice"] = choice
        curve = results.get("selection", {}).get("interpolation", {}).get(choice)
        if curve is None:
            t = time.perf_counter()
            dev = make_reranker(grid[choice]).fit(sel, args.work / "select", evaluation=dev_rr)
            curve = dev.record["interpolation"]
            results["selection"].setdefault("interpolation", {})[choice] = curve
            results["selection"]["dev_fit_wall_s"] = round(time.perf_counter() - t, 1)
            save()
        weight = float(max(curve, key=lambda w: (curve[w], -float(w))))
        results["first_stage_weight"] = weight
        console.print(f"dev nDCG@10 by BM25 weight: {curve}; chosen first_stage_weight={weight}")
        for label, rewrite in (("plain", "none"), ("CAR", "car")):
            if (label == "plain" and "reranker" not in stages) or (label == "CAR" and "car" not in stages):
                continue
            t = time.perf_counter()
            res = make_reranker(grid[choice], rewrite).fit(mined, args.work / f"reranker-{label.lower()}", evaluation=task)
            wall = round(time.perf_counter() - t, 1)
            train_s = res.record["train_time_s"] + (res.record["car"] or {}).get("seconds", 0.0)
            timing = {"train_s": round(train_s, 1), "wall_s": wall, "peak_rss_gb": _peak_rss_gb()}
            rows[f"BM25 top-{args.depth} + reranker {label} ({choice})"] = {**res.metrics_after, **timing}
            mixed = interpolate_run(read_run(Path(res.out_dir) / EVAL_RUN), first_stage_run(task, args.depth), weight)
            rows[f"BM25 top-{args.depth} + reranker {label}, BM25 weight {weight:.1f} (dev)"] = {
                **retrieval_metrics(mixed, test.qrels), **timing}
            results[f"reranker_{label.lower()}_record"] = res.record
            save()
    significance(results, args.work, task, test.qrels, args.depth)
    save()

    table = Table(title=f"SciFact test ({len(test.queries)} claims), trained on SciFact train claims; {results['machine']}")
    for col in ("system", "nDCG@10", "R@100", "MRR@10", "train s", "wall s"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for name, m in rows.items():
        table.add_row(name, f"{m['ndcg@10']:.4f}", f"{m['recall@100']:.4f}", f"{m['mrr@10']:.4f}",
                      f"{m.get('train_s', 0):.0f}" if "train_s" in m else "-", f"{m['wall_s']:.0f}" if "wall_s" in m else "-")
    for name, v in PUBLISHED.items():
        table.add_row(f"[dim]{name}[/]", f"[dim]{v:.4f}[/]", "", "", "", "")
    console.print(table)
    plot(results, out_path.with_suffix(".png"))
    console.print(f"results: {out_path} and {out_path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
