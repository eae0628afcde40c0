"""Every connector accounts for every character: over-long lines are split, never truncated.

The property, checked on real files for each connector (text, Markdown, Python, tree-sitter,
line windows, PDF): each chunk's text is the file's text at the place its provenance names
(lines, and columns for the pieces of a cut line), every non-space character of the file lies in
some chunk, no chunk is over the budget by more than one token piece, and no two chunks of a
file share an id (the chunk store keeps one chunk per id, so a repeated id would lose text).
"""

from __future__ import annotations

import random

import pymupdf
import pytest

from ragkit.connectors.chunking import Chunker
from ragkit.connectors.dispatch import connector_for
from ragkit.connectors.lines import read_source, source_lines

BUDGET = {"max_tokens": 64, "overlap_tokens": 8, "tokenizer": "minilm"}
WORDS = ["alpha", "beta", "gamma", "delta", "zebra", "quantum", "retrieval", "index,", "chunk.", "Hello"]


def _prose(n_words: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def _region(lines: list[str], chunk) -> tuple[int, str]:
    """(offset in the file text, text) of the place a chunk's provenance points at."""
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    a, b = chunk.start_line, chunk.end_line
    begin, end = starts[a - 1], starts[b - 1] + len(lines[b - 1])
    if chunk.start_col is not None:
        begin, end = starts[a - 1] + chunk.start_col, starts[b - 1] + chunk.end_col
    return begin, "\n".join(lines)[begin:end]


def assert_covered(path, chunks, text_of_file: str | None = None) -> None:
    """The property of the module docstring, for a line-addressed file (text and code)."""
    text = text_of_file if text_of_file is not None else read_source(path)
    lines = text.split("\n")
    covered = bytearray(len(text))
    assert len({c.id for c in chunks}) == len(chunks), "two chunks share an id"
    for chunk in chunks:
        begin, region = _region(lines, chunk)
        at = region.find(chunk.text)
        assert at >= 0 and region.strip() == chunk.text.strip(), (chunk.span, chunk.text[:60])
        covered[begin + at : begin + at + len(chunk.text)] = b"\x01" * len(chunk.text)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"{len(missing)} characters in no chunk, first at {missing[0]}: {text[missing[0]:missing[0] + 40]!r}"


def _files(tmp_path):
    long_line = _prose(20_000, seed=1)  # one line of ~140,000 characters
    files = {
        "one-line.txt": long_line,
        "zebra.txt": "zebra " * 3000,  # identical pieces on one line: ids must still differ
        "guide.md": f"# Guide\n\nShort intro.\n\n## Long\n\n{long_line}\n\n## After\n\nThe end.\n",
        "data.py": f"'''Data.'''\n\nWORDS = {long_line!r}\n\n\ndef f(x):\n    return x + 1\n",
        "app.js": f"const words = {long_line!r};\nfunction f(x) {{\n  return x + 1;\n}}\n",
        "notes.cfg": f"[section]\nkey = {long_line}\nother = 1\n",
        "minified.txt": "x" * 5000 + " " + "ab" * 3000,  # words over the budget
    }
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    return [tmp_path / n for n in files]


def test_every_connector_covers_every_character_of_long_lines(tmp_path):
    for path in _files(tmp_path):
        connector = connector_for(path, BUDGET)
        chunks = list(connector.parse(path, source=path.name))
        assert len(chunks) > 3 or path.name == "minified.txt", path.name
        assert_covered(path, chunks)


def test_pieces_of_a_long_line_fit_the_budget(tmp_path):
    chunker = Chunker(**BUDGET)
    for path in _files(tmp_path):
        for chunk in connector_for(path, BUDGET).parse(path, source=path.name):
            # a single word piece may be cut between tokens, so at most the budget
            assert chunker.count(chunk.text) <= BUDGET["max_tokens"] + 2, (path.name, chunk.span)


def test_overlap_is_the_only_repetition(tmp_path):
    """Concatenated chunk texts minus overlap give the file's words back, in order."""
    path = tmp_path / "one-line.txt"
    text = _prose(5_000, seed=2)
    path.write_text(text)
    chunks = list(connector_for(path, BUDGET).parse(path, source=path.name))
    ends = 0
    rebuilt: list[str] = []
    for chunk in chunks:
        begin = chunk.start_col
        assert begin is not None and not text[ends:begin].strip()  # no text between two chunks
        assert chunk.text == text[begin : chunk.end_col]
        rebuilt.append(text[ends:begin] + chunk.text[max(0, ends - begin) :])  # gap + new text
        ends = max(ends, chunk.end_col)
    assert "".join(rebuilt) == text


def test_pdf_long_paragraph_is_split_not_truncated(tmp_path):
    words = _prose(3_000, seed=3).split()
    doc = pymupdf.open()
    page = doc.new_page()
    # one paragraph of 3,000 words as a text box that wraps over the page, small font
    box = pymupdf.Rect(20, 20, page.rect.width - 20, page.rect.height - 20)
    rc = page.insert_textbox(box, " ".join(words), fontsize=3)
    assert rc >= 0, "the paragraph must fit the page"
    path = tmp_path / "long.pdf"
    doc.save(path)
    chunks = list(connector_for(path, BUDGET).parse(path, source=path.name))
    assert len({c.id for c in chunks}) == len(chunks)
    got = " ".join(c.text for c in chunks).split()
    # every word, in order (overlap repeats some: a subsequence check)
    it = iter(got)
    assert all(any(w == g for g in it) for w in words)


@pytest.mark.parametrize("tokenizer", ["whitespace", "minilm"])
def test_splitting_a_long_line_takes_linear_time(tokenizer):
    import time

    chunker = Chunker(max_tokens=256, overlap_tokens=32, tokenizer=tokenizer)
    small, big = _prose(20_000), _prose(200_000)
    t0 = time.perf_counter()
    chunker.split(small)
    t1 = time.perf_counter()
    chunker.split(big)
    t2 = time.perf_counter()
    assert (t2 - t1) < 30 * max(t1 - t0, 0.01), "10x the text took more than 30x the time"


def test_line_windows_cut_only_the_long_line(tmp_path):
    path = tmp_path / "mixed.cfg"
    path.write_text("a = 1\n" + "key = " + _prose(2_000) + "\nb = 2\n")
    chunks = list(connector_for(path, BUDGET).parse(path, source=path.name))
    lines = source_lines(path.read_text())
    cut = [c for c in chunks if c.start_col is not None]
    assert cut and all(c.start_line == c.end_line == 2 for c in cut)
    assert all(c.text == lines[1][c.start_col : c.end_col] for c in cut)
    assert_covered(path, chunks)
