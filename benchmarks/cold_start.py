"""Cold start: wall time of fresh processes for `ragkit --help`, BM25 / hybrid search and `ask`.

Each command is a new interpreter (what a user waits for at the prompt), run over alternated
rounds after one warm-up run of each (so the OS file cache is warm for every command alike);
medians and min–max. Beside them a bare BM25 script (bm25s loading the very matrix ragkit saved
and answering the same query), the floor the issue measures `--mode bm25` against. For every
command, `python -X importtime` names the top-level packages that cost the most import time.

    .venv/bin/python benchmarks/cold_start.py [--rounds 5] [--skip-ask]

Writes benchmarks/results/cold_start.json (the README block is generated from it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.harness import alternate, load_average, machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
QUESTION = "How long is the warranty?"
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
BARE_BM25 = (
    "import json, sys, bm25s, Stemmer\n"
    "retriever = bm25s.BM25.load(sys.argv[1] + '/bm25')\n"
    "ids = json.load(open(sys.argv[1] + '/bm25/ids.json'))\n"
    "query = bm25s.tokenize([sys.argv[2]], stopwords='en', stemmer=Stemmer.Stemmer('english'), return_ids=False, show_progress=False)\n"
    "docs, scores = retriever.retrieve(query, k=2, show_progress=False)\n"
    "print([ids[int(i)] if isinstance(ids, list) else i for i in docs[0]])\n"
)


def commands(index: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "ragkit.cli"]
    return {
        "ragkit --help": [*cli, "--help"],
        "bare bm25s script (floor)": [sys.executable, "-c", BARE_BM25, str(index), QUESTION],
        "ragkit search --mode bm25": [*cli, "search", str(index), QUESTION, "--mode", "bm25", "-k", "2"],
        "ragkit search --mode hybrid": [*cli, "search", str(index), QUESTION, "--mode", "hybrid", "-k", "2"],
        "ragkit ask (SmolLM2-135M, transformers)": [*cli, "ask", str(index), QUESTION],
    }


def run_once(argv: list[str]) -> int:
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} … failed: {done.stderr[-800:]}")
    return 1


def import_offenders(argv: list[str], top: int = 6) -> list[dict]:
    """Top-level packages by cumulative import time (``-X importtime``) for one run of ``argv``."""
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, env=ENV, cwd=ROOT)
    totals: dict[str, int] = {}
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if m and m[2] == "":  # a top-level import: its cumulative time includes what it pulled in
            name = m[3].split(".")[0]
            totals[name] = totals.get(name, 0) + int(m[1])
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [{"package": name, "seconds": round(us / 1e6, 3)} for name, us in ranked]


def build_index(out: Path) -> Path:
    index = out / "demo"
    cli = [sys.executable, "-m", "ragkit.cli"]
    for args in (["ingest", str(ROOT / "ragkit" / "demo_corpus"), "--out", str(index)], ["index", str(index)]):
        run_once([*cli, *args])
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-ask", action="store_true", help="leave out `ragkit ask` (it loads the LLM)")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    console = Console()
    meta = machine()
    with tempfile.TemporaryDirectory() as tmp:
        index = build_index(Path(tmp))
        cmds = commands(index)
        if args.skip_ask:
            cmds = {k: v for k, v in cmds.items() if not k.startswith("ragkit ask")}
        timed = alternate({name: (lambda argv=argv: run_once(argv)) for name, argv in cmds.items()}, args.rounds,
                          unit="runs_per_s")
        offenders = {name: import_offenders(argv) for name, argv in cmds.items()}
    meta["load_avg_end"] = load_average()
    rows = []
    for name, t in timed.items():
        rows.append({"command": name, "seconds_median": round(t["seconds_median"], 3),
                     "seconds_min": round(1 / t["runs_per_s_max"], 3), "seconds_max": round(1 / t["runs_per_s_min"], 3),
                     "rounds": t["rounds"], "import_offenders": offenders[name]})
    floor = next(r for r in rows if r["command"].startswith("bare"))["seconds_median"]
    table = Table(title=f"cold start, fresh process each run ({args.rounds} alternated rounds; {meta['cpus']} CPUs, "
                        f"load {meta['load_avg_start']} → {meta['load_avg_end']})")
    for col in ("command", "median s", "min–max s", "× bare bm25s", "top imports (s)"):
        table.add_column(col)
    for r in rows:
        imports = ", ".join(f"{o['package']} {o['seconds']:.2f}" for o in r["import_offenders"][:4])
        table.add_row(r["command"], f"{r['seconds_median']:.2f}", f"{r['seconds_min']:.2f}–{r['seconds_max']:.2f}",
                      f"{r['seconds_median'] / floor:.1f}", imports)
    console.print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "cold_start.json"
    out.write_text(json.dumps({"meta": {**meta, "rounds": args.rounds, "question": QUESTION}, "rows": rows}, indent=2))
    console.print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
