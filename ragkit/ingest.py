"""Ingest: walk files and trees, parse them with connectors, and write the chunk store atomically.

Directories are walked respecting ``.gitignore`` files (at every level), skipping hidden
entries, binary files and files over a size limit. Unchanged files (same SHA-256 as last time)
are not parsed again, files removed from a tree are dropped from the store, and one file that
fails to parse is recorded with its reason while the rest of the batch goes on. The store is
written through a temp dir, so an interrupted ingest leaves the previous index untouched.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ragkit.connectors.base import CHUNKS_VERSION, ConnectorWarning, ParseError
from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.indexes.atomic import atomic_dir
from ragkit.indexes.manifest import MANIFEST, new_manifest, read_manifest, write_manifest
from ragkit.indexes.store import ChunkStore

__all__ = ["IngestReport", "ingest", "walk"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_ALWAYS_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox"}
_BINARY_OK = {".pdf"}


@dataclass
class IngestReport:
    """What an ingest did; ``failed`` maps source -> reason, ``warnings`` source -> messages."""

    out: str
    files_seen: int = 0
    parsed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0


def _gitignore(directory: Path):
    path = directory / ".gitignore"
    if not path.is_file():
        return None
    import pathspec

    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _is_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        return b"\x00" in fh.read(8192)


def walk(
    root: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, skipped: dict[str, str] | None = None
) -> Iterator[Path]:
    """Yield the ingestible files under ``root`` (or ``root`` itself), in a stable order.

    Honours ``.gitignore`` files at every level (patterns relative to their own directory),
    skips hidden files and folders, VCS/virtualenv folders, binaries (a NUL byte in the first
    8 KiB, PDFs excepted) and files larger than ``max_bytes``; skips are noted in ``skipped``.
    """
    root = Path(root)
    skipped = skipped if skipped is not None else {}

    def check(path: Path) -> bool:
        try:
            size = path.stat().st_size
        except OSError as exc:
            skipped[str(path)] = f"unreadable: {exc}"
            return False
        if size > max_bytes:
            skipped[str(path)] = f"larger than {max_bytes} bytes"
            return False
        if path.suffix.lower() not in _BINARY_OK and _is_binary(path):
            skipped[str(path)] = "binary file"
            return False
        return True

    if root.is_file():
        if check(root):
            yield root
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

        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and d not in _ALWAYS_SKIP_DIRS and not ignored(here / d, True)
        )
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or ignored(path, False) or path.is_symlink():
                continue
            if check(path):
                yield path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _source_name(path: Path, root: Path, prefix: str) -> str:
    rel = path.name if root.is_file() else path.relative_to(root).as_posix()
    return f"{prefix}{rel}"


def ingest(
    paths: list[str | Path],
    out: str | Path,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
    tokenizer: str = DEFAULT_EMBEDDER,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_file: Callable[[str, int], None] | None = None,
) -> IngestReport:
    """Parse ``paths`` into the chunk store of the index directory ``out`` (created or updated).

    Args:
        paths: files or directories. With one directory, sources are paths relative to it;
            with several, each is prefixed by its directory name.
        out: index directory; an existing one is updated incrementally.
        max_tokens / overlap_tokens / tokenizer: chunker settings passed to every connector.
            Changing them for an existing index re-parses every file.
        max_bytes: files larger than this are skipped (and reported).
        on_file: progress callback ``(source, n_files_total)`` called before each file.

    Returns:
        An IngestReport (also summarised in the manifest's ``counts``).

    Raises:
        FileNotFoundError: a path does not exist (nothing is written).
    """
    from ragkit.connectors.dispatch import connector_for

    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise FileNotFoundError(f"cannot ingest {missing}: no such file or directory")
    out = Path(out)
    chunker = {"max_tokens": max_tokens, "overlap_tokens": overlap_tokens, "tokenizer": tokenizer}
    manifest = read_manifest(out) if (out / MANIFEST).is_file() else new_manifest()
    store = ChunkStore.load(out) if out.is_dir() else ChunkStore()
    rechunk = manifest.get("chunker") not in (None, chunker)
    rechunk = rechunk or (bool(store.sources) and manifest.get("chunks_version", 1) != CHUNKS_VERSION)
    report = IngestReport(out=str(out))

    files: list[tuple[Path, str]] = []
    for root in roots:
        prefix = "" if len(roots) == 1 else f"{root.resolve().name}/"
        for path in walk(root, max_bytes, report.skipped):
            files.append((path, _source_name(path, root, prefix)))
    report.files_seen = len(files)
    present = {source for _, source in files}
    connectors: dict[str, object] = {}

    for path, source in files:
        if on_file is not None:
            on_file(source, len(files))
        digest = _sha256(path)
        if not rechunk and store.source_unchanged(source, digest):
            report.unchanged.append(source)
            continue
        connector = connector_for(path, chunker, connectors)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConnectorWarning)
            try:
                chunks = list(connector.parse(path, source))
            except ParseError as exc:
                store.failures[source] = str(exc)
                report.failed[source] = str(exc)
                continue
            finally:
                msgs = [str(w.message) for w in caught if issubclass(w.category, ConnectorWarning)]
                if msgs:
                    report.warnings[source] = msgs
        added, removed = store.replace_source(source, digest, chunks)
        report.parsed.append(source)
        report.chunks_added += len(added)
        report.chunks_removed += len(removed)

    # Sources under the ingested roots that no longer exist are dropped.
    for source in list(store.sources):
        if source not in present and _under_roots(source, roots):
            report.chunks_removed += len(store.remove_source(source))
            report.removed.append(source)
    report.chunks_total = len(store)

    manifest["chunker"] = chunker
    manifest["chunks_version"] = CHUNKS_VERSION
    manifest["counts"] = {
        "files": len(store.sources),
        "chunks": len(store),
        "failures": len(store.failures),
    }
    if report.chunks_added or report.chunks_removed:
        for section in ("bm25", "dense"):
            if section in manifest:
                manifest[section]["stale"] = True
    with atomic_dir(out) as tmp:
        store.save(tmp)
        write_manifest(tmp, manifest)
    return report


def _under_roots(source: str, roots: list[Path]) -> bool:
    if len(roots) == 1:
        return not roots[0].is_file()
    return any(source.startswith(f"{r.resolve().name}/") for r in roots if r.is_dir())
