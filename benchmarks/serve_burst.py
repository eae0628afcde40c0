"""`benchmarks/serve.py --burst N`: N concurrent /feedback posts, this tree vs a baseline commit, and a SIGKILL.

Loopback only and bounded: every request has a timeout, every server is stopped. The client is a
minimal HTTP/1.1 client on asyncio streams (one fresh connection per post, as N separate clients
would), so that the server, not the client, limits the rate on a small machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import httpx
from rich.table import Table

REQUEST_TIMEOUT = 120.0  # seconds for one post; the whole burst is bounded by it too


async def post_raw(host: str, port: int, path: str, body: bytes) -> tuple[int, float, float, Any]:
    """POST ``body`` on a fresh connection; (status, started, seconds, json or error). Status 0 = transport error."""
    started = time.perf_counter()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT)
        try:
            writer.write(head + body)
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT)  # Connection: close → read to EOF
        finally:
            writer.close()
    except (OSError, asyncio.TimeoutError) as exc:
        return 0, started, time.perf_counter() - started, repr(exc)
    elapsed = time.perf_counter() - started
    status_line, _, rest = raw.partition(b"\r\n")
    try:
        status = int(status_line.split()[1])
        payload = json.loads(rest.partition(b"\r\n\r\n")[2] or b"null")
    except (IndexError, ValueError):
        return 0, started, elapsed, raw[:200].decode("latin-1")
    return status, started, elapsed, payload


def feedback_bodies(answer_id: str, chunk_ids: list[str], n: int) -> list[bytes]:
    """Two thirds thumbs, one third a source mark (each post writes one row)."""
    bodies = []
    for i in range(n):
        if i % 3 or not chunk_ids:
            body: dict[str, Any] = {"answer_id": answer_id, "rating": 1 if i % 2 else -1}
        else:
            body = {"answer_id": answer_id, "sources": [{"chunk_id": chunk_ids[i % len(chunk_ids)], "relevant": bool(i % 2)}]}
        bodies.append(json.dumps(body).encode())
    return bodies


def seed(url: str) -> tuple[str, list[str]]:
    """Ask once; (answer id, its source chunk ids)."""
    r = httpx.post(url + "/ask", json={"question": "How often does the Helios Monitor app update?"}, timeout=60)
    r.raise_for_status()
    data = r.json()
    return data["id"], [s["chunk_id"] for s in data["sources"]]


async def burst(url: str, bodies: list[bytes], on_ack: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Send every body at once; per-post results and the burst's wall time."""
    host, port = url.removeprefix("http://").split(":")
    acked = 0

    async def one(body: bytes) -> tuple[int, float, float, Any]:
        nonlocal acked
        result = await post_raw(host, int(port), "/feedback", body)
        if result[0] == 200:
            acked += 1
            if on_ack is not None:
                on_ack(acked)
        return result

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(b) for b in bodies))
    wall = time.perf_counter() - t0
    return {"results": results, "wall_s": wall, "t0": t0}


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _rows(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
    finally:
        con.close()


def measure(url: str, db: Path, n: int) -> dict[str, Any]:
    """One burst of ``n`` posts against a running server on a fresh log; its figures."""
    answer_id, chunk_ids = seed(url)
    out = asyncio.run(burst(url, feedback_bodies(answer_id, chunk_ids, n)))
    results = out["results"]
    ok = [r for r in results if r[0] == 200]
    done_at = sorted(r[1] + r[2] - out["t0"] for r in ok)
    ms = [r[2] * 1000 for r in ok]
    return {
        "posts": n, "acknowledged": len(ok), "non_2xx": sum(1 for r in results if r[0] not in (200, 0)),
        "transport_errors": sum(1 for r in results if r[0] == 0), "wall_s": out["wall_s"],
        "throughput_rps": len(ok) / out["wall_s"], "p50_ms": _pct(ms, 50), "p95_ms": _pct(ms, 95),
        "max_ms": max(ms, default=float("nan")), "first_ack_s": done_at[0] if done_at else None,
        "acked_in_first_6s": sum(1 for t in done_at if t <= 6.0), "rows_after": None, "db": db,
    }


def sigkill_check(serve_process, index: Path, spec: Path, tmp: Path, n: int, kill_after: int) -> dict[str, Any]:
    """SIGKILL this tree's server after ``kill_after`` acknowledgements, restart it, look for every acknowledged row."""
    db, log = tmp / "kill.sqlite", tmp / "kill.log"
    children: list[subprocess.Popen] = []
    with serve_process(index, spec, db, log, children=children) as url:
        answer_id, chunk_ids = seed(url)
        killed_at: list[float] = []

        def on_ack(count: int) -> None:
            if count >= kill_after and not killed_at:
                os.kill(children[0].pid, signal.SIGKILL)
                killed_at.append(time.perf_counter())

        out = asyncio.run(burst(url, feedback_bodies(answer_id, chunk_ids, n), on_ack))
    acked_ids = [i for status, _, _, body in out["results"] if status == 200 for i in body["ids"]]
    with serve_process(index, spec, db, log) as url:  # the restart opens (and recovers) the same log
        healthy = httpx.get(url + "/health", timeout=30).status_code == 200
    con = sqlite3.connect(db)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        present = {row[0] for row in con.execute("SELECT id FROM feedback")}
    finally:
        con.close()
    missing = sorted(set(acked_ids) - present)
    return {
        "posts": n, "killed_after_acks": kill_after, "acknowledged_posts": sum(1 for r in out["results"] if r[0] == 200),
        "acknowledged_rows": len(acked_ids), "rows_after_restart": len(present), "missing_acknowledged": len(missing),
        "integrity_check": integrity, "restart_healthy": healthy,
        "failed_after_kill": sum(1 for r in out["results"] if r[0] != 200),
    }


def index_with(code_root: Path, out: Path) -> Path:
    """Ingest the demo corpus and build its BM25 index with the ragkit of ``code_root`` (another commit's tree).

    The index format changes between commits (chunk fields, generations), so each server gets an
    index written by its own code; the corpus and the BM25-only build are the same for both.
    """
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    cli = [sys.executable, "-c", "from ragkit.cli import main; main()"]
    demo = code_root / "ragkit" / "demo_corpus"
    for argv in (["ingest", str(demo), "--out", str(out)], ["index", str(out), "--no-dense"]):
        subprocess.run(cli + argv, env=env, cwd=code_root, check=True, capture_output=True)
    return out


def run_burst(args, build_demo_index, write_spec, serve_process, console) -> int:
    """The ``--burst`` scenario of benchmarks/serve.py; returns the exit status."""
    n, rounds = args.burst, args.rounds
    failed: list[str] = []
    load_start = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="ragkit-serve-burst-") as tmpdir:
        tmp = Path(tmpdir)
        index = args.index or build_demo_index(tmp / "demo-index", "bm25")
        spec = write_spec(tmp / "spec.json", "bm25", "fake")
        systems: dict[str, Path | None] = {"batched (this tree)": None}
        indexes: dict[str, Path] = {"batched (this tree)": index}
        if args.baseline != "none":
            old = tmp / "baseline"
            old.mkdir()
            repo = Path(__file__).resolve().parent.parent
            archive = subprocess.run(["git", "-C", str(repo), "archive", args.baseline, "ragkit"], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
            systems = {f"per-request txn ({args.baseline})": old, **systems}
            indexes[f"per-request txn ({args.baseline})"] = index_with(old, tmp / "baseline-index")
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in systems}
        names = list(systems)
        for r in range(rounds):
            order = names if r % 2 == 0 else names[::-1]  # alternate who goes first
            for name in order:
                db = tmp / f"round{r}-{len(runs[name])}-{names.index(name)}.sqlite"
                with serve_process(indexes[name], spec, db, tmp / "server.log", code_root=systems[name]) as url:
                    figures = measure(url, db, n)
                figures["rows_after"] = _rows(db)
                figures.pop("db")
                runs[name].append(figures)
                console.print(f"round {r + 1} {name}: {figures['throughput_rps']:.0f} posts/s, "
                              f"p95 {figures['p95_ms']:.0f} ms, {figures['acknowledged']}/{n} acknowledged, "
                              f"{figures['rows_after']} rows")
                if figures["acknowledged"] != n or figures["rows_after"] != n:
                    failed.append(f"{name} round {r + 1}: {figures['acknowledged']} acknowledged, "
                                  f"{figures['rows_after']} rows of {n} posts")
        kill = sigkill_check(serve_process, index, spec, tmp, n, kill_after=n // 3)

    table = Table("server", "rounds", "posts/s median", "posts/s min–max", "p50 ms", "p95 ms median",
                  "p95 min–max", "first ack s", "acked ≤ 6 s", "lost", title=f"{n} concurrent POST /feedback, loopback",
                  min_width=110)
    summary: dict[str, Any] = {}
    for name, rs in runs.items():
        rps = [x["throughput_rps"] for x in rs]
        p95 = [x["p95_ms"] for x in rs]
        lost = sum(x["acknowledged"] - x["rows_after"] for x in rs if x["rows_after"] < x["acknowledged"])
        summary[name] = {"throughput_rps_median": statistics.median(rps), "throughput_rps_min": min(rps),
                         "throughput_rps_max": max(rps), "p50_ms_median": statistics.median(x["p50_ms"] for x in rs),
                         "p95_ms_median": statistics.median(p95), "p95_ms_min": min(p95), "p95_ms_max": max(p95),
                         "first_ack_s_median": statistics.median(x["first_ack_s"] for x in rs),
                         "acked_in_first_6s_median": statistics.median(x["acked_in_first_6s"] for x in rs),
                         "lost": lost, "rounds": rs}
        s = summary[name]
        table.add_row(name, str(len(rs)), f"{s['throughput_rps_median']:.0f}", f"{min(rps):.0f}–{max(rps):.0f}",
                      f"{s['p50_ms_median']:.0f}", f"{s['p95_ms_median']:.0f}", f"{min(p95):.0f}–{max(p95):.0f}",
                      f"{s['first_ack_s_median']:.2f}", f"{s['acked_in_first_6s_median']:.0f}", str(lost))
    console.print(table)
    speedup = None
    if len(names) == 2:
        speedup = summary[names[1]]["throughput_rps_median"] / summary[names[0]]["throughput_rps_median"]
        console.print(f"throughput, batched / per-request (medians): {speedup:.1f}x")
    console.print(f"SIGKILL after {kill['killed_after_acks']} acks: {kill['acknowledged_posts']} posts acknowledged "
                  f"({kill['acknowledged_rows']} rows); after restart {kill['rows_after_restart']} rows, "
                  f"{kill['missing_acknowledged']} acknowledged rows missing; integrity_check: {kill['integrity_check']}")
    if kill["missing_acknowledged"] or kill["integrity_check"] != "ok" or not kill["restart_healthy"]:
        failed.append(f"SIGKILL: {kill['missing_acknowledged']} acknowledged rows missing, "
                      f"integrity {kill['integrity_check']}, restart healthy {kill['restart_healthy']}")
    result = {"meta": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                       "load_avg_start": load_start, "load_avg_end": list(os.getloadavg()),
                       "posts": n, "rounds": rounds, "baseline": args.baseline, "client": "asyncio streams, one connection per post",
                       "command": f"python benchmarks/serve.py --burst {n} --rounds {rounds}"},
              "systems": summary, "speedup_median_throughput": speedup, "sigkill": kill, "failed": failed}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    for message in failed:
        console.print(f"[red]FAIL[/] {message}")
    if not failed:
        console.print("[green]OK[/] nothing lost, every acknowledged row survived the SIGKILL")
    return 1 if failed else 0
