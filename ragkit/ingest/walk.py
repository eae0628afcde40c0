"""Which files an ingest reads: tree walking with ``.gitignore``, and only regular files.

Directories are walked respecting ``.gitignore`` files (at every level), skipping hidden
entries and VCS / virtualenv folders. A file is read only when it is a regular file: FIFOs,
sockets and devices are never opened (opening a FIFO blocks until a writer comes), symlinks are
not followed, and binaries and files over the size budget are left out. Every file left out
for any of those reasons is named in ``skipped`` with the reason.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = ["DEFAULT_MAX_BYTES", "NotRegularFile", "open_regular", "sha256_of", "walk"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_ALWAYS_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox"}
_BINARY_OK = {".pdf"}
_SNIFF = 8192


class NotRegularFile(OSError):
    """The path is a FIFO, socket, device or directory: ingest does not read it."""


def file_kind(mode: int) -> str:
    """A short name for the type of a ``stat`` mode (``"FIFO"``, ``"socket"``, ``"device"`` …)."""
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "special file"


def open_regular(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file, without ever blocking.

    The file is opened with ``O_NONBLOCK`` (so a FIFO swapped in after a check cannot hang the
    open) and checked with ``fstat`` on the open descriptor.

    Raises:
        NotRegularFile: it is a FIFO, socket, device or directory.
        OSError: it cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"{path} is a {file_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_of(path: str | Path) -> str:
    """SHA-256 of a regular file's bytes (``NotRegularFile`` for anything else)."""
    h = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _gitignore(directory: Path):
    path = directory / ".gitignore"
    if not path.is_file():
        return None
    import pathspec

    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _why_not(path: Path, max_bytes: int) -> str | None:
    """Why ``path`` is not ingested (``None`` when it is): not regular, too large, binary."""
    try:
        st = path.lstat()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        return "symlink: not followed (ingest its target instead)"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file: a {file_kind(st.st_mode)}"
    if st.st_size > max_bytes:
        return f"larger than {max_bytes} bytes ({st.st_size}); raise --max-mb to ingest it"
    if path.suffix.lower() not in _BINARY_OK:
        try:
            with open_regular(path) as fh:
                head = fh.read(_SNIFF)
        except OSError as exc:
            return f"unreadable: {exc.strerror or exc}"
        if b"\x00" in head:
            return "binary file"
    return None


def walk(
    root: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, skipped: dict[str, str] | None = None
) -> Iterator[Path]:
    """Yield the ingestible files under ``root`` (or ``root`` itself), in a stable order.

    Honours ``.gitignore`` files at every level (patterns relative to their own directory),
    skips hidden files and folders and VCS/virtualenv folders without a word (that is what
    they are for), and names in ``skipped`` (path -> reason) every other file it leaves out:
    FIFOs, sockets and devices (never opened), symlinks to files or directories (not followed),
    binaries (a NUL byte in the first 8 KiB, PDFs excepted), files larger than ``max_bytes``
    and unreadable ones.

    Args:
        root: a file or a directory.
        max_bytes: the per-file size budget.
        skipped: filled with ``{path: reason}``; a new dict when ``None``.

    Returns:
        An iterator of paths of regular files to parse.
    """
    root = Path(root)
    skipped = skipped if skipped is not None else {}
    if root.is_symlink() and root.is_dir():
        root = root.resolve()  # a symlink given on the command line is followed: it was asked for
    if not root.is_dir():
        target = root.resolve() if root.is_symlink() else root
        why = _why_not(target, max_bytes)
        if why is None:
            yield root
        else:
            skipped[str(root)] = why
        return
    specs: list[tuple[Path, object]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        spec = _gitignore(here)
        specs = [(d, s) for d, s in specs if here == d or d in here.parents]
        if spec is not None:
            specs.append((here, spec))

        def ignored(path: Path, is_dir: bool) -> bool:
            for base, s in specs:
                rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
                if s.match_file(rel):  # type: ignore[attr-defined]
                    return True
            return False

        keep = []
        for d in sorted(dirnames):
            if d.startswith(".") or d in _ALWAYS_SKIP_DIRS or ignored(here / d, True):
                continue
            if (here / d).is_symlink():  # os.walk lists it but does not enter it
                skipped[str(here / d)] = "symlink to a directory: not followed (ingest its target instead)"
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or ignored(path, False):
                continue
            why = _why_not(path, max_bytes)
            if why is None:
                yield path
            else:
                skipped[str(path)] = why
