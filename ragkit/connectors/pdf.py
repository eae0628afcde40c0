"""PDF connector: page text in reading order, font-size headings as section paths, tables as rows.

PyMuPDF reads each page's text spans (``page.get_text("dict", sort=True)``). The body font size
is the most common span size weighted by characters; lines set clearly larger than the body, and
short all-bold blocks, are headings, ranked into levels by font size (largest = outermost). The
heading path persists across pages until a heading of the same or an outer level replaces it.
Each section's text on a page is cut with ``Chunker.split``; a chunk never spans pages. Tables
found by ``page.find_tables(use_layout=False)`` (line-based detection; the layout model is ~10x
slower) become their own ``kind="table"`` chunks, one ``cell | cell`` line per row, header first,
and their area is left out of the page's running text.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ragkit.connectors.base import Connector, ConnectorWarning, ParseError
from ragkit.registry import register
from ragkit.types import Chunk

__all__ = ["PdfConnector"]

_BOLD_FLAG = 16  # pymupdf.TEXT_FONT_BOLD
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
_LARGE_RATIO = 1.15  # a line at least this much larger than the body is a heading
_HEADING_MAX_CHARS = 200
_BOLD_HEADING_MAX_CHARS = 120
_BOLD_HEADING_MAX_WORDS = 12


@dataclass(slots=True)
class _Line:
    """One text line of a page: its text, dominant font size, boldness and box."""

    text: str
    size: float
    bold: bool
    bbox: tuple[float, float, float, float]
    heading: bool = False


def _size_key(size: float) -> float:
    return round(size * 2) / 2


def _read_blocks(page, flags: int) -> list[list[_Line]]:
    """The page's text blocks in reading order, each a list of non-blank lines."""
    blocks = []
    for block in page.get_text("dict", sort=True, flags=flags)["blocks"]:
        lines = []
        for line in block.get("lines", ()):
            spans = [s for s in line["spans"] if s["text"]]
            text = "".join(s["text"] for s in spans).strip()
            if not text:
                continue
            weights: Counter[float] = Counter()
            bold = True
            for s in spans:
                n = len(s["text"].strip())
                if n:
                    weights[_size_key(s["size"])] += n
                    bold = bold and bool(s["flags"] & _BOLD_FLAG or _BOLD_FONT.search(s["font"]))
            lines.append(_Line(text, weights.most_common(1)[0][0], bold, tuple(line["bbox"])))
        if lines:
            blocks.append(lines)
    return blocks


def _mark_headings(pages: list[list[list[_Line]]], body: float) -> list[float]:
    """Set ``_Line.heading`` on heading lines; return heading font sizes, outermost first."""
    sizes = set()
    for blocks in pages:
        for lines in blocks:
            text = " ".join(ln.text for ln in lines)
            bold_block = (
                all(ln.bold and ln.size >= body for ln in lines)
                and len(lines) <= 3
                and len(text) <= _BOLD_HEADING_MAX_CHARS
                and len(text.split()) <= _BOLD_HEADING_MAX_WORDS
                and not text.endswith(".")
            )
            for ln in lines:
                large = ln.size >= body * _LARGE_RATIO and len(ln.text) <= _HEADING_MAX_CHARS
                if large or bold_block:
                    ln.heading = True
                    sizes.add(ln.size)
    return sorted(sizes, reverse=True)


def _join_lines(texts: list[str]) -> str:
    """Join a block's lines into one paragraph; a line-end hyphen joins without a space."""
    out = ""
    for t in texts:
        out += t if not out or out.endswith("-") else " " + t
    return out


def _inside(bbox: tuple[float, float, float, float], rects: list[tuple]) -> bool:
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    return any(r[0] - 1 <= cx <= r[2] + 1 and r[1] - 1 <= cy <= r[3] + 1 for r in rects)


def _words_in(words: list[tuple], rect) -> list[tuple]:
    """The words (``page.get_text("words")`` tuples) whose centre lies inside ``rect``."""
    x0, y0, x1, y1 = rect
    return [w for w in words if x0 <= (w[0] + w[2]) / 2 < x1 and y0 <= (w[1] + w[3]) / 2 < y1]


@dataclass(slots=True)
class _Table:
    """A detected table: where it starts, the areas it covers, its ``cell | cell`` rows."""

    top: float
    areas: list[tuple[float, float, float, float]]
    rows: list[str]


def _read_table(table, words: list[tuple]) -> _Table:
    """Rows of a ``find_tables`` table, header first, cell text rebuilt from the page's words.

    PyMuPDF's ``Table.extract`` drops spaces in some PDFs (it re-assembles characters);
    the page's words keep them, so each cell is the words whose centre falls inside it.
    """
    grid = [list(row.cells) for row in table.rows]
    areas = [tuple(table.bbox)]
    header = table.header
    if header.external:  # the header row sits above the table's box
        grid.insert(0, list(header.cells))
        areas.append(tuple(header.bbox))
    inside = _words_in(words, _union(areas))
    rows = []
    for cells in grid:
        texts = [" ".join(w[4] for w in _words_in(inside, c)) if c else "" for c in cells]
        if any(texts):
            rows.append(" | ".join(texts))
    return _Table(min(a[1] for a in areas), areas, rows)


def _union(rects: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return (
        min(r[0] for r in rects) - 1,
        min(r[1] for r in rects) - 1,
        max(r[2] for r in rects) + 1,
        max(r[3] for r in rects) + 1,
    )


@register("connector", "pdf")
class PdfConnector(Connector):
    """Chunks of a PDF with page numbers, heading paths and tables, read with PyMuPDF.

    Args:
        max_tokens: token budget per chunk (see ``Chunker``).
        overlap_tokens: tokens shared by consecutive chunks of one section on one page.
        tokenizer: tokenizer that measures chunk length (``minilm``, a model dir, ``whitespace``).
        detect_headings: find headings from font size and bold short lines.
        tables: detect tables and emit them as ``kind="table"`` chunks of text rows.

    Example:
        >>> conn = PdfConnector(max_tokens=128)
        >>> [(c.page, c.heading, c.kind) for c in conn.parse("paper.pdf")]  # doctest: +SKIP
        [(1, ['1 Introduction'], 'pdf'), (2, ['1 Introduction', '1.1 Data'], 'table'), ...]
    """


    def __init__(
        self,
        max_tokens: int = 256,
        overlap_tokens: int = 32,
        tokenizer: str = "minilm",
        detect_headings: bool = True,
        tables: bool = True,
    ):
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.tokenizer = tokenizer
        self.detect_headings = detect_headings
        self.tables = tables

    def parse(self, path: str | Path, source: str | None = None) -> Iterator[Chunk]:
        """Yield the text and table chunks of one PDF, page by page.

        Args:
            path: the PDF file.
            source: name recorded in ``Chunk.source``; defaults to ``path``.

        Returns:
            An iterator of ``Chunk`` (``kind`` ``"pdf"`` or ``"table"``, ``page`` 1-based).

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ParseError: the PDF is encrypted, unreadable, or has no pages / no content.

        Warns:
            ConnectorWarning: a page without a text layer but with images (needs OCR), a page
                that cannot be read, or a damaged file that MuPDF had to repair.
        """
        import pymupdf

        path = Path(path)
        source = source if source is not None else path.as_posix()
        if not path.is_file():
            raise FileNotFoundError(f"no such PDF file: {path}")
        pymupdf.TOOLS.mupdf_warnings(reset=True)  # so a failure below reports its own cause
        try:
            doc = pymupdf.open(path, filetype="pdf")
        except pymupdf.EmptyFileError as exc:
            raise ParseError(f"{source} is empty (0 bytes); it is not a PDF") from exc
        except RuntimeError as exc:  # pymupdf.FileDataError and other MuPDF open failures
            reason = "; ".join(_mupdf_messages(pymupdf)[-2:]) or str(exc)
            raise ParseError(f"{source} is not a readable PDF: {reason}") from exc
        with doc:
            yield from self._parse_doc(doc, source)

    def _parse_doc(self, doc, source: str) -> Iterator[Chunk]:
        import pymupdf

        if doc.needs_pass:
            raise ParseError(
                f"{source} is encrypted and needs a password; decrypt it first "
                f"(e.g. `qpdf --decrypt --password=PASSWORD in.pdf out.pdf`) and ingest the copy"
            )
        if doc.page_count == 0:
            raise ParseError(f"{source} is empty: the PDF has no pages")
        # no image data; ligatures (ﬁ, ﬃ) expanded so words match what users type
        flags = pymupdf.TEXTFLAGS_DICT & ~(
            pymupdf.TEXT_PRESERVE_IMAGES | pymupdf.TEXT_PRESERVE_LIGATURES
        )
        pages: list[list[list[_Line]] | None] = []
        chars: Counter[float] = Counter()
        for page in doc:
            try:
                blocks = _read_blocks(page, flags)
            except RuntimeError as exc:
                _warn(f"{source}: page {page.number + 1} cannot be read ({exc}); it is skipped")
                pages.append(None)
                continue
            pages.append(blocks)
            for lines in blocks:
                for ln in lines:
                    chars[ln.size] += len(ln.text)
        textless = [i for i, b in enumerate(pages) if b == []]
        scanned = {i for i in textless if doc[i].get_image_info()}
        if not chars and not scanned:
            if doc.is_repaired:
                raise ParseError(
                    f"{source} is not a readable PDF: it is damaged and repairing it recovered "
                    f"no text or images; re-export it from its source application"
                )
            raise ParseError(
                f"{source} is empty: none of its {doc.page_count} page(s) has text or images"
            )
        if doc.is_repaired:
            _warn(
                f"{source} is damaged and was repaired while reading; some content may be "
                f"missing (re-export it, or rewrite it with `qpdf in.pdf out.pdf`)"
            )
        levels: dict[float, int] = {}
        if self.detect_headings and chars:
            body = chars.most_common(1)[0][0]
            sizes = _mark_headings([b for b in pages if b], body)
            levels = {s: i for i, s in enumerate(sizes)}
        title = (doc.metadata or {}).get("title", "").strip()
        meta = {"title": title} if title else {}
        path: list[tuple[int, str]] = []  # (level, heading text), outermost first
        seen: set[str] = set()
        for i, blocks in enumerate(pages):
            if i in scanned:
                _warn(
                    f"{source}: page {i + 1} has no text layer (scanned image?); run OCR "
                    f"(e.g. `ocrmypdf in.pdf out.pdf`) and ingest the result to index it"
                )
            if not blocks:
                continue
            for chunk in self._page_chunks(doc[i], blocks, flags, levels, path, source, meta):
                if chunk.id not in seen:  # same text twice on one page: one chunk
                    seen.add(chunk.id)
                    yield chunk

    def _page_chunks(self, page, blocks, flags, levels, path, source, meta) -> Iterator[Chunk]:
        """Chunks of one page in reading order; ``path`` (the heading path) is updated in place.

        A heading directly followed by a deeper heading (no text between them) is kept with
        the deeper section instead of becoming a chunk of its own.
        """
        number = page.number + 1
        tables: list[_Table] = []
        # line-based detection needs ruling lines: skip pages without vector graphics (cheap check)
        if self.tables and page.get_cdrawings():
            try:
                found = page.find_tables(use_layout=False).tables
                if found:
                    words = page.get_text("words", sort=True, flags=flags)
                    tables = sorted((_read_table(t, words) for t in found), key=lambda t: t.top)
            except RuntimeError as exc:
                _warn(f"{source}: tables on page {number} cannot be read ({exc}); kept as prose")
                tables = []
        boxes = [a for t in tables for a in t.areas]
        paras: list[str] = []
        has_body = False  # paras holds body text, not only headings

        def flush() -> Iterator[Chunk]:
            yield from self._text_chunks("\n\n".join(paras), number, path, source, meta)
            paras.clear()

        def tables_above(y: float) -> Iterator[Chunk]:
            while tables and tables[0].top <= y:
                yield from flush()
                yield from self._table_chunks(tables.pop(0).rows, number, path, source, meta)

        for lines in blocks:
            yield from tables_above(lines[0].bbox[1])
            body: list[str] = []
            prev: _Line | None = None  # the previous line, when it was a heading
            for ln in lines:
                if _inside(ln.bbox, boxes):
                    continue
                if not ln.heading:
                    body.append(ln.text)
                    prev = None
                    continue
                if body:
                    paras.append(_join_lines(body))
                    body, has_body = [], True
                level = levels[ln.size]
                if prev is not None and prev.size == ln.size:  # a heading wrapped over lines
                    path[-1] = (level, f"{path[-1][1]} {ln.text}")
                    paras[-1] = f"{paras[-1]} {ln.text}"
                else:
                    if has_body or not path or level <= path[-1][0]:
                        yield from flush()
                    while path and path[-1][0] >= level:
                        path.pop()
                    path.append((level, ln.text))
                    paras.append(ln.text)
                    has_body = False
                prev = ln
            if body:
                paras.append(_join_lines(body))
                has_body = True
        yield from tables_above(float("inf"))
        yield from flush()

    def _text_chunks(self, text, number, path, source, meta) -> Iterator[Chunk]:
        heading = [h for _, h in path]
        for s, e in self.chunker.split(text):
            piece = text[s:e].strip()
            yield Chunk(piece, source, "pdf", page=number, heading=heading, metadata=dict(meta))

    def _table_chunks(self, rows, number, path, source, meta) -> Iterator[Chunk]:
        """One chunk per table, or per run of rows (each led by the header) if over budget."""
        if not rows:
            return
        heading = [h for _, h in path]
        counts = [self.chunker.count(r) for r in rows]
        groups: list[list[str]] = []
        if sum(counts) <= self.max_tokens:
            groups = [rows]
        else:
            cur, total = [rows[0]], counts[0]
            for row, n in zip(rows[1:], counts[1:]):
                if len(cur) > 1 and total + n > self.max_tokens:
                    groups.append(cur)
                    cur, total = [rows[0]], counts[0]
                cur.append(row)
                total += n
            groups.append(cur)
        for group in groups:
            text = "\n".join(group)
            if self.chunker.count(text) <= self.max_tokens:
                pieces = [text]
            else:  # one row longer than the budget
                pieces = [text[s:e].strip() for s, e in self.chunker.split(text)]
            for piece in pieces:
                yield Chunk(
                    piece, source, "table", page=number, heading=heading, metadata=dict(meta)
                )


def _warn(message: str) -> None:
    warnings.warn(message, ConnectorWarning, stacklevel=2)


def _mupdf_messages(pymupdf) -> list[str]:
    """MuPDF's recent warnings (why a file failed to open), without the repair chatter."""
    text = pymupdf.TOOLS.mupdf_warnings(reset=True) or ""
    skip = ("trying to repair", "repairing PDF document")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(skip)]
    return list(dict.fromkeys(lines))
