"""Line-window chunking: the fallback for any text file, and the shared reader for code files.

Every code chunk is a run of whole lines, so ``Chunk.text == "\\n".join(lines[a - 1:b])`` for
its ``start_line`` a and ``end_line`` b, where ``lines = read_source(path).split("\\n")``
(newlines normalised to ``\\n``, as Python's universal-newline reading does). The one
exception is a single line over the token budget: it is cut like prose (``Chunker.split``) into
chunks with ``start_col`` / ``end_col`` set, ``Chunk.text == lines[a - 1][start_col:end_col]``,
so no part of it is left to the embedder's truncation.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Iterator

from ragkit.connectors.base import Connector, ConnectorWarning, ParseError
from ragkit.connectors.chunking import Chunker
from ragkit.connectors.languages import language_of
from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.registry import register
from ragkit.types import Chunk

__all__ = [
    "LineWindowConnector",
    "read_source",
    "source_lines",
    "source_name",
    "line_token_counts",
    "window_chunks",
]

_SNIFF = 8192
# lines that carry no content of their own: blank, comment-only, brackets, access labels
_TRIVIAL = re.compile(r"^\s*(?:(?:public|private|protected|internal)\s*:)?[\s{}()\[\];,]*$")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/")


def source_name(path: str | Path, source: str | None) -> str:
    """``Chunk.source`` for a file: ``source`` when given, else the path with forward slashes."""
    return source if source is not None else Path(path).as_posix()


def decode_source(data: bytes, path: str | Path, encoding: str = "utf-8-sig") -> str:
    """Decode file bytes to text with ``\\n`` newlines.

    Raises:
        ParseError: the bytes look binary (NUL bytes in the first 8 KiB).
    """
    if b"\x00" in data[:_SNIFF]:
        raise ParseError(f"{path} looks binary (it has NUL bytes); exclude it from ingest")
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        warnings.warn(
            f"{path} is not valid {encoding}; undecodable bytes were replaced (re-save it as UTF-8)",
            ConnectorWarning,
            stacklevel=3,
        )
        text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_source(path: str | Path) -> str:
    """The text of a UTF-8 source file with ``\\n`` newlines (a BOM is dropped).

    Raises:
        ParseError: the file cannot be read or looks binary.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read {path}: {exc}") from exc
    return decode_source(data, path)


def source_lines(text: str) -> list[str]:
    """The lines of ``text`` (split on ``\\n``; a final newline does not add an empty line)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def is_trivial(line: str, line_comment: str = "//") -> bool:
    """True for a line with no content of its own (blank, comment, lone bracket, ``public:``).

    Args:
        line: one source line.
        line_comment: the language's line-comment marker (``"#"`` for Python).
    """
    line = _BLOCK_COMMENT.sub("", line)
    cut = line.find(line_comment)
    if cut >= 0:
        line = line[:cut]
    return bool(_TRIVIAL.match(line))


def trim(lines: list[str], first: int, last: int) -> tuple[int, int] | None:
    """Shrink the 1-based range [first, last] past blank edge lines; ``None`` if all blank."""
    while first <= last and not lines[first - 1].strip():
        first += 1
    while last >= first and not lines[last - 1].strip():
        last -= 1
    return (first, last) if first <= last else None


def line_token_counts(chunker: Chunker, lines: list[str]) -> list[int]:
    """Tokens per line, measured in one batch (blank lines count 0).

    With a WordPiece tokenizer (MiniLM) tokens never span a newline, so the sum over a line
    range is the token count of that range's text; counting a file once is much faster than
    counting every definition and window again.
    """
    return chunker.count_many([ln if ln.strip() else "" for ln in lines])


def window_chunks(
    lines: list[str],
    first: int,
    last: int,
    *,
    chunker: Chunker,
    source: str,
    kind: str,
    language: str | None,
    symbol: str | None = None,
    metadata: dict[str, Any] | None = None,
    counts: list[int] | None = None,
) -> list[Chunk]:
    """Chunks over the 1-based line range [first, last], cut into windows within the budget.

    Blank lines at the edges of each window are left out. When the range is over
    ``chunker.max_tokens`` it is cut like ``Chunker.split_lines`` does (greedy whole lines,
    overlapping by about ``overlap_tokens``) and each window's metadata gets ``"part": i``
    (0-based) on top of ``metadata``. A single line over the budget is cut within the line
    (chunks with ``start_col`` / ``end_col``), so every character stays in some chunk.

    Args:
        counts: ``line_token_counts(chunker, lines)`` for the whole file, when already known.

    Returns:
        The chunks in line order; every chunk's text is exactly its line slice of ``lines``
        (its column slice for the pieces of an over-long line).
    """
    span = trim(lines, first, last)
    if span is None:
        return []
    first, last = span
    if counts is None:
        counts = [0] * (first - 1) + line_token_counts(chunker, lines[first - 1 : last])
    sizes = counts[first - 1 : last]
    if sum(sizes) > chunker.max_tokens:  # cut as Chunker.split_lines does, lines >= 1 token
        pieces = [(k, k) for k in range(len(sizes))]
        packed = chunker.pack(pieces, [max(1, n) for n in sizes])
        ranges = [(first + a, first + b) for a, b in packed]
    else:
        ranges = [(first, last)]
    ranges = [r for r in (trim(lines, a, b) for a, b in ranges) if r is not None]
    pieces: list[tuple[int, int, int | None, int | None]] = []  # (first, last, start col, end col)
    for a, b in ranges:
        if a == b and counts[a - 1] > chunker.max_tokens:
            pieces.extend((a, a, s, e) for s, e in _line_columns(chunker, lines[a - 1]))
        else:
            pieces.append((a, b, None, None))
    chunks = []
    for i, (a, b, col, end_col) in enumerate(pieces):
        meta = dict(metadata or {})
        if len(pieces) > 1:
            meta["part"] = i
        text = "\n".join(lines[a - 1 : b]) if col is None else lines[a - 1][col:end_col]
        chunks.append(
            Chunk(
                text=text,
                source=source,
                kind=kind,
                language=language,
                start_line=a,
                end_line=b,
                start_col=col,
                end_col=end_col,
                symbol=symbol,
                metadata=meta,
            )
        )
    return chunks


def _line_columns(chunker: Chunker, line: str) -> list[tuple[int, int]]:
    """Column spans of one line over the budget, cut like prose, edge whitespace left out."""
    spans = []
    for s, e in chunker.split(line):
        piece = line[s:e]
        s += len(piece) - len(piece.lstrip())
        e -= len(piece) - len(piece.rstrip())
        if e > s:
            spans.append((s, e))
    return spans


@register("connector", "lines")
class LineWindowConnector(Connector):
    """Any text file as consecutive line windows within a token budget (``kind="window"``).

    The fallback connector: used for files no other connector handles, and by the code
    connectors when a file does not parse. ``Chunk.language`` comes from the extension table
    in ``ragkit.connectors.languages`` (``None`` when unknown). Empty files yield no chunks.

    Args:
        max_tokens: token budget per window.
        overlap_tokens: about this many tokens of whole lines are repeated between windows.
        tokenizer: what measures tokens (``"minilm"`` or ``"whitespace"``), see ``Chunker``.
    """


    def __init__(self, max_tokens: int = 256, overlap_tokens: int = 32, tokenizer: str = DEFAULT_EMBEDDER):
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.tokenizer = tokenizer

    def parse(self, path: str | Path, source: str | None = None) -> Iterator[Chunk]:
        """Yield the line windows of one text file.

        Raises:
            ParseError: the file cannot be read or looks binary.
        """
        lines = source_lines(read_source(path))
        yield from window_chunks(  # one window per budget, like Chunker.split_lines
            lines,
            1,
            len(lines),
            chunker=self.chunker,
            source=source_name(path, source),
            kind="window",
            language=language_of(path),
        )
