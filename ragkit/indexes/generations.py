"""Index generations: every write builds a new directory, and one ``rename`` switches readers to it.

Layout, for an index at ``runs/idx``::

    runs/idx                 -> .idx.gens/g000007   (a relative symlink: the current generation)
    runs/.idx.gens/g000006/  the previous generation (kept, for readers still inside it)
    runs/.idx.gens/g000007/  manifest.json, chunks.jsonl, bm25/, dense/ ...
    runs/.idx.lock           the writers' lock (``ragkit.indexes.lock``)

A writer (holding ``index_lock``) builds ``g000008`` in a temp dir inside ``.idx.gens``, renames
it to its final name, then points ``runs/idx`` at it by renaming a new symlink over the old
one: a single ``rename(2)``, so a reader opening ``runs/idx/...`` sees the old generation or the
new one, never nothing. A generation is complete before any pointer names it, so readers only
ever load complete ones. A reader that opens several files resolves the pointer once
(``generation_path``) and reads them all from that generation; a server polls
``current_generation`` to notice a new one.

An index written before generations (``runs/idx`` a real directory) is still read as it is.
Its first write swaps the directory for the symlink with ``renameat2(RENAME_EXCHANGE)`` on
Linux, so even that step never leaves the path missing (elsewhere it takes two renames once).
Temp dirs of a killed writer (and ``.idx.tmp-*`` / ``.idx.old-*`` of the pre-generation
writer) are removed by the next writer.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = [
    "KEEP_GENERATIONS",
    "current_generation",
    "generation_path",
    "generations_dir",
    "new_generation",
    "remove_stale",
]

KEEP_GENERATIONS = 2  # the current one and the one before it (readers may still be inside it)
_GEN = re.compile(r"^g(\d{6,})$")


def generations_dir(index_dir: str | os.PathLike[str]) -> Path:
    """Where the generations of ``index_dir`` live: ``.<name>.gens`` beside it."""
    index_dir = Path(index_dir)
    return index_dir.parent / f".{index_dir.name}.gens"


def current_generation(index_dir: str | os.PathLike[str]) -> str | None:
    """The name of the generation ``index_dir`` points at (``"g000007"``).

    Changes on every committed write, so a server can poll it (a ``readlink``, no file read)
    and reload when it differs from the one it loaded.

    Args:
        index_dir: the index path users pass (``runs/idx``).

    Returns:
        The generation name, or ``None`` for an index written before generations (a plain
        directory).

    Raises:
        FileNotFoundError: there is no index at ``index_dir``.
    """
    index_dir = Path(index_dir)
    if index_dir.is_symlink():
        return Path(os.readlink(index_dir)).name
    if not index_dir.is_dir():
        raise FileNotFoundError(
            f"index directory {index_dir} does not exist; create it with `ragkit ingest PATH --out {index_dir}`"
        )
    return None


def generation_path(index_dir: str | os.PathLike[str]) -> Path:
    """The directory to read ``index_dir``'s files from: its current generation, resolved once.

    Reading every file of one load from this path gives one consistent generation even if a
    writer commits a new one meanwhile. For a pre-generation index it is ``index_dir`` itself.
    """
    index_dir = Path(index_dir)
    if index_dir.is_symlink():
        return generations_dir(index_dir) / Path(os.readlink(index_dir)).name
    return index_dir


def _numbers(gens: Path) -> list[int]:
    if not gens.is_dir():
        return []
    return sorted(int(m.group(1)) for p in gens.iterdir() if (m := _GEN.match(p.name)))


def remove_stale(index_dir: str | os.PathLike[str]) -> list[Path]:
    """Remove what killed writers left: temp generations and the pre-generation temp dirs.

    Call it only while holding ``index_lock(index_dir)``: then no writer is running, so every
    temp dir is an orphan.

    Returns:
        The paths removed.
    """
    index_dir = Path(index_dir)
    gens = generations_dir(index_dir)
    candidates = list(index_dir.parent.glob(f".{index_dir.name}.tmp-*"))
    candidates += index_dir.parent.glob(f".{index_dir.name}.old-*")
    candidates += index_dir.parent.glob(f".{index_dir.name}.link-*")
    if gens.is_dir():
        candidates += gens.glob("tmp-*")
    removed = []
    for path in candidates:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(path)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux ``renameat2(RENAME_EXCHANGE)``; False if unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")


def _point(index_dir: Path, name: str) -> None:
    """Make ``index_dir`` a symlink to generation ``name`` with one rename."""
    link = index_dir.parent / f".{index_dir.name}.link-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(Path(generations_dir(index_dir).name) / name, target_is_directory=True)
    if index_dir.is_dir() and not index_dir.is_symlink():  # a pre-generation index: migrate it
        if _exchange(link, index_dir):
            shutil.rmtree(link, ignore_errors=True)  # the old directory, now at the link's name
            return
        old = index_dir.parent / f".{index_dir.name}.old-{os.getpid()}"
        index_dir.rename(old)
        os.replace(link, index_dir)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.replace(link, index_dir)


def _prune(gens: Path, keep: int) -> None:
    for n in _numbers(gens)[:-keep]:
        shutil.rmtree(gens / f"g{n:06d}", ignore_errors=True)


@contextlib.contextmanager
def new_generation(index_dir: str | os.PathLike[str], copy_existing: bool = True) -> Iterator[Path]:
    """Yield a temp dir that becomes ``index_dir``'s next generation if the block succeeds.

    The caller must hold ``index_lock(index_dir)``. On an exception (or SIGTERM turned into
    ``SystemExit``) the temp dir is removed and ``index_dir`` is untouched; after a SIGKILL the
    next writer removes it (``remove_stale``). Older generations beyond ``KEEP_GENERATIONS``
    are deleted after the switch.

    Args:
        index_dir: the index path (created on the first commit).
        copy_existing: start from a copy of the current generation (incremental updates).

    Returns:
        A context manager yielding the temp directory to write into.
    """
    index_dir = Path(index_dir)
    gens = generations_dir(index_dir)
    gens.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=gens))
    try:
        if copy_existing and index_dir.is_dir():
            shutil.copytree(generation_path(index_dir), tmp, dirs_exist_ok=True, symlinks=True)
        yield tmp
        numbers = _numbers(gens)
        name = f"g{(numbers[-1] + 1) if numbers else 1:06d}"
        tmp.rename(gens / name)
        _point(index_dir, name)
        _prune(gens, KEEP_GENERATIONS)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
