"""SciFact: dense PRF encoders trained with and without LoL, next to dense, Rocchio and the tuned MiniLM bar.

One run, the 300 BEIR SciFact test claims (``qrels-test.tsv``), one MiniLM dense index, scored
with ``ragkit.eval.retrieval`` (trec_eval-exact), rows side by side:

- dense MiniLM (the first stage of every PRF row);
- dense + Rocchio (``rewriters/prf.py``, alpha 0.4 / beta 0.6) at feedback depths 1, 3, 5;
- dense + the PRF query encoder (``--rewrite lol:DIR``, ``rewriters/lol.py``) trained by
  ``PRFTuner`` WITHOUT the LoL regulariser (``lambda_cr = 0``, the paper's ablation) and WITH it
  (``--lambda-cr``, default 1), each read at feedback depths 0, 1, 3, 5 (the training depths);
- the fine-tuned MiniLM bar (``MiniLM dense fine-tuned …`` of ``results/scifact_tuning_cpu.json``,
  read, not re-run).

Both encoders start from MiniLM and train on the same SciFact train claims (``load_beir(...,
split="train")``: 809 claims; ``--train-claims`` keeps the first N, file order) with the same
seed, steps and batches; the only difference is ``lambda_cr``. Paired tests (randomization and
t-test, ``ragkit.eval.significance``) compare every row with dense, and each LoL row with the
no-LoL row at the same depth. Peak RSS, wall time, the machine and its load average go into the
JSON (``results/scifact_lol.json``); ``benchmarks/readme.py`` renders README's SciFact LoL block from it (``render_markdown``).

    python benchmarks/scifact_lol.py --data ../shared/data/scifact --train-claims 400 --epochs 1 --max-steps 50
    python benchmarks/readme.py                      # README block from results/scifact_lol.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import RESULTS, ROOT, offline  # noqa: E402

offline()

OUT = RESULTS / "scifact_lol.json"
METRICS = ["ndcg@10", "recall@100", "recall@10", "mrr@10", "map"]
TUNED = RESULTS / "scifact_tuning_cpu.json"


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)  # Linux: KiB


def _retrieve(pipeline: Any, texts: list[str], depth: int, batch: int = 50) -> tuple[list, float]:
    hits, start = [], time.perf_counter()
    for lo in range(0, len(texts), batch):
        hits += pipeline.retrieve(texts[lo : lo + batch], depth)[0]
    return hits, time.perf_counter() - start


def _train(args: argparse.Namespace, index: Any, lambda_cr: float, out: Path) -> dict[str, Any]:
    """Train one PRF encoder into ``out`` (or reuse it with ``--reuse`` when its settings match); its record."""
    from ragkit.tuning.prf import PRFTuner
    from ragkit.tuning.prf_data import beir_queries, index_task
    from ragkit.tuning.run import read_tuning_record

    tuner = PRFTuner(base=args.base, depths=args.depths, lambda_cr=lambda_cr, epochs=args.epochs,
                     max_steps=args.max_steps, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                     device=args.device)
    settings = {"tuner": tuner.to_config(), "train_claims": args.train_claims}
    sidecar = out.with_name(out.name + ".bench.json")  # beside the model dir, which the tuner swaps atomically
    if args.reuse and (out / "ragkit-tuning.json").is_file() and sidecar.is_file():
        if json.loads(sidecar.read_text()) == settings:
            print(f"reusing {out} (same settings)")
            return read_tuning_record(out)
    from ragkit.experiments.beir import load_beir

    task = index_task(index, beir_queries(load_beir(args.data, split="train"), args.train_claims))
    record = {**tuner.fit(task, out).record, "peak_rss_gb_after": _peak_rss_gb()}
    sidecar.write_text(json.dumps(settings))
    print(f"trained {out.name}: {record['train_steps']} steps in {record['train_time_s']:.0f} s, "
          f"loss by depth {record['loss_by_depth']}, skipped {record['skipped']}")
    return record


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ragkit.eval.retrieval import evaluate, run_from_hits
    from ragkit.eval.significance import compare_runs
    from ragkit.experiments.beir import load_beir
    from ragkit.indexes.index import Index
    from ragkit.pipeline import Pipeline

    started, load_start = time.perf_counter(), os.getloadavg()
    data = load_beir(args.data, split="test")
    index = Index.create(args.index, data.chunks(), show_progress=True)  # a no-op when built
    qids = list(data.queries)
    texts = [data.queries[q] for q in qids]
    rows: dict[str, Any] = {}
    runs: dict[str, Any] = {}

    def add(label: str, rewriter: Any = None, **extra: Any) -> None:
        pipeline = Pipeline(index=str(args.index), retriever="dense", rewriter=rewriter).use_index(index)
        hits, seconds = _retrieve(pipeline, texts, args.depth)
        runs[label] = run_from_hits(qids, hits)
        agg = evaluate(data.qrels, runs[label], METRICS)["aggregate"]
        rows[label] = {**{m: round(agg[m], 6) for m in METRICS}, "seconds": round(seconds, 1), **extra}
        print(f"{label}: nDCG@10 {agg['ndcg@10']:.4f}  R@100 {agg['recall@100']:.4f}  ({seconds:.0f} s)", flush=True)

    add("dense")
    for k in args.rocchio_depths:
        add(f"dense + Rocchio d={k}", {"type": "rocchio", "fb_docs": k}, group="rocchio", fb_docs=k)
    records = {}
    for group, lambda_cr in (("prf-no-lol", 0.0), ("prf-lol", args.lambda_cr)):
        out = args.work / group
        records[group] = _train(args, index, lambda_cr, out)
        for k in args.depths:
            add(f"dense + PRF {'LoL' if lambda_cr else 'no LoL'} d={k}", {"type": "lol", "model": str(out), "fb_docs": k},
                group=group, fb_docs=k)

    pairs = [(label, "dense") for label in rows if label != "dense"]
    pairs += [(f"dense + PRF LoL d={k}", f"dense + PRF no LoL d={k}") for k in args.depths]
    significance = compare_runs(data.qrels, runs, pairs, "ndcg@10")
    tuned = _tuned_bar()
    result = {
        "dataset": "BEIR SciFact test (300 claims)", "depth": args.depth, "metrics": METRICS,
        "settings": {"train_claims": args.train_claims, "epochs": args.epochs, "max_steps": args.max_steps,
                     "batch_size": args.batch_size, "learning_rate": args.lr, "depths": args.depths,
                     "lambda_cr": args.lambda_cr, "seed": args.seed, "base": args.base},
        "rows": rows, "tuned_minilm_bar": tuned, "significance_ndcg@10": significance,
        "training": {g: {k: r.get(k) for k in ("n_train", "skipped", "train_steps", "epochs_run", "train_time_s",
                                              "loss_by_depth", "wall_time_s")} for g, r in records.items()},
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}",
        "load_average_start": [round(x, 2) for x in load_start], "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_gb": _peak_rss_gb(), "wall_s": round(time.perf_counter() - started, 1),
    }
    result["findings"] = findings(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(render_markdown(result))
    print(f"peak RSS {result['peak_rss_gb']} GB, wall {result['wall_s']:.0f} s, {result['machine']}, "
          f"load {result['load_average_start']} -> {result['load_average_end']}; wrote {OUT.relative_to(ROOT)}")
    return result


def _tuned_bar() -> dict[str, Any] | None:
    """The fine-tuned MiniLM row of ``scifact_tuning_cpu.json`` (not re-run here)."""
    if not TUNED.is_file():
        return None
    rows = json.loads(TUNED.read_text())["rows"]
    label = next((r for r in rows if r.startswith("MiniLM dense fine-tuned")), None)
    return None if label is None else {"row": label, "ndcg@10": rows[label]["ndcg@10"],
                                       "recall@100": rows[label]["recall@100"], "source": TUNED.name}


def _non_decreasing(values: list[float]) -> bool:
    return all(b >= a for a, b in zip(values, values[1:]))


def findings(result: dict[str, Any]) -> dict[str, Any]:
    """The questions the run answers, computed from its rows (``run`` and ``render_markdown`` both call it)."""
    rows, depths, sig = result["rows"], result["settings"]["depths"], result["significance_ndcg@10"]
    lol = [rows[f"dense + PRF LoL d={k}"]["ndcg@10"] for k in depths]
    no_lol = [rows[f"dense + PRF no LoL d={k}"]["ndcg@10"] for k in depths]
    fed = [i for i, k in enumerate(depths) if k > 0]
    tuned = result.get("tuned_minilm_bar")
    return {
        "lol_ndcg_by_depth": dict(zip(map(str, depths), lol)),
        "no_lol_ndcg_by_depth": dict(zip(map(str, depths), no_lol)),
        "lol_non_decreasing_with_depth": _non_decreasing(lol),
        "lol_non_decreasing_over_feedback_depths": _non_decreasing([lol[i] for i in fed]),
        "no_lol_non_decreasing_with_depth": _non_decreasing(no_lol),
        "no_lol_non_decreasing_over_feedback_depths": _non_decreasing([no_lol[i] for i in fed]),
        "lol_minus_no_lol_by_depth": {
            str(k): {"delta": round(a - b, 6), "p_randomization": sig[f"dense + PRF LoL d={k} vs dense + PRF no LoL d={k}"]["p_randomization"]}
            for k, a, b in zip(depths, lol, no_lol)},
        "best_prf_beats_tuned_bar": max(lol + no_lol) > tuned["ndcg@10"] if tuned else None,
        "lol_on_tuned_minilm": "not run (the PRF encoders start from base MiniLM over the base index)",
    }


def render_markdown(result: dict[str, Any]) -> str:
    """The README table and findings from a result JSON."""
    sig = result["significance_ndcg@10"]
    s = result["settings"]
    lines = [
        f"PRF query encoders on SciFact test (300 claims), `benchmarks/scifact_lol.py` (trained on the first "
        f"{s['train_claims']} train claims, {s['epochs']} epoch(s), at most {s['max_steps']} steps of {s['batch_size']}, "
        f"lr {s['learning_rate']}, depths {s['depths']}, LoL λ={s['lambda_cr']}; {result['machine']}, load "
        f"{result['load_average_start'][0]}–{result['load_average_end'][0]}, wall {result['wall_s'] / 60:.0f} min, "
        f"peak RSS {result['peak_rss_gb']} GB):",
        "",
        "| row | nDCG@10 | R@100 | Δ nDCG vs dense (p, randomization) |",
        "|---|---|---|---|",
    ]
    for label, row in result["rows"].items():
        test = sig.get(f"{label} vs dense")
        delta = "–" if test is None else f"{test['delta']:+.4f} (p={test['p_randomization']:.3g})"
        lines.append(f"| {label} | {row['ndcg@10']:.4f} | {row['recall@100']:.4f} | {delta} |")
    bar = result.get("tuned_minilm_bar")
    if bar:
        lines.append(f"| dense MiniLM fine-tuned ({bar['source']}, not re-run): the bar | {bar['ndcg@10']:.4f} | "
                     f"{bar['recall@100']:.4f} | – |")
    f = findings(result)
    curve = ", ".join(f"d{k} {v:.4f}" for k, v in f["lol_ndcg_by_depth"].items())
    versus = ", ".join(f"d{k} {v['delta']:+.4f} (p={v['p_randomization']:.2g})" for k, v in f["lol_minus_no_lol_by_depth"].items())
    lines += [
        "",
        f"Does nDCG@10 fall as the feedback depth grows with LoL (the paper says it does not)? Over all depths "
        f"{'no' if f['lol_non_decreasing_with_depth'] else 'yes'} ({curve}); over the feedback depths alone "
        f"(k ≥ 1) {'no' if f['lol_non_decreasing_over_feedback_depths'] else 'yes'}; without LoL: "
        f"{'no' if f['no_lol_non_decreasing_with_depth'] else 'yes'} / "
        f"{'no' if f['no_lol_non_decreasing_over_feedback_depths'] else 'yes'}. Does LoL beat no-LoL? LoL minus no-LoL "
        f"nDCG@10: {versus}. Best PRF row above the tuned bar: {'yes' if f['best_prf_beats_tuned_bar'] else 'no'}. "
        f"LoL PRF on top of the fine-tuned MiniLM: {f['lol_on_tuned_minilm']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from ragkit.models import cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--index", type=Path, default=cache_dir() / "bench" / "scifact-index")
    parser.add_argument("--work", type=Path, default=cache_dir() / "bench" / "scifact-lol")
    parser.add_argument("--depth", type=int, default=100, help="hits retrieved per claim (R@100 needs 100)")
    parser.add_argument("--base", default="minilm")
    parser.add_argument("--depths", type=_ints, default=[0, 1, 3, 5], help="PRF training / reading depths")
    parser.add_argument("--rocchio-depths", type=_ints, default=[1, 3, 5])
    parser.add_argument("--lambda-cr", type=float, default=1.0)
    parser.add_argument("--train-claims", type=int, default=None, help="first N train claims (default all 809)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--reuse", action="store_true", help="reuse trained encoders in --work whose settings match")
    args = parser.parse_args(argv)
    run(args)


if __name__ == "__main__":
    main()
