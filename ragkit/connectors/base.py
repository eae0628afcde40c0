"""The connector protocol: ``parse(path, source) -> Iterator[Chunk]``, with per-file errors and warnings.

A connector raises ``ParseError`` when a whole file cannot be read (encrypted, corrupt, empty):
the ingest walker records it and goes on with the next file. Problems that lose part of a file
(a scanned page with no text layer, a syntax error that forces a line-window fallback) are
reported with ``warnings.warn(..., ConnectorWarning)``; the walker records those per file too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ragkit.connectors.chunking import Chunker
from ragkit.registry import Component
from ragkit.types import Chunk

__all__ = ["CHUNKS_VERSION", "Connector", "ParseError", "ConnectorWarning"]

# Bumped when connectors cut the same file into different chunks, so that `ragkit ingest`
# re-chunks unchanged files. 2: module-level Python assignments are named chunks; 3: a Python
# definition or assignment starts at the comment block right above it.
CHUNKS_VERSION = 3


class ParseError(Exception):
    """A file that cannot be parsed at all; the message says why and what to do."""


class ConnectorWarning(UserWarning):
    """Part of a file was skipped or degraded (scanned page, fallback chunking …)."""


class Connector(Component):
    """Base class: subclasses implement ``parse`` (``ragkit.connectors.languages`` maps file extensions to connectors).

    Subclasses take a ``chunker`` config (``Chunker`` arguments as a dict) in ``__init__``
    so the token budget is part of the connector's config.
    """

    max_tokens: int
    overlap_tokens: int
    tokenizer: str

    @property
    def chunker(self) -> Chunker:
        """The ``Chunker`` built from this connector's budget (made on first use)."""
        chunker = getattr(self, "_chunker", None)
        if chunker is None:
            chunker = self._chunker = Chunker(self.max_tokens, self.overlap_tokens, self.tokenizer)
        return chunker

    def parse(self, path: str | Path, source: str | None = None) -> Iterator[Chunk]:
        """Yield the chunks of one file.

        Args:
            path: the file on disk.
            source: the name recorded in ``Chunk.source`` (path relative to the ingest root);
                defaults to ``path`` as given.

        Raises:
            ParseError: the file cannot be parsed at all.
        """
        raise NotImplementedError
