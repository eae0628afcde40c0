"""What every speed benchmark shares, so that fairness is one piece of code rather than a habit.

``alternate`` warms every system with the same call, then runs each once per round in a rotated
order (no system always goes first, or always runs on a cache the previous one warmed), and
reports per system the median, min and max rate over the rounds. ``machine`` records what the
figures came from: CPU, cores, Python, and the load average before and after, so a reader can
tell a quiet run from a loaded one.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

__all__ = ["ROOT", "RESULTS", "offline", "alternate", "machine", "load_average"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def offline(**extra: str) -> None:
    """Run offline: no model hub, quiet tokenizer threads (``extra`` adds variables). A variable already set wins.

    Call it before any model library is imported: transformers reads these at import.
    """
    for name, value in {**OFFLINE, **extra}.items():
        os.environ.setdefault(name, value)


def load_average() -> list[float]:
    """The 1/5/15-minute load average, rounded (empty where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict:
    """The machine a result JSON came from (README figures name it)."""
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "load_avg_start": load_average()}


def alternate(systems: dict[str, Callable[[], int]], rounds: int, unit: str = "qps") -> dict[str, dict]:
    """Time ``systems`` (name -> call returning the amount of work done) over alternated rounds.

    Every system is warmed once with its own call before any timing; then round ``r`` runs the
    systems starting from the ``r``-th (a rotation). Returns per system ``{unit}_median``,
    ``{unit}_min``, ``{unit}_max`` (work / second), ``seconds_median`` and ``rounds``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    names = list(systems)
    for name in names:
        systems[name]()
    rates: dict[str, list[float]] = {name: [] for name in names}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            amount = systems[name]()
            took = time.perf_counter() - start
            seconds[name].append(took)
            rates[name].append(amount / took)
    return {
        name: {f"{unit}_median": statistics.median(s), f"{unit}_min": min(s), f"{unit}_max": max(s),
               "seconds_median": statistics.median(seconds[name]), "rounds": len(s)}
        for name, s in rates.items()
    }
