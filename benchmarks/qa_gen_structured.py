"""QA-pair generation free-form vs JSON-constrained: how many questions parse, and how many pairs survive the filter.

The same demo-corpus chunks (a seeded sample), the same SmolLM2-135M (transformers, greedy), the same
answer step and filter (``ragkit.tuning.qa_filter.filter_qa``); only how the questions are asked and
read differs: one a line (``QUESTION_PROMPT`` + ``parse_questions``) or ``{"questions": [...]}``
under lm-format-enforcer's schema constraint (``QUESTION_JSON_PROMPT`` + ``LLM.chat_json``). The two
modes alternate chunk batch by chunk batch, so both see the same machine load.

    .venv/bin/python benchmarks/qa_gen_structured.py [--chunks 16] [--questions 2]

Writes benchmarks/results/qa_gen_structured.json (the README block is generated from it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import RESULTS, ROOT, load_average, machine, offline  # noqa: E402

offline()

MODES = {"free-form (one a line)": False, "JSON-constrained": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--questions", type=int, default=2, help="questions asked per chunk")
    parser.add_argument("--batch", type=int, default=4, help="chunks per LLM call (the modes alternate per batch)")
    args = parser.parse_args()
    from rich.console import Console

    from ragkit.indexes.store import ChunkStore
    from ragkit.ingest import ingest
    from ragkit.llm import TransformersLLM
    from ragkit.tuning.qa_filter import filter_qa
    from ragkit.tuning.qa_gen import generate_qa

    console = Console()
    meta = machine()
    with tempfile.TemporaryDirectory() as tmp:
        ingest([ROOT / "ragkit" / "demo_corpus"], Path(tmp) / "idx")
        chunks = list(ChunkStore.load(Path(tmp) / "idx"))
    llm = TransformersLLM("smollm2-135m", batch_size=8, max_new_tokens=96)
    # the sample generate_qa would draw, cut into batches so the modes can alternate
    pool = sorted((c for c in chunks if len(c.text.split()) >= 20), key=lambda c: c.id)
    import random

    pool = sorted(random.Random(0).sample(pool, min(args.chunks, len(pool))), key=lambda c: c.id)
    raw: dict[str, list] = {m: [] for m in MODES}
    seconds = {m: 0.0 for m in MODES}
    for i in range(0, len(pool), args.batch):
        batch = pool[i : i + args.batch]
        order = list(MODES) if (i // args.batch) % 2 == 0 else list(MODES)[::-1]
        for mode in order:
            started = time.perf_counter()
            raw[mode] += generate_qa(batch, llm, questions_per_chunk=args.questions, max_new_tokens=96,
                                     batch_size=args.batch, structured=MODES[mode])
            seconds[mode] += time.perf_counter() - started
        console.print(f"{i + len(batch)}/{len(pool)} chunks: " + ", ".join(f"{m} {len(raw[m])} pairs" for m in MODES))
    rows = {}
    for mode, pairs in raw.items():
        kept, report = filter_qa(pairs)
        per_chunk = {}
        for p in pairs:
            per_chunk[p.chunk_id] = per_chunk.get(p.chunk_id, 0) + 1
        rows[mode] = {
            "chunks": len(pool), "asked": len(pool) * args.questions, "questions": len(pairs),
            "chunks_without_question": len(pool) - len(per_chunk),
            "read_from_json": sum(p.metadata["questions_from"] == "json" for p in pairs),
            "fell_back_to_lines": sum(MODES[mode] and p.metadata["questions_from"] == "lines" for p in pairs),
            "kept_after_filter": len(kept), "dropped": report.to_dict().get("dropped", {}),
            "seconds": round(seconds[mode], 1), "sample": [[p.question, p.answer] for p in kept[:5]],
        }
    meta["load_avg_end"] = load_average()
    result = {"meta": {**meta, "model": "smollm2-135m", "questions_per_chunk": args.questions,
                       "command": f"python benchmarks/qa_gen_structured.py --chunks {args.chunks} --questions {args.questions}"},
              "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "qa_gen_structured.json"
    out.write_text(json.dumps(result, indent=2))
    for mode, r in rows.items():
        console.print(f"{mode}: {r['questions']} questions for {r['chunks']} chunks ({r['chunks_without_question']} with none), "
                      f"{r['kept_after_filter']} kept, {r['seconds']} s")
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
