"""Ingest: walk files and trees, parse them with connectors, and commit the chunk store.

Unchanged files (same SHA-256 as last time) are not parsed again, files removed from a tree are
dropped from the store, and one file that fails to parse, or runs past the per-file time budget
(``ragkit.ingest.worker``), is recorded with its reason while the rest of the batch goes on.
The whole run holds the index's writer lock (``ragkit.indexes.lock``): a second writer gets a
clear "locked by PID N" error. The store is committed as a new index generation
(``ragkit.indexes.generations``), so an interrupted ingest leaves the previous index untouched
and readers never see the index missing; temp dirs of a killed run are removed by the next one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ragkit.connectors.base import CHUNKS_VERSION
from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.indexes.generations import current_generation, generation_path, new_generation, remove_stale
from ragkit.indexes.lock import index_lock
from ragkit.indexes.manifest import MANIFEST, new_manifest, read_manifest, write_manifest
from ragkit.indexes.store import ChunkStore
from ragkit.ingest.report import IngestReport
from ragkit.ingest.walk import DEFAULT_MAX_BYTES, sha256_of, walk
from ragkit.ingest.worker import DEFAULT_FILE_TIMEOUT_S, Parsed, ParseWorker, parse_file
from ragkit.types import Chunk

__all__ = ["ingest"]


def _source_name(path: Path, root: Path, prefix: str) -> str:
    rel = path.name if not root.is_dir() else path.relative_to(root.resolve() if root.is_symlink() else root).as_posix()
    return f"{prefix}{rel}"


def _unique(chunks: list[Chunk]) -> tuple[list[Chunk], int]:
    """``chunks`` without repeated ids (first kept), and how many repeats were dropped."""
    seen: set[str] = set()
    out = []
    for chunk in chunks:
        if chunk.id not in seen:
            seen.add(chunk.id)
            out.append(chunk)
    return out, len(chunks) - len(out)


def ingest(
    paths: list[str | Path],
    out: str | Path,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
    tokenizer: str = DEFAULT_EMBEDDER,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_file: Callable[[str, int], None] | None = None,
    file_timeout: float | None = DEFAULT_FILE_TIMEOUT_S,
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
        file_timeout: the time budget in seconds for parsing one file; files are parsed in a
            child process that is killed when a file runs over (the file is reported as
            failed). ``None`` parses in this process, without a budget.

    Returns:
        An IngestReport (also summarised in the manifest's ``counts``).

    Raises:
        FileNotFoundError: a path does not exist (nothing is written).
        IndexLockedError: another process is writing ``out``.
    """
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists() and not p.is_symlink()]
    if missing:
        raise FileNotFoundError(f"cannot ingest {missing}: no such file or directory")
    out = Path(out)
    chunker = {"max_tokens": max_tokens, "overlap_tokens": overlap_tokens, "tokenizer": tokenizer}
    report = IngestReport(out=str(out))
    with index_lock(out):
        report.cleaned = [str(p) for p in remove_stale(out)]
        existing = generation_path(out) if out.is_dir() else None
        manifest = read_manifest(existing, name=out) if existing and (existing / MANIFEST).is_file() else new_manifest()
        store = ChunkStore.load(existing) if existing else ChunkStore()
        failures_before = dict(store.failures)
        rechunk = manifest.get("chunker") not in (None, chunker)
        rechunk = rechunk or (bool(store.sources) and manifest.get("chunks_version", 1) != CHUNKS_VERSION)

        files: list[tuple[Path, str]] = []
        for root in roots:
            prefix = "" if len(roots) == 1 else f"{root.resolve().name}/"
            for path in walk(root, max_bytes, report.skipped):
                files.append((path, _source_name(path, root, prefix)))
        report.files_seen = len(files)
        present = {source for _, source in files}
        worker = ParseWorker(chunker, file_timeout) if file_timeout is not None else None
        connectors: dict[str, Any] = {}
        try:
            for path, source in files:
                if on_file is not None:
                    on_file(source, len(files))
                try:
                    digest = sha256_of(path)
                except OSError as exc:  # removed, replaced by a FIFO or unreadable since the walk
                    report.skipped[str(path)] = f"unreadable: {exc.strerror or exc}"
                    continue
                if not rechunk and store.source_unchanged(source, digest):
                    report.unchanged.append(source)
                    continue
                parsed = worker.parse(path, source) if worker else parse_file(path, source, chunker, connectors)
                _record(parsed, source, digest, store, report)
        finally:
            if worker is not None:
                worker.close()

        # Sources under the ingested roots that no longer exist are dropped.
        for source in list(store.sources):
            if source not in present and _under_roots(source, roots):
                report.chunks_removed += len(store.remove_source(source))
                report.removed.append(source)
        report.chunks_total = len(store)

        changed = existing is None or rechunk or report.parsed or report.removed or store.failures != failures_before
        if not changed:
            return report
        manifest["chunker"] = chunker
        manifest["chunks_version"] = CHUNKS_VERSION
        manifest["counts"] = {"files": len(store.sources), "chunks": len(store), "failures": len(store.failures)}
        if report.chunks_added or report.chunks_removed:
            for section in ("bm25", "dense"):
                if section in manifest:
                    manifest[section]["stale"] = True
        with new_generation(out) as tmp:
            store.save(tmp)
            write_manifest(tmp, manifest)
        report.generation = current_generation(out)
    return report


def _record(parsed: Parsed, source: str, digest: str, store: ChunkStore, report: IngestReport) -> None:
    """Put one file's parse result into the store and the report."""
    messages = list(parsed.warnings)
    if parsed.error is not None:
        store.failures[source] = parsed.error
        report.failed[source] = parsed.error
    else:
        chunks, repeats = _unique(parsed.chunks)
        if repeats:
            messages.append(
                f"{repeats} chunk(s) repeat another chunk of this file exactly (same text at the same "
                f"place) and are stored once"
            )
        added, removed = store.replace_source(source, digest, chunks)
        report.parsed.append(source)
        report.chunks_added += len(added)
        report.chunks_removed += len(removed)
    if messages:
        report.warnings[source] = messages


def _under_roots(source: str, roots: list[Path]) -> bool:
    if len(roots) == 1:
        return roots[0].is_dir()
    return any(source.startswith(f"{r.resolve().name}/") for r in roots if r.is_dir())
