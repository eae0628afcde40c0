"""Simulated users close the feedback loop on the demo corpus: serve → feedback → tune → promote, by rounds.

The questions of ``examples/demo-qa.jsonl`` (each with its gold chunk) are split once, seeded, into
*train-side* questions, shown to users over the rounds, and *held-out* questions that no user ever
sees and no tuning ever reads. Each round:

1. the bot (an in-process ``Pipeline``: BM25, then the index's promoted reranker followed live, as
   ``ragkit serve`` does) answers a new batch of train-side questions and shows ``--shown`` sources;
2. simulated users mark each shown source relevant iff it is the gold chunk, and give a thumbs up
   iff the first source is the gold — each mark and thumb wrong with probability ``--noise``
   (seeded), so some feedback lies;
3. ``tune_reranker_from_feedback`` (what ``ragkit tune reranker --kind bi-encoder`` runs) trains a
   bi-encoder from MiniLM on all feedback so far, picks the first-stage weight on its dev questions
   and promotes only if it beats the reranker in service on *its* held-out feedback questions;
4. on the benchmark's held-out questions: gold@1 and nDCG@10 of the first stage and of the promoted
   pipeline, and this process's peak RSS (training included).

The guard the loop must keep: the promoted pipeline is never worse than the first stage on the
held-out questions. The JSON goes to ``benchmarks/results/feedback_loop.json`` and a chart beside
it; ``--readme`` prints the README lines from that JSON.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/feedback_loop.py
    python benchmarks/feedback_loop.py --readme
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                     "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_key, _value)

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragkit.defaults import DEMO_CORPUS  # noqa: E402
from ragkit.eval.retrieval import evaluate  # noqa: E402
from ragkit.feedback import FeedbackLog  # noqa: E402
from ragkit.pipeline import Pipeline  # noqa: E402

console = Console(width=140)
RESULTS = ROOT / "benchmarks" / "results"


def _peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def split_questions(qa: list[dict], n_held: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(train-side, held-out) questions, shuffled with ``seed``; held-out ones are never shown to users."""
    order = list(qa)
    random.Random(seed).shuffle(order)
    return order[n_held:], order[:n_held]


def load_demo_qa(path: Path) -> list[dict]:
    """``[{"question", "gold": {chunk_id, ...}}]`` from a QA JSONL with one gold ``chunk_id`` per line."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{"question": r["question"], "gold": {r["chunk_id"]}} for r in rows]


FIRST_STAGES = {"bm25": "bm25", "hybrid": {"type": "hybrid", "fusion": "weighted", "normalization": "minmax"}}
"""``--first-stage`` choices: BM25, or hybrid weighted (BM25 + dense, min-max; beir_scifact.py's "hybrid-weighted")."""


def score(index: Path, held: list[dict], reranker: Any, depth: int, batch: int = 64,
          retriever: Any = "bm25") -> dict[str, float]:
    """gold@1 and nDCG@10 on the held-out questions of the first stage (``reranker=None``) or it + ``reranker``."""
    spec = {"retriever": retriever, "reranker": reranker, "rerank_k": depth, "k": 10}
    pipeline = Pipeline.for_index(index, {k: v for k, v in spec.items() if v is not None})
    questions = [q["question"] for q in held]
    hits = [hs for lo in range(0, len(questions), batch) for hs in pipeline.retrieve(questions[lo : lo + batch], 10)[0]]
    qrels = {q["question"]: {c: 1 for c in q["gold"]} for q in held}
    run = {q: {h.chunk_id: float(10 - i) for i, h in enumerate(hs)} for q, hs in zip(questions, hits)}
    ndcg = evaluate(qrels, run, metrics=["ndcg@10"])["aggregate"]["ndcg@10"]
    gold1 = sum(bool(hs) and hs[0].chunk_id in q["gold"] for q, hs in zip(held, hits)) / len(held)
    return {"gold@1": round(gold1, 4), "ndcg@10": round(float(ndcg), 4)}


def users_give_feedback(bot: Pipeline, log: FeedbackLog, batch: list[dict], rng: random.Random, noise: float,
                        shown: int, tag: str) -> dict[str, int]:
    """The bot answers ``batch``; users mark the shown sources (and thumb the answer), each wrong with p=noise."""
    questions = [q["question"] for q in batch]
    hits = [hs for lo in range(0, len(batch), 64) for hs in bot.retrieve(questions[lo : lo + 64], shown)[0]]
    counts = {"answers": 0, "marks": 0, "wrong_marks": 0, "gold_shown": 0}
    for n, (qa, hs) in enumerate(zip(batch, hits)):
        answer_id = f"{tag}-{n}"
        sources = [{"number": i, "chunk_id": h.chunk_id, "text": h.chunk.text} for i, h in enumerate(hs, start=1)]
        log.record_answer(answer_id, qa["question"], "…", "rag", sources[:1], sources)
        marks = []
        for h in hs:
            truth = h.chunk_id in qa["gold"]
            wrong = rng.random() < noise
            marks.append((h.chunk_id, truth != wrong))
            counts["wrong_marks"] += wrong
        good = bool(hs) and hs[0].chunk_id in qa["gold"]
        log.add_feedback(answer_id, rating=1 if good != (rng.random() < noise) else -1, marks=marks)
        counts["answers"] += 1
        counts["marks"] += len(marks)
        counts["gold_shown"] += any(h.chunk_id in qa["gold"] for h in hs)
    return counts


def loop_rounds(index: Path, work: Path, train_side: list[dict], held: list[dict], args: argparse.Namespace,
                on_round: Any = None) -> list[dict[str, Any]]:
    """Round 0 (no feedback) and ``args.rounds`` rounds of answer → feedback → tune → promote; one row each.

    ``on_round(rows)`` is called after each round (to save partial results of a long run).
    """
    from ragkit.tuning.promotion import tune_reranker_from_feedback
    from ragkit.tuning.retriever import RetrieverTuner

    per_round = args.per_round or -(-len(train_side) // args.rounds)
    retriever = FIRST_STAGES[args.first_stage]
    bot = Pipeline.for_index(index, {"retriever": retriever, "reranker": "promoted", "rerank_k": args.depth})
    log = FeedbackLog(work / "feedback.sqlite")
    rng = random.Random(args.seed)
    first = score(index, held, None, args.depth, retriever=retriever)
    rows = [{"round": 0, "first_stage": first, "promoted_pipeline": first, "promoted": False,
             "reason": "no feedback yet", "peak_rss_gb": _peak_rss_gb()}]
    console.print(f"{len(train_side)} train-side questions ({per_round} per round), {len(held)} held out; "
                  f"first stage held-out {first}")
    for r in range(1, args.rounds + 1):
        batch = train_side[(r - 1) * per_round : r * per_round]
        if not batch:  # more rounds than questions: users ask the train-side questions again
            batch = rng.sample(train_side, min(per_round, len(train_side)))
        shown = users_give_feedback(bot, log, batch, rng, args.noise, args.shown, f"r{r}")
        t0 = time.perf_counter()
        tuner = RetrieverTuner(base="minilm", epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                               max_seq_length=args.max_seq_length, progress=False)
        try:
            report = tune_reranker_from_feedback(index, work / "feedback.sqlite", tuner=tuner, depth=args.depth,
                                                 alpha=args.alpha, retriever=retriever)
            decision = {"promoted": report.promoted, "reason": report.reason, "tuner_held_out": report.held_out,
                        "first_stage_weight": report.first_stage_weight, "dev": report.dev, "data": report.data}
        except ValueError as exc:  # too little feedback to split: nothing trained, nothing promoted
            decision = {"promoted": False, "reason": f"not tuned: {exc}"}
        tune_s = round(time.perf_counter() - t0, 1)
        row = {"round": r, "feedback": shown, "tune_s": tune_s, "peak_rss_gb_after_tuning": _peak_rss_gb(),
               **decision, "first_stage": first,
               "promoted_pipeline": score(index, held, {"type": "promoted"}, args.depth, retriever=retriever),
               "peak_rss_gb": _peak_rss_gb()}
        rows.append(row)
        if on_round is not None:
            on_round(rows)
        console.print(f"round {r}: {'PROMOTED' if row['promoted'] else 'kept'} — {row['reason']}; "
                      f"held-out promoted pipeline {row['promoted_pipeline']} (first stage {first}); "
                      f"peak RSS {row['peak_rss_gb']} GB; tuning {tune_s} s")
    log.close()
    return rows


def verdicts(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """The two aims: never worse than the first stage on held-out (the guard), better by round 3."""
    never_worse = all(row["promoted_pipeline"]["ndcg@10"] >= row["first_stage"]["ndcg@10"]
                      and row["promoted_pipeline"]["gold@1"] >= row["first_stage"]["gold@1"] for row in rows)
    better_by_3 = any(row["round"] <= 3 and row["promoted_pipeline"]["ndcg@10"] > row["first_stage"]["ndcg@10"]
                      for row in rows)
    return {"guard_never_worse": never_worse, "better_than_first_stage_by_round_3": better_by_3}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ragkit.indexes.index import Index
    from ragkit.ingest import ingest

    train_side, held = split_questions(load_demo_qa(args.qa), args.held_out_questions, args.seed)
    work = Path(tempfile.mkdtemp(prefix="feedback-loop-"))
    index = work / "idx"
    ingest([DEMO_CORPUS], index)
    Index.build(index, dense=args.first_stage != "bm25", show_progress=False)
    rows = loop_rounds(index, work, train_side, held, args)
    return {"benchmark": "feedback_loop", "corpus": "ragkit/demo_corpus", "qa": str(args.qa.relative_to(ROOT)),
            "first_stage": args.first_stage, "reranker": "bi-encoder from MiniLM, tuned on all feedback so far",
            "settings": {k: v for k, v in vars(args).items() if k not in ("qa", "out", "chart", "readme")},
            "train_side_questions": len(train_side), "held_out_questions": len(held), "rounds": rows,
            **verdicts(rows), "command": "OMP_NUM_THREADS=1 nice -n 10 python benchmarks/feedback_loop.py"}


def chart(result: dict[str, Any], path: Path) -> None:
    """Held-out gold@1 and nDCG@10 per round, first stage vs promoted pipeline; promotions marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [row["round"] for row in result["rounds"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("gold@1", "ndcg@10")):
        ax.plot(rounds, [row["first_stage"][metric] for row in result["rounds"]], "o--", label=f"first stage ({_stage_name(result)})")
        ax.plot(rounds, [row["promoted_pipeline"][metric] for row in result["rounds"]], "s-", label="promoted pipeline")
        for row in result["rounds"]:
            if row["promoted"]:
                ax.annotate("promoted", (row["round"], row["promoted_pipeline"][metric]), textcoords="offset points",
                            xytext=(0, 8), ha="center", fontsize=8)
        ax.set_xlabel("round")
        ax.set_title(f"held-out {metric} ({result['held_out_questions']} questions)")
        ax.set_xticks(rounds)
        ax.legend(fontsize=8)
    fig.suptitle(f"feedback loop on {result['corpus']}, {result['settings']['noise']:.0%} wrong marks", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _stage_name(result: dict[str, Any]) -> str:
    return {"bm25": "BM25"}.get(result["first_stage"], result["first_stage"])


def readme_lines(result: dict[str, Any]) -> str:
    """The README's lines for this benchmark, from its JSON."""
    s = result["settings"]
    command = f"{result['command']} {result.get('command_args', '')}".strip()
    lines = [f"Feedback loop (`{command}`; {result['corpus']}, {_stage_name(result)} top-{s['depth']} first stage, "
             f"{s['noise']:.0%} wrong marks, seed {s['seed']}): {result['train_side_questions']} questions shown to "
             f"simulated users over {s['rounds']} rounds, {result['held_out_questions']} held-out questions never "
             "shown or trained on:",
             "", "| round | feedback questions (tuner's train/dev/held-out) | first-stage weight chosen on dev "
             "| tuner's held-out nDCG@10 in service → candidate (p) | promoted? "
             "| held-out gold@1 first stage → promoted | held-out nDCG@10 first stage → promoted "
             "| peak RSS GB |", "|---|---|---|---|---|---|---|---|"]
    for row in result["rounds"]:
        f, p, d = row["first_stage"], row["promoted_pipeline"], row.get("data")
        split = f"{d['train_questions']}/{d['dev_questions']}/{d['held_out_questions']}" if d else "–"
        weight = row.get("first_stage_weight", "–")
        tuner = row.get("tuner_held_out")
        decision = (f"{tuner['in_service']:.4f} → {tuner['candidate']:.4f} ({tuner['vs_in_service']['p_value']:.2g})"
                    f"{'' if tuner.get('ranking') else ' full rankings'}" if tuner else "–")
        lines.append(f"| {row['round']} | {split} | {weight} | {decision} | {'yes' if row['promoted'] else 'no'} "
                     f"| {f['gold@1']:.4f} → {p['gold@1']:.4f} | {f['ndcg@10']:.4f} → {p['ndcg@10']:.4f} "
                     f"| {row['peak_rss_gb']} |")
    lines += ["", f"Guard (promoted never worse than the first stage on held-out): "
                  f"{'kept' if result['guard_never_worse'] else 'BROKEN'}; better than the first stage by round 3: "
                  f"{'yes' if result['better_than_first_stage_by_round_3'] else 'no'}."]
    lines += [f"{line}" for line in result.get("notes", [])]
    return "\n".join(lines)


def add_loop_args(ap: argparse.ArgumentParser, rounds: int = 4, depth: int = 50) -> None:
    """The loop's options (shared with ``feedback_loop_scifact.py``)."""
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--first-stage", choices=sorted(FIRST_STAGES), default="bm25",
                    help="the bot's first stage (hybrid needs a dense index)")
    ap.add_argument("--per-round", type=int, default=0, help="train-side questions per round (0: spread over rounds)")
    ap.add_argument("--noise", type=float, default=0.15, help="probability that a mark or thumb is wrong")
    ap.add_argument("--shown", type=int, default=5, help="sources the bot shows per answer")
    ap.add_argument("--depth", type=int, default=depth, help="first-stage candidates the reranker re-scores")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-seq-length", type=int, default=256)
    ap.add_argument("--alpha", type=float, default=0.2, help="largest p-value that promotes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--readme", action="store_true", help="print the README lines from --out and exit")


def write_outputs(result: dict[str, Any], out: Path, chart_path: Path) -> None:
    """JSON, chart, a table and the README lines."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    chart(result, chart_path)
    table = Table("round", "promoted", "gold@1 first → promoted", "nDCG@10 first → promoted", "peak RSS GB",
                  title="held-out questions")
    for row in result["rounds"]:
        f, p = row["first_stage"], row["promoted_pipeline"]
        table.add_row(str(row["round"]), "yes" if row["promoted"] else "no", f"{f['gold@1']:.4f} → {p['gold@1']:.4f}",
                      f"{f['ndcg@10']:.4f} → {p['ndcg@10']:.4f}", str(row["peak_rss_gb"]))
    console.print(table)
    console.print(readme_lines(result))
    console.print(f"wrote {out} and {chart_path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qa", type=Path, default=ROOT / "examples" / "demo-qa.jsonl")
    ap.add_argument("--held-out-questions", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS / "feedback_loop.json")
    ap.add_argument("--chart", type=Path, default=RESULTS / "feedback_loop.png")
    add_loop_args(ap)
    args = ap.parse_args()
    if args.readme:
        print(readme_lines(json.loads(args.out.read_text())))
        return
    write_outputs(run(args), args.out, args.chart)


if __name__ == "__main__":
    main()
