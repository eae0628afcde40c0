"""Code QA retrieval: is the gold symbol in the top 5 for hand-written questions about a library?

The questions (``benchmarks/data/code_qa_<lib>.jsonl``: question, gold file, gold symbol,
answer) are about the source of an installed library ragkit does not use (python-dateutil).
The script copies that source into a temp dir, runs ``ragkit ingest`` + ``ragkit index``
(BM25 + MiniLM), and reports gold-symbol hit@5 and MRR@10 for bm25, dense and hybrid. A hit is
a chunk of the gold file whose symbol is the gold symbol (or one of the names of a
multi-target assignment chunk such as ``"MO, TU, WE"``).

Before vs after: run it once on the lead's tree and once on this one, under two labels; each
run adds its label to ``benchmarks/results/code_qa.json``:

    PYTHONPATH=/work/main .venv/bin/python benchmarks/code_qa.py --label before
    PYTHONPATH=$PWD      .venv/bin/python benchmarks/code_qa.py --label after
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "code_qa.json"
MODES = ("bm25", "dense", "hybrid")


def load_questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_gold(chunk, q: dict, prefix: str) -> bool:
    """The chunk is in the gold file and defines the gold symbol."""
    if chunk.source != f"{prefix}/{q['file']}" or not chunk.symbol:
        return False
    return q["symbol"] == chunk.symbol or q["symbol"] in chunk.symbol.split(", ")


def evaluate(index_dir: Path, questions: list[dict], prefix: str) -> dict:
    from ragkit.pipeline import Pipeline

    out = {}
    for mode in MODES:
        pipe = Pipeline.for_index(index_dir, {"retriever": mode})
        hits, _ = pipe.retrieve([q["question"] for q in questions], k=10)
        ranks = []
        for q, hs in zip(questions, hits):
            rank = next((n for n, h in enumerate(hs, start=1) if is_gold(h.chunk, q, prefix)), None)
            ranks.append(rank)
        out[mode] = {
            "hit@5": round(sum(r is not None and r <= 5 for r in ranks) / len(ranks), 4),
            "mrr@10": round(sum(1 / r for r in ranks if r) / len(ranks), 4),
            "ranks": ranks,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default="dateutil")
    ap.add_argument("--label", required=True, help="name of this run in the results file (before / after)")
    ap.add_argument("--work", default=None, help="keep the index here instead of a temp dir")
    args = ap.parse_args()

    from ragkit.indexes.index import Index
    from ragkit.ingest import ingest

    questions = load_questions(ROOT / "benchmarks" / "data" / f"code_qa_{args.lib}.jsonl")
    spec = importlib.util.find_spec(args.lib)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{args.lib} is not installed as a package; install it or pick another --lib")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="code_qa_"))
    src = work / "src" / args.lib
    shutil.rmtree(work / "src", ignore_errors=True)
    shutil.copytree(spec.submodule_search_locations[0], src, ignore=shutil.ignore_patterns("__pycache__", "*.tar.gz"))
    index_dir = work / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    report = ingest([work / "src"], index_dir)  # sources: dateutil/tz/tz.py …
    Index.build(index_dir, show_progress=False)
    result = evaluate(index_dir, questions, args.lib)

    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[args.label] = {"lib": args.lib, "questions": len(questions), "chunks": report.chunks_total, **result}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"{args.label}: {len(questions)} questions, {report.chunks_total} chunks")
    for mode in MODES:
        print(f"  {mode:7s} hit@5 {result[mode]['hit@5']:.3f}  MRR@10 {result[mode]['mrr@10']:.3f}")


if __name__ == "__main__":
    main()
