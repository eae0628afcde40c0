"""Generator LoRA on the demo corpus: generated QA pairs -> closed-book SFT -> token-F1 before/after.

1. ingest ``ragkit/demo_corpus`` (PDF manual and warranty, FAQ, source code);
2. generate QA pairs from its chunks with SmolLM2-135M (``ragkit.tuning.qa_gen``), filter them
   (answer supported by its chunk, near-duplicates removed), split them by document;
3. LoRA-tune SmolLM2-135M closed-book on the training pairs (``GeneratorTuner``);
4. report token-F1 of greedy closed-book answers before/after, on the held-out pairs (documents
   never seen in training) and on a sample of the training pairs, with example answers.

    .venv/bin/python benchmarks/generator_lora.py [--epochs 3] [--reuse-qa]

Generated pairs are kept in ``benchmarks/results/generator_lora_qa.jsonl`` (``--reuse-qa`` skips
generation); results go to ``benchmarks/results/generator_lora.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import RESULTS, ROOT, offline  # noqa: E402

offline()

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console(width=150)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "ragkit" / "bench" / "generator-lora")
    ap.add_argument("--questions-per-chunk", type=int, default=3)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--learning-rate", type=float, default=3e-4)
    ap.add_argument("--test", type=float, default=0.25, help="fraction of pairs (by document) held out")
    ap.add_argument("--train-eval", type=int, default=24, help="training pairs also scored before/after")
    ap.add_argument("--reuse-qa", action="store_true")
    ap.add_argument("--min-support", type=float, default=0.6, help="filter: answer words found in the chunk")
    args = ap.parse_args()

    from ragkit.indexes.store import ChunkStore
    from ragkit.ingest import ingest
    from ragkit.llm import TransformersLLM
    from ragkit.models import load_causal_lm, resolve
    from ragkit.tuning.data import read_qa_jsonl, split_by_document, write_qa_jsonl
    from ragkit.tuning.evaluate import token_f1
    from ragkit.tuning.generator import GeneratorTuner, generate_answers
    from ragkit.tuning.qa_filter import filter_qa
    from ragkit.tuning.qa_gen import generate_qa

    results: dict = {"machine": f"CPU {platform.machine()}, {os.cpu_count()} cores", "base": "smollm2-135m"}
    qa_path = RESULTS / "generator_lora_qa.jsonl"
    t0 = time.perf_counter()
    if args.reuse_qa and qa_path.is_file():
        pairs, _ = filter_qa(read_qa_jsonl(qa_path), min_support=args.min_support)  # today's filter rules
        results["qa"] = json.loads((RESULTS / "generator_lora.json").read_text()).get("qa", {}) if (RESULTS / "generator_lora.json").is_file() else {}
    else:
        ingest([ROOT / "ragkit" / "demo_corpus"], args.work / "index")
        chunks = list(ChunkStore.load(args.work / "index"))
        llm = TransformersLLM("smollm2-135m", batch_size=16, max_new_tokens=64)
        raw = generate_qa(chunks, llm, questions_per_chunk=args.questions_per_chunk, max_new_tokens=64,
                          progress=lambda d, n: console.print(f"  generated for {d}/{n} chunks"))
        write_qa_jsonl(raw, args.work / "generated_raw.jsonl")
        pairs, report = filter_qa(raw, min_support=args.min_support)
        write_qa_jsonl(pairs, qa_path)
        results["qa"] = {"chunks": len(chunks), **report.to_dict(), "seconds": round(time.perf_counter() - t0, 1)}
    console.print(f"QA pairs: {results['qa']}")
    splits = split_by_document(pairs, dev=0.0, test=args.test, seed=0)
    train, test = splits["train"], splits["test"]
    results["splits"] = {"train": len(train), "test": len(test),
                         "test_sources": sorted({p.source for p in test}), "train_sources": sorted({p.source for p in train})}

    tuner = GeneratorTuner(base="smollm2-135m", mode="closed-book", epochs=args.epochs, batch_size=8,
                           learning_rate=args.learning_rate, lora_rank=16, lora_alpha=32, max_new_tokens=48)
    res = tuner.fit(train, args.work / "adapter", evaluation=test)
    rec = res.record
    results["held_out"] = {"before": rec["metrics_before"], "after": rec["metrics_after"]}
    results["train_time_s"], results["wall_time_s"] = rec["train_time_s"], rec["wall_time_s"]
    results["train_loss"] = [rec["train_loss_first"], rec["train_loss_last"], rec["train_steps"]]

    # The same closed-book chats on a sample of the training pairs (was the content learned?).
    sample = train[: args.train_eval]
    chats = tuner.examples(sample)
    scores = {}
    for label, ref in (("before", resolve("smollm2-135m")), ("after", str(args.work / "adapter"))):
        model, tok = load_causal_lm(ref)
        answers = generate_answers(model, tok, [m for m, _ in chats], 48)
        scores[label] = {"token_f1": round(sum(token_f1(a, r) for a, (_, r) in zip(answers, chats)) / len(chats), 6),
                         "n": len(chats), "samples": answers[:5]}
    results["train_sample"] = scores
    results["examples"] = [
        {"question": p.question, "reference": p.answer, "before": b, "after": a}
        for p, b, a in zip(test[:5], rec["metrics_before"]["samples"], rec["metrics_after"]["samples"])
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "generator_lora.json").write_text(json.dumps(results, indent=2))

    table = Table(title=f"SmolLM2-135M closed-book, LoRA r=16 on {len(train)} generated demo-corpus pairs; {results['machine']}")
    for col in ("questions", "n", "token-F1 before", "token-F1 after"):
        table.add_column(col, justify="left" if col == "questions" else "right")
    table.add_row("held-out documents", str(len(test)), f"{rec['metrics_before']['token_f1']:.3f}", f"{rec['metrics_after']['token_f1']:.3f}")
    table.add_row("training sample", str(len(sample)), f"{scores['before']['token_f1']:.3f}", f"{scores['after']['token_f1']:.3f}")
    console.print(table)
    console.print(f"train {results['train_time_s']:.0f} s, tuner wall {results['wall_time_s']:.0f} s, loss {results['train_loss']}")
    for ex in results["examples"][:3]:
        console.print(f"Q: {ex['question']}\n  ref: {ex['reference']}\n  before: {ex['before']}\n  after: {ex['after']}")


if __name__ == "__main__":
    main()
