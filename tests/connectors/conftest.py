"""Fixtures that build real PDF files with PyMuPDF for the connector tests.

Each builder writes a small PDF into ``tmp_path`` and returns its path; what was written into
the files is exposed by the ``pdf_spec`` fixture, so tests assert against their input, not
against output copied from a run.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pymupdf
import pytest

BODY_SIZE = 11
H1_SIZE = 20
H2_SIZE = 15
TITLE = "A Test Report"

# (page index, style, text): h1/h2 are bold at larger sizes, h3 is bold at the body size.
STYLES = {
    "h1": (H1_SIZE, True),
    "h2": (H2_SIZE, True),
    "h3": (BODY_SIZE, True),
    "body": (BODY_SIZE, False),
}
REPORT = [
    (0, "h1", "1 Introduction"),
    (0, "body", "Retrieval systems find passages that answer a question."),
    (0, "body", "Dense encoders map text to vectors. Sparse models count terms."),
    (0, "h2", "1.1 Background"),
    (0, "body", "Early search engines used inverted indexes over words."),
    (1, "body", "This paragraph continues the background section on page two."),
    (1, "h1", "2 Methods"),
    (1, "body", "We chunk documents by headings and a token budget."),
    (2, "h2", "2.1 Data"),
    (2, "body", "The corpus holds three small reports about fruit."),
    (2, "h3", "Limitations"),
    (2, "body", "Only English reports were collected for this study."),
    (3, "h1", "3 Results"),
    (3, "h2", "3.1 Accuracy"),
    (3, "body", "Hybrid retrieval found the answer for most questions."),
]

# A long section: sentences that wrap over many lines, in two paragraphs.
LONG_HEADING = "3 Discussion"
LONG_SENTENCES = [
    f"Sentence number {i} discusses how {w} retrieval changes with longer documents."
    for i, w in enumerate(
        ["sparse", "dense", "hybrid", "reranked", "fused", "expanded", "filtered", "cached"] * 3
    )
]

TABLE_ROWS = [
    ["Fruit", "Colour", "Weight"],
    ["apple", "red", "150"],
    ["pear", "green", "180"],
    ["plum", "purple", "60"],
]
TABLE_INTRO = "The table below lists fruit measurements."
TABLE_OUTRO = "Weights are given in grams."


@pytest.fixture
def pdf_spec() -> SimpleNamespace:
    """What the PDF fixtures contain, for tests to assert against (and the table drawer)."""
    return SimpleNamespace(
        BODY_SIZE=BODY_SIZE,
        TITLE=TITLE,
        REPORT=REPORT,
        LONG_HEADING=LONG_HEADING,
        LONG_SENTENCES=LONG_SENTENCES,
        TABLE_ROWS=TABLE_ROWS,
        TABLE_INTRO=TABLE_INTRO,
        TABLE_OUTRO=TABLE_OUTRO,
        write_table=write_table,
    )


def _write(page, y: float, text: str, size: float, bold: bool = False) -> float:
    """Write one line at ``y``; return the y for the next block (a paragraph gap below)."""
    page.insert_text((72, y), text, fontsize=size, fontname="hebo" if bold else "helv")
    return y + size * 2.2


def write_table(page, top: float, rows: list[list[str]], left: float = 72) -> float:
    """Draw ``rows`` as a ruled grid (lines plus text cells); return the y below it."""
    col_w, row_h = 110, 22
    ncols = len(rows[0])
    for r in range(len(rows) + 1):
        page.draw_line((left, top + r * row_h), (left + ncols * col_w, top + r * row_h))
    for c in range(ncols + 1):
        page.draw_line((left + c * col_w, top), (left + c * col_w, top + len(rows) * row_h))
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_text((left + c * col_w + 5, top + r * row_h + 15), cell, fontsize=10)
    return top + len(rows) * row_h + 30


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    """Three pages: bold headings at two sizes, body paragraphs, a section crossing a page."""
    doc = pymupdf.open()
    ys: dict[int, float] = {}
    for page_no, style, text in REPORT:
        while doc.page_count <= page_no:
            doc.new_page()
            ys[doc.page_count - 1] = 72
        size, bold = STYLES[style]
        ys[page_no] = _write(doc[page_no], ys[page_no], text, size, bold=bold)
    doc.set_metadata({"title": TITLE})
    path = tmp_path / "report.pdf"
    doc.save(path)
    return path


@pytest.fixture
def table_pdf(tmp_path: Path) -> Path:
    """One page: a heading, a paragraph, a ruled table, and a paragraph after it."""
    doc = pymupdf.open()
    page = doc.new_page()
    y = _write(page, 72, "Results", H1_SIZE, bold=True)
    y = _write(page, y, TABLE_INTRO, BODY_SIZE)
    y = write_table(page, y, TABLE_ROWS)
    _write(page, y, TABLE_OUTRO, BODY_SIZE)
    path = tmp_path / "table.pdf"
    doc.save(path)
    return path


@pytest.fixture
def encrypted_pdf(tmp_path: Path) -> Path:
    """A PDF that needs the user password ``x`` to open."""
    doc = pymupdf.open()
    _write(doc.new_page(), 72, "Secret text.", BODY_SIZE)
    path = tmp_path / "locked.pdf"
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="x", owner_pw="y")
    return path


@pytest.fixture
def long_pdf(tmp_path: Path) -> Path:
    """One page: a heading, then two long paragraphs wrapped over many lines."""
    doc = pymupdf.open()
    page = doc.new_page()
    y = _write(page, 72, LONG_HEADING, H1_SIZE, bold=True)
    half = len(LONG_SENTENCES) // 2
    for part in (LONG_SENTENCES[:half], LONG_SENTENCES[half:]):
        box = pymupdf.Rect(72, y, 520, y + 300)
        left = page.insert_textbox(box, " ".join(part), fontsize=BODY_SIZE, fontname="helv")
        assert left >= 0, "paragraph does not fit its box"
        y = box.y1 - left + 20
    path = tmp_path / "long.pdf"
    doc.save(path)
    return path


@pytest.fixture
def truncated_pdf(tmp_path: Path, report_pdf: Path) -> Path:
    """The first 150 bytes of a real PDF: a header, no complete object, no xref."""
    path = tmp_path / "truncated.pdf"
    path.write_bytes(report_pdf.read_bytes()[:150])
    return path


@pytest.fixture
def garbage_pdf(tmp_path: Path) -> Path:
    """Bytes that are not a PDF at all, under a .pdf name."""
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"\x00not a pdf\xff" * 64)
    return path


@pytest.fixture
def damaged_pdf(tmp_path: Path, report_pdf: Path) -> Path:
    """A real PDF missing its last bytes (the xref offset): readable only after repair."""
    path = tmp_path / "damaged.pdf"
    path.write_bytes(report_pdf.read_bytes()[:-40])
    return path


def _noise_pixmap():
    """A small RGB image with no text in it (a stand-in for a scanned page)."""
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 64), False)
    pix.set_rect(pix.irect, (200, 180, 160))
    pix.set_rect(pymupdf.IRect(10, 10, 40, 30), (20, 20, 20))
    return pix


@pytest.fixture
def scanned_pdf(tmp_path: Path) -> Path:
    """Page 1 has text; page 2 only an image (no text layer)."""
    doc = pymupdf.open()
    _write(doc.new_page(), 72, "This page has a text layer.", BODY_SIZE)
    doc.new_page().insert_image(pymupdf.Rect(72, 72, 400, 400), pixmap=_noise_pixmap())
    path = tmp_path / "scanned.pdf"
    doc.save(path)
    return path


@pytest.fixture
def blank_pdf(tmp_path: Path) -> Path:
    """Two pages with neither text nor images."""
    doc = pymupdf.open()
    doc.new_page()
    doc.new_page()
    path = tmp_path / "blank.pdf"
    doc.save(path)
    return path


@pytest.fixture
def zero_page_pdf(tmp_path: Path) -> Path:
    """A syntactically valid PDF whose page tree is empty (PyMuPDF refuses to save one)."""
    objs = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[]/Count 0>>"]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path = tmp_path / "zero.pdf"
    path.write_bytes(out)
    return path
