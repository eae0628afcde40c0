"""Cost of a stage: wall time and peak memory (resident set size), measured around a block.

``measure()`` samples the process's resident set size in a background thread while the block
runs (``/proc/self/statm`` on Linux, else ``psutil`` when installed) and also reads the
process's high-water mark (``resource.getrusage(...).ru_maxrss``). Model weights and tensors live
outside Python's allocator, so ``tracemalloc`` would miss them; RSS does not. On CUDA the peak
allocated GPU memory is recorded too.

Example:
    >>> with measure() as cost:
    ...     answers = pipeline.ask(questions)            # doctest: +SKIP
    >>> cost.seconds, cost.peak_rss_mb                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterator

__all__ = ["Cost", "measure", "rss_mb", "max_rss_mb"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") and "SC_PAGE_SIZE" in os.sysconf_names else 4096


def rss_mb() -> float | None:
    """The process's current resident set size in MiB (``None`` when it cannot be read)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss / 2**20


def max_rss_mb() -> float | None:
    """The process's peak resident set size so far in MiB (``ru_maxrss``; ``None`` on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


@dataclass
class Cost:
    """What a block cost.

    Attributes:
        seconds: wall time.
        peak_rss_mb: highest RSS sampled during the block (MiB).
        start_rss_mb: RSS when the block started (so ``peak - start`` is what it added).
        process_max_rss_mb: the process's high-water mark at the end (``ru_maxrss``).
        gpu_peak_mb: peak CUDA memory allocated during the block, when CUDA is in use.
    """

    seconds: float = 0.0
    peak_rss_mb: float | None = None
    start_rss_mb: float | None = None
    process_max_rss_mb: float | None = None
    gpu_peak_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@contextlib.contextmanager
def measure(interval: float = 0.05) -> Iterator[Cost]:
    """Measure the wall time and peak memory of the ``with`` block.

    Args:
        interval: seconds between RSS samples.

    Yields:
        A ``Cost`` filled in when the block exits (also when it raises).
    """
    cost = Cost(start_rss_mb=rss_mb())
    peak = [cost.start_rss_mb or 0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            now = rss_mb()
            if now is not None and now > peak[0]:
                peak[0] = now

    cuda = _cuda_reset()
    thread = threading.Thread(target=sample, name="ragkit-measure", daemon=True)
    started = time.perf_counter()
    thread.start()
    try:
        yield cost
    finally:
        stop.set()
        thread.join()
        cost.seconds = time.perf_counter() - started
        end = rss_mb()
        if cost.start_rss_mb is not None:
            cost.peak_rss_mb = max(peak[0], end or 0.0)
        cost.process_max_rss_mb = max_rss_mb()
        if cuda:
            import torch

            cost.gpu_peak_mb = torch.cuda.max_memory_allocated() / 2**20


def _cuda_reset() -> bool:
    if "torch" not in sys.modules:
        return False
    import torch

    if not torch.cuda.is_available():
        return False
    torch.cuda.reset_peak_memory_stats()
    return True
