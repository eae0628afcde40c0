"""PdfConnector on real PDFs built with PyMuPDF (conftest.py): pages, headings, tables, errors."""

from __future__ import annotations

import warnings

import pymupdf
import pytest

from ragkit.connectors.base import ConnectorWarning, ParseError
from ragkit.connectors.chunking import Chunker
from ragkit.connectors.pdf import PdfConnector


LEVEL = {"h1": 0, "h2": 1, "h3": 2}


def parse(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConnectorWarning)  # these files must parse cleanly
        return list(PdfConnector(**kwargs).parse(path, source=path.name))


def expected_sections(report):
    """(page, heading path) of each body paragraph, from the order headings were written in."""
    path, out = [], {}
    for page, style, text in report:
        if style == "body":
            out[text] = (page + 1, [t for _, t in path])
        else:
            path = [(lv, t) for lv, t in path if lv < LEVEL[style]] + [(LEVEL[style], text)]
    return out


def holding(chunks, text):
    found = [c for c in chunks if text in c.text]
    assert found, f"no chunk holds {text!r}"
    return found


def test_pages_and_heading_paths(report_pdf, pdf_spec):
    chunks = parse(report_pdf)
    assert {c.kind for c in chunks} == {"pdf"}
    for text, (page, heading) in expected_sections(pdf_spec.REPORT).items():
        for chunk in holding(chunks, text):
            assert chunk.page == page, text
            assert chunk.heading == heading, text
    # the heading path persists across the page break: page 2 starts inside "1.1 Background"
    first_on_2 = next(c for c in chunks if c.page == 2)
    assert first_on_2.heading == ["1 Introduction", "1.1 Background"]
    assert all(c.metadata == {"title": pdf_spec.TITLE} for c in chunks)


def test_heading_starts_its_section_chunk(report_pdf, pdf_spec):
    chunks = parse(report_pdf)
    for _, style, text in pdf_spec.REPORT:
        if style != "body":
            starts = [c for c in chunks if c.text.startswith(text) or f"\n\n{text}\n\n" in c.text]
            assert len(starts) == 1, text
            assert text in starts[0].heading
    # bold text at the body size is a heading too, nested below the larger ones
    limits = holding(chunks, "Only English reports")[0]
    assert limits.heading == ["2 Methods", "2.1 Data", "Limitations"]
    # a heading with no text before a deeper one is kept with it, not left alone in a chunk
    (results,) = holding(chunks, "3 Results")
    assert results.text.startswith("3 Results\n\n3.1 Accuracy\n\nHybrid retrieval")
    assert results.heading == ["3 Results", "3.1 Accuracy"]


def test_chunks_never_span_pages(report_pdf):
    chunks = parse(report_pdf)
    with pymupdf.open(report_pdf) as doc:
        page_words = [set(page.get_text().split()) for page in doc]
    for chunk in chunks:
        assert set(chunk.text.split()) <= page_words[chunk.page - 1], chunk.text


def test_detect_headings_off(report_pdf, pdf_spec):
    chunks = parse(report_pdf, detect_headings=False)
    assert all(c.heading == [] for c in chunks)
    assert "Early search engines" in " ".join(c.text for c in chunks)


def test_ids_stable_across_parses(report_pdf):
    first = [c.id for c in parse(report_pdf)]
    assert first == [c.id for c in parse(report_pdf)]
    assert len(set(first)) == len(first)
    renamed = list(PdfConnector().parse(report_pdf, source="other/report.pdf"))
    assert not set(first) & {c.id for c in renamed}


def test_long_section_respects_token_budget(long_pdf, pdf_spec):
    conn = PdfConnector(max_tokens=40, overlap_tokens=8)
    chunks = list(conn.parse(long_pdf))
    counter = Chunker(tokenizer="minilm")
    assert len(chunks) > 3
    assert all(counter.count(c.text) <= 40 for c in chunks)
    assert chunks[0].text.startswith(pdf_spec.LONG_HEADING + "\n\n")
    assert all(c.heading == [pdf_spec.LONG_HEADING] and c.page == 1 for c in chunks)
    for sentence in pdf_spec.LONG_SENTENCES:  # lines re-joined, sentences kept whole
        holding(chunks, sentence)


def test_fixture_table_is_detected(table_pdf, pdf_spec):
    with pymupdf.open(table_pdf) as doc:
        tables = doc[0].find_tables(use_layout=False).tables
    assert len(tables) == 1
    assert tables[0].extract() == pdf_spec.TABLE_ROWS


def test_table_becomes_rows_chunk(table_pdf, pdf_spec):
    chunks = parse(table_pdf)
    (table,) = [c for c in chunks if c.kind == "table"]
    assert table.text.split("\n") == [" | ".join(row) for row in pdf_spec.TABLE_ROWS]
    assert table.page == 1 and table.heading == ["Results"]
    prose = [c for c in chunks if c.kind == "pdf"]
    for row in pdf_spec.TABLE_ROWS[1:]:  # table area left out of the running text
        assert not any(row[0] in c.text for c in prose)
    order = [c.id for c in chunks]
    intro = holding(prose, pdf_spec.TABLE_INTRO)[0]
    outro = holding(prose, pdf_spec.TABLE_OUTRO)[0]
    assert order.index(intro.id) < order.index(table.id) < order.index(outro.id)


def test_tables_off_keeps_cells_as_prose(table_pdf, pdf_spec):
    chunks = parse(table_pdf, tables=False)
    assert {c.kind for c in chunks} == {"pdf"}
    text = " ".join(c.text for c in chunks)
    assert all(cell in text for row in pdf_spec.TABLE_ROWS for cell in row)


def test_long_table_is_split_with_its_header(tmp_path, pdf_spec):
    rows = [["Item", "Description"]]
    rows += [[f"item{i}", f"a plain thing number {i}"] for i in range(20)]
    doc = pymupdf.open()
    pdf_spec.write_table(doc.new_page(), 72, rows)
    path = tmp_path / "long-table.pdf"
    doc.save(path)
    chunks = list(PdfConnector(max_tokens=40, overlap_tokens=0).parse(path))
    assert len(chunks) > 2 and {c.kind for c in chunks} == {"table"}
    counter = Chunker(tokenizer="minilm")
    body = []
    for chunk in chunks:
        lines = chunk.text.split("\n")
        assert lines[0] == "Item | Description"
        assert counter.count(chunk.text) <= 40
        body += lines[1:]
    assert body == [" | ".join(r) for r in rows[1:]]


def test_scanned_page_warns_and_keeps_the_rest(scanned_pdf):
    expected = r"page 2 has no text layer \(scanned image\?\); run OCR"
    with pytest.warns(ConnectorWarning, match=expected):
        chunks = list(PdfConnector().parse(scanned_pdf))
    assert [(c.page, c.text) for c in chunks] == [(1, "This page has a text layer.")]


def test_encrypted_pdf(encrypted_pdf):
    with pytest.raises(ParseError, match="encrypted") as err:
        list(PdfConnector().parse(encrypted_pdf))
    assert "qpdf --decrypt" in str(err.value)


@pytest.mark.parametrize("fixture", ["truncated_pdf", "garbage_pdf"])
def test_corrupt_pdf(fixture, request):
    path = request.getfixturevalue(fixture)
    with pytest.raises(ParseError, match=r"is not a readable PDF: \S"):
        list(PdfConnector().parse(path, source=path.name))


def test_damaged_but_repairable_pdf_warns(damaged_pdf, pdf_spec):
    with pytest.warns(ConnectorWarning, match="repaired"):
        chunks = list(PdfConnector().parse(damaged_pdf))
    text = " ".join(c.text for c in chunks)
    assert all(t in text for _, _, t in pdf_spec.REPORT)


@pytest.mark.parametrize("fixture", ["blank_pdf", "zero_page_pdf"])
def test_empty_pdf(fixture, request):
    with pytest.raises(ParseError, match="is empty"):
        list(PdfConnector().parse(request.getfixturevalue(fixture)))


def test_zero_byte_file(tmp_path):
    path = tmp_path / "nothing.pdf"
    path.write_bytes(b"")
    with pytest.raises(ParseError, match="empty"):
        list(PdfConnector().parse(path))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(PdfConnector().parse(tmp_path / "absent.pdf"))


def test_config_round_trip():
    conn = PdfConnector(max_tokens=128, tables=False)
    config = conn.to_config()
    assert config == {
        "type": "pdf",
        "max_tokens": 128,
        "overlap_tokens": 32,
        "tokenizer": "minilm",
        "detect_headings": True,
        "tables": False,
    }
    assert PdfConnector(**{k: v for k, v in config.items() if k != "type"}).to_config() == config
    from ragkit.connectors.languages import connector_name

    assert (PdfConnector.registered_kind, connector_name("manual.PDF")) == ("connector", PdfConnector.registered_name)


def test_heading_wrapped_over_two_lines_is_one_heading(tmp_path, pdf_spec):
    title = "A rather long chapter heading that wraps onto a second line"
    doc = pymupdf.open()
    page = doc.new_page()
    left = page.insert_textbox(pymupdf.Rect(72, 60, 400, 160), title, fontsize=20, fontname="hebo")
    assert left >= 0
    body = "Body text under the long heading. " * 3
    page.insert_textbox(pymupdf.Rect(72, 200, 520, 300), body, fontsize=pdf_spec.BODY_SIZE)
    path = tmp_path / "wrapped.pdf"
    doc.save(path)
    with pymupdf.open(path) as check:  # the fixture really wraps the heading
        assert len(check[0].get_text("dict")["blocks"][0]["lines"]) == 2
    (chunk,) = parse(path)
    assert chunk.heading == [title]
    assert chunk.text.startswith(title + "\n\nBody text under the long heading.")
