"""The comment block above a Python definition or assignment is part of its chunk."""

from __future__ import annotations

from ragkit.connectors.code import PythonConnector
from ragkit.connectors.python_comments import leading_comment
from ragkit.indexes.index import Index
from ragkit.retrievers.bm25 import BM25Retriever

SOURCE = '''# -*- coding: utf-8 -*-
def first():
    return 1

# How close in time (in seconds) the DST periods have to be
# to choose between two possible offsets
_DST_WINDOW = 10 * 365 * 86400

#: Sphinx-style doc comment
RETRIES = 3
X = 1

# -- parsing ------------------------------------------------------------------
def parse(text):
    return text


class Box:
    def a(self):
        return 1
        # a trailing comment of a's body
    # what b does
    @property
    def b(self):
        return 2
'''


def _lines() -> list[str]:
    return SOURCE.split("\n")


def test_leading_comment_rules():
    lines = _lines()
    assert leading_comment(lines, 2) is None  # the coding line documents the file, not first()
    assert leading_comment(lines, 7) == (5, "How close in time (in seconds) the DST periods have to be\n"
                                            "to choose between two possible offsets")
    assert leading_comment(lines, 10) == (9, "Sphinx-style doc comment")
    assert leading_comment(lines, 11) is None  # the line above is code
    assert leading_comment(lines, 14) is None  # a section divider heads a group
    b = lines.index("    @property") + 1
    assert leading_comment(lines, b) == (b - 1, "what b does")  # not a's deeper-indented comment


def test_chunks_start_at_the_comment_and_constants_carry_it(tmp_path):
    path = tmp_path / "tz.py"
    path.write_text(SOURCE)
    chunks = {c.symbol: c for c in PythonConnector(tokenizer="whitespace").parse(path)}
    window = chunks["_DST_WINDOW"]
    assert (window.start_line, window.end_line) == (5, 7)
    assert window.text.startswith("# How close in time") and window.text.endswith("_DST_WINDOW = 10 * 365 * 86400")
    assert window.metadata["docstring"].startswith("How close in time")
    assert window.metadata["docstring_lines"] == [5, 6]
    assert chunks["RETRIES"].metadata["docstring"] == "Sphinx-style doc comment"
    assert "docstring" not in chunks["X"].metadata
    assert chunks["parse"].start_line == 14  # the divider stays module code
    assert chunks["Box.b"].text.startswith("    # what b does\n    @property")
    assert chunks["first"].start_line == 2
    # every chunk is still its exact line slice of the file
    lines = _lines()
    for c in chunks.values():
        assert c.text == "\n".join(lines[c.start_line - 1 : c.end_line])


def test_a_constant_is_found_by_the_words_of_its_comment(tmp_path):
    path = tmp_path / "tz.py"
    path.write_text(SOURCE)
    index = tmp_path / "index"
    Index.create(index, list(PythonConnector(tokenizer="whitespace").parse(path)), show_progress=False)
    top = BM25Retriever(str(index)).retrieve(["how close must the DST periods be"], k=1)[0][0]
    assert top.chunk.symbol == "_DST_WINDOW"
