"""Bounded loopback load test of `ragkit serve`: concurrent /feedback posts and /ask calls.

Starts the chat service in a child process (the `ragkit serve` command function, uvicorn) on
127.0.0.1 and a free port, over the demo corpus (or --index), then sends --feedback concurrent POST /feedback requests
mixed with --asks concurrent POST /ask requests (httpx.AsyncClient), and polls GET /health
while the asks run. It checks that no request got a 5xx and that every feedback row is in
SQLite (nothing lost), and prints p50/p95 latencies per endpoint. Exit status 1 on a failed check.

The default generator is the real one (SmolLM2-135M, offline); `--generator fake` measures the
service alone (a FakeLLM with a canned grounded answer).

    HF_HUB_OFFLINE=1 python benchmarks/serve.py                      # 200 feedback + 20 asks, SmolLM2
    HF_HUB_OFFLINE=1 python benchmarks/serve.py --generator fake --asks 100

`--burst N` measures feedback writes instead (fake LLM): N concurrent clients each POST one
/feedback (a fresh connection each, a lean asyncio client so the client is not the bottleneck),
against this tree's server and against the server of `--baseline REV` (default: the commit before
batched writes), alternated over `--rounds`, each on a fresh log; then a SIGKILL of this tree's
server mid-burst, a restart on the same log, and a check that every acknowledged row is there
(`PRAGMA integrity_check` too). Prints medians and spread; `--out` writes the JSON.

    python benchmarks/serve.py --burst 1000 --rounds 3 --out benchmarks/results/serve_feedback.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                     "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_key, _value)

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import ragkit  # noqa: E402

console = Console(width=120)
DEMO = Path(ragkit.__file__).parent / "demo_corpus"
FAKE_ANSWER = "The Helios Monitor app receives a new data point every 5 minutes [1]."
QUESTIONS = [
    "How often does the Helios Monitor app update?",
    "What is the maximum DC input voltage of the X2-5K?",
    "What is the maximum DC input voltage of the X2-8K?",
    "How many MPP trackers does the X2-8K have?",
    "How much does the X2-5K weigh?",
    "What does error E01 mean?",
    "What causes error E12?",
    "How often should the fan filter be cleaned?",
    "When are firmware updates installed?",
    "How long is the standard warranty period?",
    "How can the warranty be extended to 20 years?",
    "Which batteries work with the Helios X2?",
    "Are lead-acid batteries supported?",
    "What is the maximum battery charge current?",
    "How fast does the backup output switch over when the grid fails?",
    "Which port does the Modbus TCP server use?",
    "How loud is the X2-8K?",
    "Does the warranty cover lightning damage?",
    "How long does Helios Energy take to answer a warranty claim?",
    "How much clearance is needed above and below the inverter?",
]


BASELINE = "b1f6ca3"  # the last commit that wrote feedback one transaction per request


def build_demo_index(out: Path, retriever: str) -> Path:
    """Ingest the demo corpus and build the indexes ``retriever`` needs."""
    from ragkit.indexes.index import Index
    from ragkit.ingest import ingest

    ingest([DEMO], out)
    Index.build(out, bm25=True, dense=retriever in ("dense", "hybrid"), show_progress=False)
    return out


def write_spec(path: Path, retriever: str, generator: str) -> Path:
    """A pipeline spec for ``ragkit serve --spec``: the retriever and the generator's LLM."""
    if generator == "fake":
        llm: dict[str, Any] = {"type": "fake", "default": FAKE_ANSWER}
    else:
        llm = {"type": "transformers", "model": generator}
    path.write_text(json.dumps({"retriever": retriever, "generator": {"type": "llm", "llm": llm}}))
    return path


@contextmanager
def serve_process(
    index: Path, spec: Path, db: Path, log: Path, startup_timeout: float = 120.0, code_root: Path | None = None,
    children: list[subprocess.Popen] | None = None,
) -> Iterator[str]:
    """Run `ragkit serve INDEX` (its command function) in a child process on 127.0.0.1; yield its URL.

    Args:
        code_root: import ``ragkit`` from this directory (another commit's tree) instead of this one.
        children: the child process is appended here (to SIGKILL it).
    """
    from ragkit.server.background import free_port

    port = free_port()
    code = "import typer; from ragkit.commands.serve import serve_cmd; typer.run(serve_cmd)"
    cmd = [sys.executable, "-c", code, str(index), "--host", "127.0.0.1", "--port", str(port),
           "--spec", str(spec), "--feedback-db", str(db)]
    url = f"http://127.0.0.1:{port}"
    root = code_root or Path(ragkit.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with open(log, "ab") as out:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    if children is not None:
        children.append(child)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if child.poll() is not None:
                raise SystemExit(f"the server exited with {child.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start in {startup_timeout:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def timed(client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> tuple[int, float, Any]:
    """(status, seconds, json or None); a transport error counts as status 0."""
    t0 = time.perf_counter()
    try:
        r = await client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        return 0, time.perf_counter() - t0, repr(exc)
    try:
        body = r.json()
    except ValueError:
        body = None
    return r.status_code, time.perf_counter() - t0, body


async def run_load(url: str, n_feedback: int, n_asks: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=n_feedback + n_asks + 8, max_keepalive_connections=n_feedback + n_asks + 8)
    timeout = httpx.Timeout(900.0, connect=30.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        status, cold, seed = await timed(client, "POST", "/ask", json={"question": QUESTIONS[0]})
        if status != 200:
            raise SystemExit(f"warm-up /ask failed with {status}: {seed}")
        chunk_ids = [s["chunk_id"] for s in seed["sources"]]
        bodies = []
        for i in range(n_feedback):  # two thirds thumbs, one third source marks
            if i % 3 or not chunk_ids:
                bodies.append({"answer_id": seed["id"], "rating": 1 if i % 2 else -1})
            else:
                bodies.append({"answer_id": seed["id"], "sources": [{"chunk_id": chunk_ids[i % len(chunk_ids)], "relevant": bool(i % 2)}]})

        done = asyncio.Event()
        health: list[tuple[int, float, Any]] = []

        async def poll_health() -> None:
            while not done.is_set():
                health.append(await timed(client, "GET", "/health"))
                await asyncio.sleep(0.25)

        async def asks() -> list[tuple[int, float, Any]]:
            try:
                return await asyncio.gather(*(
                    timed(client, "POST", "/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]}) for i in range(n_asks)
                ))
            finally:
                done.set()

        t0 = time.perf_counter()
        poller = asyncio.create_task(poll_health())
        ask_task = asyncio.create_task(asks())
        feedback = await asyncio.gather(*(timed(client, "POST", "/feedback", json=b) for b in bodies))
        feedback_wall = time.perf_counter() - t0
        ask_results = await ask_task
        asks_wall = time.perf_counter() - t0
        await poller
    return {"cold_ask_s": cold, "seed": seed, "feedback": feedback, "asks": ask_results, "health": health,
            "feedback_wall_s": feedback_wall, "asks_wall_s": asks_wall}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="existing index directory (default: build the demo corpus)")
    parser.add_argument("--retriever", default="bm25", choices=["bm25", "dense", "hybrid"])
    parser.add_argument("--generator", default="smollm2-135m", help="an LLM model reference, or 'fake'")
    parser.add_argument("--feedback", type=int, default=200, help="concurrent POST /feedback requests")
    parser.add_argument("--asks", type=int, default=20, help="concurrent POST /ask requests")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--burst", type=int, help="measure N concurrent /feedback posts (this tree vs --baseline)")
    parser.add_argument("--rounds", type=int, default=3, help="--burst: alternated rounds per server")
    parser.add_argument("--baseline", default=BASELINE, help="--burst: commit whose server is compared ('none': skip)")
    args = parser.parse_args(argv)
    if args.burst:
        from serve_burst import run_burst  # benchmarks/serve_burst.py, beside this file

        return run_burst(args, build_demo_index, write_spec, serve_process, console)

    with tempfile.TemporaryDirectory(prefix="ragkit-serve-bench-") as tmp:
        index = args.index or build_demo_index(Path(tmp) / "demo-index", args.retriever)
        db = Path(tmp) / "feedback.sqlite"
        spec = write_spec(Path(tmp) / "spec.json", args.retriever, args.generator)
        with serve_process(index, spec, db, Path(tmp) / "server.log") as url:
            result = asyncio.run(run_load(url, args.feedback, args.asks))
        con = sqlite3.connect(db)
        rows = con.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
        answers = con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        con.close()

    summary: dict[str, Any] = {"generator": args.generator, "retriever": args.retriever, "cpus": os.cpu_count(),
                               "cold_ask_s": result["cold_ask_s"], "asks_wall_s": result["asks_wall_s"],
                               "feedback_wall_s": result["feedback_wall_s"], "endpoints": {}}
    table = Table("endpoint", "requests", "2xx", "4xx", "5xx", "errors", "p50 ms", "p95 ms", "max ms",
                  title=f"ragkit serve load test ({url}, {os.cpu_count()} CPUs)", min_width=100)
    failed = []
    for name, results in (("POST /feedback", result["feedback"]), ("POST /ask", result["asks"]),
                          ("GET /health (during asks)", result["health"])):
        codes = [s for s, _, _ in results]
        ms = [t * 1000 for _, t, _ in results]
        n5, n0 = sum(500 <= c for c in codes), codes.count(0)
        table.add_row(name, str(len(results)), str(sum(200 <= c < 300 for c in codes)),
                      str(sum(400 <= c < 500 for c in codes)), str(n5), str(n0),
                      f"{_pct(ms, 50):.1f}", f"{_pct(ms, 95):.1f}", f"{max(ms, default=float('nan')):.1f}")
        summary["endpoints"][name] = {"requests": len(results), "5xx": n5, "errors": n0,
                                      "p50_ms": _pct(ms, 50), "p95_ms": _pct(ms, 95), "max_ms": max(ms, default=None)}
        if n5 or n0 or any(400 <= c < 500 for c in codes):
            failed.append(f"{name}: {n5} 5xx, {n0} transport errors, {sum(400 <= c < 500 for c in codes)} 4xx")
    console.print(table)

    expected_rows = sum(b["rows"] for s, _, b in result["feedback"] if s == 200)
    ok_asks = [b for s, _, b in result["asks"] if s == 200]
    idk = sum(1 for b in ok_asks if b["answer"] == "I don't know.")
    generate = [b["timings"].get("generate", 0.0) for b in ok_asks]
    console.print(f"generator: {args.generator}"
                  + (" (FakeLLM, canned answer)" if args.generator == "fake" else " (transformers, CPU)")
                  + f"; retriever: {args.retriever}; index: {'demo corpus' if args.index is None else args.index}")
    console.print(f"cold first /ask (model load): {result['cold_ask_s']:.2f} s; "
                  f"{len(ok_asks)} asks in {result['asks_wall_s']:.2f} s ({len(ok_asks) / result['asks_wall_s']:.2f} asks/s, "
                  f"serialised; mean generate {statistics.fmean(generate) if generate else float('nan'):.2f} s; "
                  f"{idk} answered \"I don't know.\")")
    console.print(f"{args.feedback} feedback posts finished in {result['feedback_wall_s']:.2f} s; "
                  f"rows in SQLite: {rows} (expected {expected_rows}); answers logged: {answers} (expected {len(ok_asks) + 1})")
    if rows != expected_rows or expected_rows != len(result["feedback"]):  # each post writes one row
        failed.append(f"feedback rows: {rows} in SQLite, {expected_rows} acknowledged, {args.feedback} sent")
    if answers != len(ok_asks) + 1:
        failed.append(f"answers rows: {answers}, expected {len(ok_asks) + 1}")
    summary.update(feedback_rows=rows, feedback_rows_expected=expected_rows, answers_logged=answers,
                   mean_generate_s=statistics.fmean(generate) if generate else None, idk=idk, failed=failed)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))
    for message in failed:
        console.print(f"[red]FAIL[/] {message}")
    if not failed:
        console.print("[green]OK[/] no 5xx, no lost rows")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
