"""TextConnector: Markdown heading paths, code fences, exact line ranges, plain text, encodings."""

from __future__ import annotations

import warnings

import pytest

from ragkit.connectors.base import ConnectorWarning
from ragkit.connectors.chunking import Chunker
from ragkit.connectors.text import TextConnector, markdown_sections

GUIDE = """\
---
title: Guide
# a YAML comment, not a heading
---

Intro text before any heading.

# Install

Run the installer once.

## From source

```bash
# clone the repository
git clone https://example.org/repo.git
## also not a heading
```

Then build it.

~~~~
# inside a tilde fence
```
# still inside: a shorter backtick fence does not close a tilde fence
~~~~

## From a wheel

Use pip.

# Usage

### Options ###

Pass --fast for speed.
"""


def parse(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConnectorWarning)
        return list(TextConnector(**kwargs).parse(path, source=path.name))


def assert_line_ranges(chunks, text):
    """Each chunk's text lies exactly on lines start_line..end_line of the file."""
    lines = text.split("\n")
    for c in chunks:
        assert 1 <= c.start_line <= c.end_line <= len(lines)
        held = "\n".join(lines[c.start_line - 1 : c.end_line])
        assert c.text in held
        first, *_, last = c.text.split("\n") if "\n" in c.text else (c.text, c.text)
        assert lines[c.start_line - 1].endswith(first)
        assert lines[c.end_line - 1].startswith(last)
        assert c.text == c.text.strip()


@pytest.fixture
def guide(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(GUIDE, encoding="utf-8")
    return path


def test_markdown_heading_paths_and_fences(guide):
    chunks = parse(guide)
    assert {c.kind for c in chunks} == {"text"}
    by_text = {c.heading[-1]: c for c in chunks if c.heading}
    # "# Install" is followed by text, so it is its own section
    assert by_text["Install"].heading == ["Install"]
    assert by_text["Install"].text.startswith("# Install")
    src = by_text["From source"]
    assert src.heading == ["Install", "From source"]
    assert "# clone the repository" in src.text and "## also not a heading" in src.text
    assert "# still inside" in src.text and "Then build it." in src.text
    assert by_text["From a wheel"].heading == ["Install", "From a wheel"]
    # an empty "# Usage" section is kept with the deeper heading right after it
    opts = by_text["Options"]
    assert opts.heading == ["Usage", "Options"]
    assert opts.text.startswith("# Usage\n\n### Options ###")
    # front matter (with its "#" comment) and the intro have no heading path
    assert chunks[0].heading == [] and "Intro text" in chunks[0].text
    assert "a YAML comment" in chunks[0].text
    assert_line_ranges(chunks, GUIDE)


def test_markdown_sections_function():
    lines = GUIDE.split("\n")
    sections = markdown_sections(lines)
    heads = [(lines[i], path) for i, path in sections]
    assert heads == [
        ("---", []),
        ("# Install", ["Install"]),
        ("## From source", ["Install", "From source"]),
        ("## From a wheel", ["Install", "From a wheel"]),
        ("# Usage", ["Usage"]),
        ("### Options ###", ["Usage", "Options"]),
    ]
    # "#tag" is not a heading (no space); an unclosed fence runs to the end
    assert markdown_sections(["#tag", "# A", "```", "# B"]) == [(0, []), (1, ["A"])]


def test_line_ranges_slice_back_with_small_budget(tmp_path):
    paras = [
        " ".join(f"Paragraph {p} sentence {s} talks about topic {p * 7 + s}." for s in range(6))
        for p in range(8)
    ]
    # wrap every paragraph over several lines, with CRLF endings
    body = "\n\n".join("\n".join(p[i : i + 60] for i in range(0, len(p), 60)) for p in paras)
    text = "# Notes\n\n" + body + "\n"
    path = tmp_path / "notes.md"
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    chunks = parse(path, max_tokens=48, overlap_tokens=8)
    counter = Chunker(tokenizer="minilm")
    assert len(chunks) > 5
    assert all(counter.count(c.text) <= 48 for c in chunks)
    assert all(c.heading == ["Notes"] for c in chunks)
    assert_line_ranges(chunks, text)
    assert chunks[0].start_line == 1 and chunks[-1].end_line == text.count("\n")


def test_plain_text_paragraphs(tmp_path):
    text = "First paragraph line one.\nLine two.\n\n\nSecond paragraph.\n\n# not a heading here\n"
    path = tmp_path / "a.txt"
    path.write_text(text, encoding="utf-8")
    chunks = parse(path, max_tokens=8, overlap_tokens=0, tokenizer="whitespace")
    # paragraphs 1 and 2 (5 + 2 words) fit in one chunk of 8; the third (6 words) does not
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 5), (7, 7)]
    assert chunks[0].text == "First paragraph line one.\nLine two.\n\n\nSecond paragraph."
    assert all(c.heading == [] for c in chunks)
    assert_line_ranges(chunks, text)


@pytest.mark.parametrize("content", ["", "   \n\n\t \n"])
def test_empty_file_yields_nothing(tmp_path, content):
    path = tmp_path / "empty.md"
    path.write_text(content, encoding="utf-8")
    assert parse(path) == []


def test_non_utf8_warns_and_replaces(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("Caf\u00e9 au lait.\nSecond line.\n".encode("latin-1"))
    with pytest.warns(ConnectorWarning, match="not valid UTF-8"):
        chunks = list(TextConnector().parse(path))
    assert len(chunks) == 1
    assert chunks[0].text == "Caf\ufffd au lait.\nSecond line."
    assert (chunks[0].start_line, chunks[0].end_line) == (1, 2)


def test_utf8_bom_is_not_text(tmp_path):
    path = tmp_path / "bom.md"
    path.write_bytes("\ufeff# Title\n\nBody.\n".encode("utf-8"))
    (chunk,) = parse(path)
    assert chunk.text == "# Title\n\nBody." and chunk.heading == ["Title"]


def test_ids_stable_and_config(guide):
    first = [c.id for c in parse(guide)]
    assert first == [c.id for c in parse(guide)] and len(set(first)) == len(first)
    conn = TextConnector(max_tokens=64)
    assert conn.to_config() == {
        "type": "text",
        "max_tokens": 64,
        "overlap_tokens": 32,
        "tokenizer": "minilm",
    }
    from ragkit.connectors.languages import connector_name

    assert {connector_name(f"notes{e}") for e in (".txt", ".md", ".markdown", ".rst")} == {TextConnector.registered_name}


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(TextConnector().parse(tmp_path / "absent.md"))
