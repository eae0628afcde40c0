"""Atomic directory writes: build in a temp dir beside the target, then swap it in.

An exception or Ctrl-C while the block runs leaves the previous directory untouched.

Example:
    >>> with atomic_dir("runs/index") as tmp:   # doctest: +SKIP
    ...     (tmp / "manifest.json").write_text("{}")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_dir", "atomic_write_text"]


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], copy_existing: bool = True) -> Iterator[Path]:
    """Yield a temp dir that replaces ``target`` only if the block finishes without error.

    Args:
        target: the directory to create or replace.
        copy_existing: start the temp dir as a copy of ``target`` (for incremental updates).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        if copy_existing and target.is_dir():
            shutil.copytree(target, tmp, dirs_exist_ok=True)
        yield tmp
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a file via a temp file + ``os.replace`` so readers never see half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
