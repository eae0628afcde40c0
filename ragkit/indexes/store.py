"""The chunk store: every chunk of an index directory, keyed by content-hash id, on disk as JSONL.

Files in the index directory: ``chunks.jsonl`` (one ``Chunk.to_dict()`` a line),
``sources.json`` (per source file: content hash and chunk ids, for incremental re-ingest) and
``failures.json`` (files that could not be parsed, with the reason).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from ragkit.indexes.atomic import atomic_write_text
from ragkit.indexes.manifest import IndexFormatError, read_json
from ragkit.types import Chunk

__all__ = ["ChunkStore"]


class ChunkStore:
    """In-memory map of chunk id -> Chunk, with per-source bookkeeping; ``load``/``save`` a dir."""

    CHUNKS = "chunks.jsonl"
    SOURCES = "sources.json"
    FAILURES = "failures.json"

    def __init__(self) -> None:
        self._chunks: dict[str, Chunk] = {}
        self.sources: dict[str, dict[str, Any]] = {}  # source -> {"sha256": str, "ids": [...]}
        self.failures: dict[str, str] = {}  # source -> error message

    # -- persistence -------------------------------------------------------------------
    @classmethod
    def load(cls, directory: str | Path) -> ChunkStore:
        """Read a store from an index directory (an empty store when the files are absent)."""
        directory = Path(directory)
        store = cls()
        chunks = directory / cls.CHUNKS
        what = f"the chunk store in {directory}"
        if chunks.is_file():
            with chunks.open(encoding="utf-8") as fh:
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            chunk = Chunk.from_dict(json.loads(line))
                        except (json.JSONDecodeError, ValueError, TypeError) as exc:
                            raise IndexFormatError(
                                f"{chunks} line {number} is damaged ({exc}); {what} cannot be read. "
                                f"Rebuild it with `ragkit ingest PATH --out DIR`"
                            ) from None
                        store._chunks[chunk.id] = chunk
        if (directory / cls.SOURCES).is_file():
            store.sources = read_json(directory / cls.SOURCES, what)
        if (directory / cls.FAILURES).is_file():
            store.failures = read_json(directory / cls.FAILURES, what)
        return store

    def save(self, directory: str | Path) -> None:
        """Write the store's files into ``directory`` (each file replaced atomically)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in self._chunks.values())
        atomic_write_text(directory / self.CHUNKS, lines)
        atomic_write_text(directory / self.SOURCES, json.dumps(self.sources, indent=1, sort_keys=True))
        atomic_write_text(directory / self.FAILURES, json.dumps(self.failures, indent=1, sort_keys=True))

    # -- contents ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._chunks)

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self._chunks.values())

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._chunks

    def ids(self) -> list[str]:
        return list(self._chunks)

    def get(self, chunk_id: str) -> Chunk:
        try:
            return self._chunks[chunk_id]
        except KeyError:
            raise KeyError(f"no chunk {chunk_id!r} in this store") from None

    def get_many(self, ids: Iterable[str]) -> list[Chunk]:
        return [self.get(i) for i in ids]

    def add(self, chunks: Iterable[Chunk]) -> list[str]:
        """Add chunks; ones whose id is already stored are skipped. Returns the ids added."""
        added = []
        for chunk in chunks:
            if chunk.id not in self._chunks:
                self._chunks[chunk.id] = chunk
                added.append(chunk.id)
        return added

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Remove chunks by id; returns the ids that were present."""
        removed = [i for i in ids if self._chunks.pop(i, None) is not None]
        gone = set(removed)
        for info in self.sources.values():
            info["ids"] = [i for i in info["ids"] if i not in gone]
        return removed

    def source_unchanged(self, source: str, sha256: str) -> bool:
        """True when ``source`` was ingested before with the same content hash."""
        info = self.sources.get(source)
        return info is not None and info.get("sha256") == sha256

    def replace_source(self, source: str, sha256: str, chunks: list[Chunk]) -> tuple[list[str], list[str]]:
        """Set ``source``'s chunks to ``chunks``. Returns (ids added, ids removed)."""
        old = set(self.sources.get(source, {}).get("ids", []))
        new_ids = [c.id for c in chunks]
        removed = self.delete(old - set(new_ids))
        added = self.add(chunks)
        self.sources[source] = {"sha256": sha256, "ids": new_ids}
        self.failures.pop(source, None)
        return added, removed

    def remove_source(self, source: str) -> list[str]:
        """Forget a source file and its chunks (it was deleted from the tree). Returns removed ids."""
        info = self.sources.pop(source, None)
        self.failures.pop(source, None)
        return self.delete(info["ids"]) if info else []
