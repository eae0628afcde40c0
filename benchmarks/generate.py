"""Generation speed and quality: the transformers backend (fp32) vs llama.cpp on the shipped GGUF.

The same demo questions (``examples/demo-qa.jsonl``), the same BM25 top-4 contexts, the same
prompt, citations and grounding (one ragkit ``Pipeline`` per backend, differing only in
``generator.llm.type``). Both backends are loaded and warmed with one question first; then the
questions are answered one at a time, the backends alternated question by question, each
answer streamed so that time to first token is measured. Per backend: tokens/s of the reply
(counted with the backend's own tokenizer), time to first token, end-to-end seconds per
question, the share of gold answers found in the reply (the gold string or an alias), the
share of "I don't know", and load time.

    .venv/bin/python benchmarks/generate.py [--questions 12] [--threads 2]

Writes benchmarks/results/generate.json (the README block is generated from it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from benchmarks.harness import load_average, machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def backends(threads: int) -> dict[str, dict]:
    return {"transformers fp32": {"type": "transformers", "model": "smollm2-135m"},
            "llama.cpp (GGUF as shipped)": {"type": "llama-cpp", "model": "smollm2-135m", "n_threads": threads}}


def found(answer: str, row: dict) -> bool:
    golds = [row["answer"], *row.get("metadata", {}).get("aliases", [])]
    return any(g.lower() in answer.lower() for g in golds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2, help="torch / llama.cpp threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch
    from rich.console import Console
    from rich.table import Table

    from ragkit.api import ingest_files
    from ragkit.defaults import DEMO_CORPUS
    from ragkit.pipeline import Pipeline

    torch.set_num_threads(args.threads)
    console = Console()
    meta = machine()
    rows = [json.loads(x) for x in (ROOT / "examples" / "demo-qa.jsonl").read_text().splitlines() if x.strip()]
    rows = random.Random(args.seed).sample(rows, args.questions + 1)
    warm, rows = rows[0], rows[1:]
    index = ingest_files(DEMO_CORPUS, tempfile.mkdtemp() + "/demo", dense=False)
    pipes, load_s = {}, {}
    for name, llm in backends(args.threads).items():
        started = time.perf_counter()
        pipes[name] = Pipeline(index=index.directory, retriever={"type": "bm25"}, generator={"type": "llm", "llm": llm}, k=4)
        pipes[name].warm_up()
        load_s[name] = time.perf_counter() - started
        pipes[name].ask([warm["question"]])  # the same warm-up question for both
    samples: dict[str, list[dict]] = {name: [] for name in pipes}
    for i, row in enumerate(rows):
        names = list(pipes) if i % 2 == 0 else list(pipes)[::-1]  # alternate which backend goes first
        for name in names:
            pipe = pipes[name]
            generator = pipe.component("generator")
            pieces: list[str] = []
            started = time.perf_counter()
            with generator.streaming(pieces.append):
                answer = pipe.ask([row["question"]])[0]
            seconds = time.perf_counter() - started
            raw = "".join(pieces)
            tokens = generator.model.count_tokens(raw) if raw else 0
            gen_s = answer.timings.get("generate", seconds)
            samples[name].append({"question": row["question"], "answer": answer.text, "tokens": tokens,
                                  "seconds": seconds, "generate_s": gen_s,
                                  "first_token_s": answer.metadata.get("first_token_s"),
                                  "tokens_per_s": tokens / gen_s if gen_s > 0 else None,
                                  "found": found(answer.text, row), "idk": bool(answer.metadata.get("idk_reason"))})
    meta["load_avg_end"] = load_average()
    summary = {}
    for name, s in samples.items():
        ttft = [x["first_token_s"] for x in s if x["first_token_s"] is not None]
        tps = [x["tokens_per_s"] for x in s if x["tokens_per_s"]]
        summary[name] = {"load_s": round(load_s[name], 2), "questions": len(s),
                         "ask_s_median": round(statistics.median(x["seconds"] for x in s), 3),
                         "ask_s_min": round(min(x["seconds"] for x in s), 3),
                         "ask_s_max": round(max(x["seconds"] for x in s), 3),
                         "tokens_per_s_median": round(statistics.median(tps), 1) if tps else None,
                         "first_token_s_median": round(statistics.median(ttft), 3) if ttft else None,
                         "gold_found": sum(x["found"] for x in s), "idk": sum(x["idk"] for x in s)}
    base, fast = list(summary)
    speedup = summary[base]["ask_s_median"] / summary[fast]["ask_s_median"]
    table = Table(title=f"generation, {len(rows)} demo questions, BM25 top-4, {args.threads} threads "
                        f"({meta['cpus']} CPUs, load {meta['load_avg_start']} → {meta['load_avg_end']})")
    for col in ("backend", "load s", "ask s median \\[min–max]", "tokens/s", "first token s", "gold found", "IDK"):
        table.add_column(col)
    for name, v in summary.items():
        table.add_row(name, f"{v['load_s']:.1f}", f"{v['ask_s_median']:.2f} [{v['ask_s_min']:.2f}–{v['ask_s_max']:.2f}]",
                      str(v["tokens_per_s_median"]), str(v["first_token_s_median"]),
                      f"{v['gold_found']}/{v['questions']}", str(v["idk"]))
    console.print(table)
    console.print(f"end-to-end ask speed-up, {fast} over {base}: {speedup:.1f}x (medians)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "generate.json"
    out.write_text(json.dumps({"meta": {**meta, "threads": args.threads}, "summary": summary,
                               "speedup_ask_median": round(speedup, 2), "samples": samples}, indent=2))
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
