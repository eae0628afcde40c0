"""One writer per index directory: an advisory ``fcntl.flock`` on a lock file beside it.

``ragkit ingest`` and ``ragkit index`` hold the lock while they read, build and swap in a new
generation (``ragkit.indexes.generations``), so two writers can never base their work on the
same old index and lose each other's changes. The lock file ``.<name>.lock`` sits next to the
index (not inside it, since the index path is switched from one generation to the next) and
holds the writer's PID for the error message. The kernel drops the lock when its process dies,
even by SIGKILL, so a stale lock file never blocks a later writer.

Example:
    >>> with index_lock("runs/idx"):    # doctest: +SKIP
    ...     ...                         # build and commit a generation
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

__all__ = ["IndexLockedError", "index_lock", "lock_path"]


class IndexLockedError(RuntimeError):
    """Another process is writing the index (it holds the index's lock)."""


def lock_path(index_dir: str | os.PathLike[str]) -> Path:
    """The lock file of an index directory: ``.<name>.lock`` in the same parent directory."""
    index_dir = Path(index_dir)
    return index_dir.parent / f".{index_dir.name}.lock"


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", errors="replace").strip()
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def index_lock(index_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the writer lock of ``index_dir`` for the block; fail at once if it is taken.

    Args:
        index_dir: the index directory (it need not exist yet; its parent is created).

    Returns:
        A context manager yielding the lock file's path.

    Raises:
        IndexLockedError: another process holds the lock; the message names its PID.
    """
    path = lock_path(index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(
                f"index {index_dir} is locked by PID {_holder(fd)} (another `ragkit ingest` or "
                f"`ragkit index` is writing it); wait for it to finish, or stop that process"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
