"""From a tree of code definitions (functions, classes, methods …) to chunks, without duplication.

Both code connectors (Python's ``ast``, tree-sitter for other languages) describe a file as a
tree of ``Definition`` line ranges; ``definition_chunks`` turns it into chunks:

- a definition without members (function, method, struct …) is one chunk over its whole range,
  cut into consecutive line windows (``metadata["part"]``) when it is over the token budget;
- a definition with members (a class, a Rust impl …) gives chunks for the lines of its range
  that no member covers (header, docstring, fields; the bodies of its methods are left to the
  method chunks), then its members' chunks;
- lines outside every top-level definition (imports, constants …) become ``kind="module"``
  chunks, one per contiguous run.

Runs of lines with no content of their own (blank lines, comments, closing brackets) are not
chunked. Every chunk is a contiguous slice of the file's lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragkit.connectors.chunking import Chunker
from ragkit.connectors.lines import is_trivial, line_token_counts, window_chunks
from ragkit.types import Chunk

__all__ = ["Definition", "definition_chunks", "normalize"]


@dataclass
class Definition:
    """One code definition as a 1-based inclusive line range, with its members.

    Attributes:
        kind: ``"function"``, ``"method"``, ``"class"``, ``"struct"``, ``"interface"`` …
        symbol: qualified name, ``"Outer.Inner.method"``.
        start / end: 1-based inclusive lines, decorators and doc comments included.
        children: member definitions, each inside (start, end].
        metadata: JSON-able extras (docstring, signature, decorators …).
    """

    kind: str
    symbol: str
    start: int
    end: int
    children: list[Definition] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def normalize(defs: list[Definition], parent: Definition | None = None) -> list[Definition]:
    """Sort definitions and make their ranges nest without overlap.

    Members that start on their parent's first line, or siblings that share a line (one-line
    C++ classes, minified code), cannot be told apart by lines: such a parent keeps its whole
    range as one chunk, and an overlapping later sibling is merged into the earlier one
    (its symbol listed in ``metadata["merged"]``).
    """
    out: list[Definition] = []
    for d in sorted(defs, key=lambda d: (d.start, -d.end)):
        if parent is not None and (d.start <= parent.start or d.end > parent.end):
            return []
        if out and d.start <= out[-1].end:
            prev = out[-1]
            prev.end = max(prev.end, d.end)
            prev.children = []
            prev.metadata.setdefault("merged", []).append(d.symbol)
            continue
        out.append(d)
    for d in out:
        d.children = normalize(d.children, d)
    return out


def _gaps(first: int, last: int, covered: list[Definition]) -> list[tuple[int, int]]:
    """The runs of [first, last] that no definition in ``covered`` (sorted, disjoint) spans."""
    runs, cursor = [], first
    for d in covered:
        if d.start > cursor:
            runs.append((cursor, d.start - 1))
        cursor = max(cursor, d.end + 1)
    if cursor <= last:
        runs.append((cursor, last))
    return runs


def definition_chunks(
    defs: list[Definition],
    lines: list[str],
    *,
    chunker: Chunker,
    source: str,
    language: str,
    line_comment: str = "//",
) -> list[Chunk]:
    """Chunks for a file described by its top-level definitions (see the module docstring).

    Args:
        defs: top-level definitions (any order; they are normalised first).
        lines: the file's lines (``ragkit.connectors.lines.source_lines``).
        chunker: the token budget for cutting long definitions and module code.
        source: ``Chunk.source``.
        language: ``Chunk.language``.
        line_comment: the language's line-comment marker, to recognise comment-only runs.

    Returns:
        The chunks in line order.
    """
    counts = line_token_counts(chunker, lines)
    common = {"chunker": chunker, "source": source, "language": language, "counts": counts}

    def runs(first: int, last: int, covered: list[Definition]) -> list[tuple[int, int]]:
        return [
            (a, b)
            for a, b in _gaps(first, last, covered)
            if not all(is_trivial(ln, line_comment) for ln in lines[a - 1 : b])
        ]

    def emit(d: Definition) -> list[Chunk]:
        if not d.children:
            return window_chunks(
                lines, d.start, d.end, kind=d.kind, symbol=d.symbol, metadata=d.metadata, **common
            )
        pieces: list[Chunk] = []
        for a, b in runs(d.start, d.end, d.children):
            pieces.extend(
                window_chunks(lines, a, b, kind=d.kind, symbol=d.symbol, metadata=d.metadata, **common)
            )
        if len(pieces) > 1:
            for i, c in enumerate(pieces):
                c.metadata["part"] = i
        for child in d.children:
            pieces.extend(emit(child))
        return pieces

    defs = normalize(defs)
    chunks: list[Chunk] = []
    for a, b in runs(1, len(lines), defs):
        chunks.extend(window_chunks(lines, a, b, kind="module", **common))
    for d in defs:
        chunks.extend(emit(d))
    chunks.sort(key=lambda c: (c.start_line, c.end_line))
    return chunks
