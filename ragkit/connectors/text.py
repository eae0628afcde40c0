"""Plain-text and Markdown connector: token-budget chunks with exact 1-based line ranges.

Markdown (``.md``, ``.markdown``) is split into sections at ATX headings (``#`` … ``######``);
``#`` lines inside fenced code blocks (```` ``` ```` / ``~~~``) and in a leading YAML
front-matter block are not headings, and Setext (underlined) headings are not recognised.
Each section, heading line included, is cut with ``Chunker.split`` and carries its section
path in ``Chunk.heading``; a heading followed directly by a deeper one shares its chunk.
Plain text (``.txt``, ``.rst``) is one section, cut at paragraphs. Chunk text is the file's
own text (line endings normalised to ``\\n``), so ``start_line``..``end_line`` always point
at the lines that hold it; a line too long for one chunk is cut between words (or tokens) into
chunks whose ``start_col`` / ``end_col`` say where in the line each piece lies.
"""

from __future__ import annotations

import bisect
import re
import warnings
from pathlib import Path
from typing import Iterator

from ragkit.connectors.base import Connector, ConnectorWarning
from ragkit.registry import register
from ragkit.types import Chunk

__all__ = ["TextConnector", "markdown_sections"]

_MARKDOWN = (".md", ".markdown")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def markdown_sections(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Where each Markdown section starts and its heading path.

    Args:
        lines: the file's lines (without line ends).

    Returns:
        ``(first line index (0-based), heading path)`` per section, in order; text before
        the first heading is a section with an empty path.

    Example:
        >>> markdown_sections(["intro", "# A", "```", "# not a heading", "```", "## B"])
        [(0, []), (1, ['A']), (5, ['A', 'B'])]
    """
    sections: list[tuple[int, list[str]]] = [(0, [])]
    path: list[tuple[int, str]] = []
    fence = ""  # the opening fence while inside a fenced code block
    start = _front_matter_end(lines)
    for i in range(start, len(lines)):
        line = lines[i]
        m = _FENCE.match(line)
        if fence:
            closes = m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)
            if closes and not m.group(2).strip():
                fence = ""
            continue
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            fence = m.group(1)
            continue
        h = _ATX.match(line)
        if not h or not (h.group(2) or "").strip():
            continue
        level = len(h.group(1))
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, h.group(2).strip()))
        if sections[-1][0] == i:  # a heading on the first line: no preamble
            sections[-1] = (i, [t for _, t in path])
        else:
            sections.append((i, [t for _, t in path]))
    return sections


def _front_matter_end(lines: list[str]) -> int:
    """Index of the first line after a leading ``---`` YAML front-matter block (0 if none)."""
    if not lines or lines[0].strip() != "---":
        return 0
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return i + 1
    return 0


def _columns(
    lines: list[str], starts: list[int], first: int, last: int, start: int, end: int, edges: dict[int, tuple[int, int]]
) -> tuple[int, int] | None:
    """``(start col, end col)`` of the text span ``[start, end)`` when it cuts a line, else None.

    A span cuts a line when text (not just spaces) precedes it on its first line or follows it
    on its last line; then the columns are needed to tell its pieces apart. ``edges`` caches
    each line's first and last non-space column (a long line is scanned once, not per chunk).
    """
    col, end_col = start - starts[first - 1], end - starts[last - 1]
    if col > _edges(lines, first - 1, edges)[0] or end_col < _edges(lines, last - 1, edges)[1]:
        return col, end_col
    return None


def _edges(lines: list[str], i: int, edges: dict[int, tuple[int, int]]) -> tuple[int, int]:
    if i not in edges:
        line = lines[i]
        edges[i] = (len(line) - len(line.lstrip()), len(line.rstrip()))
    return edges[i]


def _read_text(path: Path, source: str) -> str:
    """The file as UTF-8 text: BOM dropped, ``\\r\\n``/``\\r`` made ``\\n``, bad bytes replaced."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", errors="replace")
        warnings.warn(
            f"{source} is not valid UTF-8 (first bad byte at offset {exc.start}); undecodable "
            f"bytes were replaced with U+FFFD. Convert it to UTF-8 (e.g. `iconv -f latin1 -t "
            f"utf-8`) to index it exactly",
            ConnectorWarning,
            stacklevel=3,
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


@register("connector", "text")
class TextConnector(Connector):
    """Chunks of plain text and Markdown files with line ranges (and heading paths for Markdown).

    Args:
        max_tokens: token budget per chunk (see ``Chunker``).
        overlap_tokens: tokens shared by consecutive chunks of one section.
        tokenizer: tokenizer that measures chunk length (``minilm``, a model dir, ``whitespace``).

    Example:
        >>> chunks = TextConnector().parse("README.md")
        >>> [(c.start_line, c.end_line, c.heading) for c in chunks]  # doctest: +SKIP
        [(1, 4, ['ragkit']), (6, 12, ['ragkit', 'Install'])]
    """


    def __init__(self, max_tokens: int = 256, overlap_tokens: int = 32, tokenizer: str = "minilm"):
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.tokenizer = tokenizer

    def parse(self, path: str | Path, source: str | None = None) -> Iterator[Chunk]:
        """Yield the chunks of one text or Markdown file, in file order.

        Args:
            path: the file.
            source: name recorded in ``Chunk.source``; defaults to ``path``.

        Returns:
            An iterator of ``Chunk`` (``kind="text"``, ``start_line``/``end_line`` 1-based,
            inclusive); nothing for an empty or whitespace-only file.

        Raises:
            FileNotFoundError: ``path`` does not exist.

        Warns:
            ConnectorWarning: the file is not valid UTF-8 (bad bytes were replaced).
        """
        path = Path(path)
        source = source if source is not None else path.as_posix()
        text = _read_text(path, source)
        if not text.strip():
            return
        lines = text.split("\n")
        starts = [0]
        for line in lines[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        sections = markdown_sections(lines) if path.suffix.lower() in _MARKDOWN else [(0, [])]
        bounds = [starts[first] for first, _ in sections] + [len(text)]
        edges: dict[int, tuple[int, int]] = {}
        begin = 0
        for k, (first, heading) in enumerate(sections):
            end = bounds[k + 1]
            if (
                k + 1 < len(sections)
                and heading
                and len(sections[k + 1][1]) > len(heading)
                and not "".join(lines[first + 1 : sections[k + 1][0]]).strip()
            ):
                continue  # a heading directly followed by a deeper one: keep them together
            segment = text[begin:end]
            for s, e in self.chunker.split(segment):
                s += len(segment[s:e]) - len(segment[s:e].lstrip())
                e -= len(segment[s:e]) - len(segment[s:e].rstrip())
                first = bisect.bisect_right(starts, begin + s)
                last = bisect.bisect_right(starts, begin + e - 1)
                cols = _columns(lines, starts, first, last, begin + s, begin + e, edges)
                yield Chunk(
                    text=segment[s:e],
                    source=source,
                    kind="text",
                    start_line=first,
                    end_line=last,
                    start_col=cols[0] if cols else None,
                    end_col=cols[1] if cols else None,
                    heading=list(heading),
                )
            begin = end
