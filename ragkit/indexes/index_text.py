"""The text BM25 and the embedder see for a chunk: a contextual header, then ``Chunk.text``.

``Chunk.text`` stays the exact passage shown to the generator and cited (its line / page
provenance unchanged); the header is added only when indexing and embedding, so a chunk is
found by what surrounds it, not only by its body:

- code: ``path · language · Qualified.symbol``, plus the signature on continuation pieces
  (``metadata["part"] > 0``) of a definition cut into windows, and for a Python special method
  what it does (``__contains__`` -> "membership test: item in obj", see ``dunder_glossary``);
- documents (Markdown, PDF): ``path · Heading › Sub-heading``;
- a plain text chunk without heading, page or language (a BEIR document, whose source is an
  id) gets no header, so its indexed text is its text.

Indexes record ``TEXT_VERSION`` in their manifest section; an index built from another
version must be re-indexed (``ragkit index DIR --rebuild``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragkit.indexes.dunder_glossary import dunder_meaning
from ragkit.indexes.manifest import IndexFormatError
from ragkit.types import Chunk

__all__ = ["TEXT_VERSION", "header", "index_text", "check_text_version"]

# 1: Chunk.text only; 2: contextual header + Chunk.text; 3: Python special methods glossed
TEXT_VERSION = 3


def header(chunk: Chunk) -> str:
    """The contextual header of ``chunk`` (``""`` when it has none), without a final newline."""
    if not (chunk.language or chunk.heading or chunk.page is not None):
        return ""
    parts = [chunk.source]
    if chunk.language:
        parts.append(chunk.language)
    if chunk.symbol:
        parts.append(chunk.symbol)
    if chunk.heading:
        parts.append(" › ".join(chunk.heading))
    lines = [" · ".join(parts)]
    signature = chunk.metadata.get("signature")
    if signature and chunk.metadata.get("part", 0) > 0:
        lines.append(str(signature))
    meaning = dunder_meaning(chunk.symbol) if chunk.language == "python" else None
    if meaning:
        lines.append(f"({meaning})")
    return "\n".join(lines)


def index_text(chunk: Chunk) -> str:
    """What is indexed and embedded for ``chunk``: its header line(s), then its text."""
    head = header(chunk)
    return f"{head}\n{chunk.text}" if head else chunk.text


def check_text_version(section: dict[str, Any] | None, directory: str | Path, kind: str) -> None:
    """Raise ``IndexFormatError`` when the ``kind`` index was built from another index-text version.

    Args:
        section: the index's manifest section (``manifest["bm25"]`` / ``manifest["dense"]``).
        directory: the index directory, for the message.
        kind: ``"bm25"`` or ``"dense"``.
    """
    found = (section or {}).get("text_version", 1)
    if found != TEXT_VERSION:
        raise IndexFormatError(
            f"the {kind} index in {directory} was built from index text version {found}; this ragkit "
            f"indexes version {TEXT_VERSION} (path, symbol, signature and heading headers, Python "
            f"special methods glossed): re-index with `ragkit index {directory} --rebuild`"
        )
