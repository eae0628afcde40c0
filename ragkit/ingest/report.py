"""``IngestReport``: what one ingest did, file by file, for the CLI table and ``--report`` JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["IngestReport"]


@dataclass
class IngestReport:
    """What an ingest did, naming every file that was not ingested in full.

    Attributes:
        out: the index directory.
        files_seen: files found to parse or check (skipped ones not counted).
        parsed / unchanged / removed: sources parsed again, left as they were, dropped.
        failed: source -> why it could not be parsed (errors, time budget, crashed parser).
        skipped: path -> why it was not read (not a regular file, symlink, binary, too large).
        warnings: source -> what was lost or degraded (scanned page, fallback chunking …).
        cleaned: temp dirs of an earlier, killed run that this run removed.
        generation: the index generation this run committed (``None`` when nothing changed).
        chunks_added / chunks_removed / chunks_total: chunk counts.
    """

    out: str
    files_seen: int = 0
    parsed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    cleaned: list[str] = field(default_factory=list)
    generation: str | None = None
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0

    def complete(self) -> bool:
        """True when every file found was ingested in full: none failed, skipped or reduced."""
        return not (self.failed or self.skipped or self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field, plus ``complete``."""
        return {**asdict(self), "complete": self.complete()}
