"""ragas LLM metrics judged offline by the bundled SmolLM2-135M: free-form vs schema-constrained replies.

The same RAG answers (BM25 top-2 on the bundled demo corpus, answered by SmolLM2-135M through
ragkit's pipeline) are judged twice by the same model, once asked through plain ``chat`` (the
judge must write ragas' JSON by itself) and once through ``chat_json`` (decoding constrained to
ragas' response schema, ``ragkit/llm/structured.py``). Printed and written: parse failures, values
per metric, seconds, and every judge reply of the first questions for a hand check.

    .venv/bin/python benchmarks/ragas_judge.py [--questions 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
from benchmarks.harness import load_average, machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
METRICS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")


class Recorder:
    """An LLM that forwards to ``llm`` and keeps every judge reply; ``constrained=False`` hides ``chat_json``."""

    def __init__(self, llm, constrained: bool):
        self.llm, self.constrained, self.replies = llm, constrained, []
        self.supports_json_schema = constrained and llm.supports_json_schema

    def chat_json(self, conversations, schema, max_new_tokens=None):
        if self.constrained:
            out = self.llm.chat_json(conversations, schema, max_new_tokens=max_new_tokens)
        else:
            out = self.llm.chat(conversations, max_new_tokens=max_new_tokens)
        self.replies += [{"schema": schema.get("title"), "reply": r} for r in out]
        return out

    def to_config(self):
        return {**self.llm.to_config(), "constrained": self.constrained}

    def __getattr__(self, name):
        return getattr(self.llm, name)


def answers(n: int, seed: int) -> list:
    from ragkit.api import ingest_files
    from ragkit.defaults import DEMO_CORPUS
    from ragkit.eval.ragas import RagasSample
    from ragkit.pipeline import Pipeline

    rows = [json.loads(line) for line in (ROOT / "examples" / "demo-qa.jsonl").read_text().splitlines() if line.strip()]
    rows = random.Random(seed).sample(rows, n)
    index = ingest_files(DEMO_CORPUS, tempfile.mkdtemp() + "/demo", dense=False)
    pipeline = Pipeline(index=index.directory, retriever={"type": "bm25"}, k=2)
    gold = {c.id: c.text for c in index.chunks([r["chunk_id"] for r in rows])}
    out = []
    for row, answer in zip(rows, pipeline.ask([r["question"] for r in rows])):
        out.append(RagasSample(question=row["question"], response=answer.text, reference=row["answer"],
                               retrieved_contexts=[h.chunk.text for h in answer.hits],
                               reference_contexts=[gold[row["chunk_id"]]]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--modes", default="free-form,constrained",
                        help="judge modes to run now; the others are kept from the existing JSON (same questions)")
    args = parser.parse_args()
    import torch
    from rich.console import Console
    from rich.table import Table

    from ragkit.eval.ragas import ragas_scores
    from ragkit.llm import TransformersLLM

    torch.set_num_threads(1)
    console = Console()
    meta = machine()
    samples = answers(args.questions, args.seed)
    judge = TransformersLLM()
    report = {"meta": meta, "questions": [s.question for s in samples], "responses": [s.response for s in samples],
              "runs": {}}
    out = RESULTS / "ragas_judge.json"
    modes = args.modes.split(",")
    if out.exists() and set(modes) != {"free-form", "constrained"}:
        old = json.loads(out.read_text())
        if old["questions"] != report["questions"]:
            raise SystemExit("the kept runs judged other questions: run every mode (--modes free-form,constrained)")
        report["runs"] = {m: {**r, "kept_from_earlier_run": old["meta"]} for m, r in old["runs"].items() if m not in modes}
    for mode in modes:  # the same judge model object: loaded once for every mode
        recorder = Recorder(judge, constrained=mode == "constrained")
        started = time.perf_counter()
        with console.status(f"judging ({mode})"):
            scores = ragas_scores(samples, llm_metrics=True, judge=recorder, metrics=METRICS,
                                  judge_max_new_tokens=args.max_new_tokens)
        report["runs"][mode] = {"aggregate": scores["aggregate"], "counts": scores["counts"],
                                "missing": scores["missing"], "judge_stats": scores["judge_stats"],
                                "per_query": scores["per_query"], "seconds": round(time.perf_counter() - started, 1),
                                "replies": recorder.replies, "max_new_tokens": args.max_new_tokens}
    meta["load_avg_end"] = load_average()
    table = Table(title=f"ragas LLM metrics, SmolLM2-135M judge, {len(samples)} demo questions "
                        f"({meta['cpus']} CPUs, load {meta['load_avg_start']} → {meta['load_avg_end']})")
    for col in ("judge replies", "calls", "parse errors", *METRICS, "seconds"):
        table.add_column(col)
    for mode, run in report["runs"].items():
        stats = run["judge_stats"]
        values = [("–" if run["aggregate"][m] is None else f"{run['aggregate'][m]:.2f}") + f" ({run['counts'][m]})"
                  for m in METRICS]
        table.add_row(mode, str(stats["calls"]), str(stats["parse_errors"]), *values, str(run["seconds"]))
    console.print(table)
    report["runs"] = {m: report["runs"][m] for m in ("free-form", "constrained") if m in report["runs"]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
