"""Data-preparation recipes over hand-made chunks and over chunks from the code connectors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ragkit.connectors.code import PythonConnector
from ragkit.connectors.recipes import (
    STOPWORDS,
    keyword_paragraph_pairs,
    keywords,
    paragraph_chunks,
    summary_function_pairs,
)
from ragkit.connectors.treesitter import TreeSitterConnector
from ragkit.types import Chunk

SAMPLES = Path(__file__).parent / "samples"

LLAMAS = "Llamas eat grass. Llamas grow wool. The farm sells wool and grass."
FARM = "The farm grows grass."


def prose() -> list[Chunk]:
    return [
        Chunk(LLAMAS, "farm.md", kind="text", start_line=1, end_line=1),
        Chunk(FARM, "farm.pdf", kind="pdf", page=2),
        Chunk("def f():\n    return 1", "f.py", kind="function", language="python", symbol="f"),
        Chunk("a | b\n1 | 2", "farm.pdf", kind="table", page=3),
        Chunk("plain words in a window", "notes.xyz", kind="window", start_line=1, end_line=1),
        Chunk("x = [1, 2]", "a.py", kind="window", language="python", start_line=1, end_line=1),
        Chunk("   \n", "empty.md", kind="text"),
    ]


def test_paragraph_chunks_keeps_prose_only():
    records = paragraph_chunks(prose())
    assert [r["source"] for r in records] == ["farm.md", "farm.pdf", "notes.xyz"]
    chunks = prose()
    assert records[0] == {"id": chunks[0].id, "text": LLAMAS, "source": "farm.md"}


def test_keywords_match_hand_computed_tfidf():
    # LLAMAS terms: llamas x2, eat, grass x2, grow, wool x2, farm, sells (10 terms);
    # FARM terms: farm, grows, grass. "grass" and "farm" are in both texts.
    (llamas, farm) = keywords([LLAMAS, FARM], top_k=3)
    idf_rare, idf_common = math.log(3 / 2) + 1, math.log(3 / 3) + 1
    assert 2 / 10 * idf_rare > 2 / 10 * idf_common > 1 / 10 * idf_rare  # the ranking below
    assert llamas == ["llamas", "wool", "grass"]
    assert farm == ["grows", "farm", "grass"]  # grows: 1/3*1.405; then the tie in order
    assert not set(llamas + farm) & STOPWORDS


def test_keywords_edge_cases():
    assert keywords(["the and of", "Rust borrow checker"], top_k=2) == [[], ["rust", "borrow"]]
    assert keywords(["The user's keys"], top_k=5) == [["user", "keys"]]
    with pytest.raises(ValueError, match="top_k"):
        keywords(["x"], top_k=0)


def test_keyword_paragraph_pairs():
    chunks = prose()
    pairs = keyword_paragraph_pairs(chunks, top_k=2)
    assert [p["chunk_id"] for p in pairs] == [chunks[0].id, chunks[1].id, chunks[4].id]
    assert pairs[0] == {"query": "llamas wool", "positive": LLAMAS, "chunk_id": chunks[0].id}
    assert all(len(p["query"].split()) == 2 for p in pairs)


def test_summary_function_pairs_on_hand_made_chunks():
    py_fn = Chunk(
        'def area(r):\n    """Area of a circle.\n\n    Uses pi.\n    """\n    return 3.14 * r * r',
        "geo.py", kind="function", language="python", start_line=10, end_line=15, symbol="area",
        metadata={"docstring": "Area of a circle.\n\nUses pi.", "docstring_lines": [11, 14]},
    )
    ts_fn = Chunk(
        "/**\n * @param r radius\n * Perimeter of a circle.\n */\nfunction perimeter(r) {\n  return 6.28 * r;\n}",
        "geo.js", kind="function", language="javascript", start_line=1, end_line=7,
        symbol="perimeter",
        metadata={"docstring": "@param r radius\nPerimeter of a circle.", "docstring_lines": [1, 4]},
    )
    skipped = [
        Chunk("def g():\n    return 1", "g.py", kind="function", start_line=1, end_line=2,
              symbol="g", metadata={"docstring": None}),
        Chunk("    return 2", "h.py", kind="function", start_line=5, end_line=5, symbol="h",
              metadata={"docstring": "H.", "docstring_lines": [2, 2], "part": 1}),
        Chunk('class K:\n    """A K."""', "k.py", kind="class", start_line=1, end_line=2,
              symbol="K", metadata={"docstring": "A K.", "docstring_lines": [2, 2]}),
        Chunk('def one(): "Inline."; return 1', "o.py", kind="function", start_line=1,
              end_line=1, symbol="one", metadata={"docstring": "Inline."}),
    ]
    pairs = summary_function_pairs([py_fn, *skipped, ts_fn])
    assert pairs == [
        {"query": "Area of a circle.", "positive": "def area(r):\n    return 3.14 * r * r",
         "chunk_id": py_fn.id, "symbol": "area"},
        {"query": "Perimeter of a circle.",
         "positive": "function perimeter(r) {\n  return 6.28 * r;\n}",
         "chunk_id": ts_fn.id, "symbol": "perimeter"},
    ]


def test_summary_function_pairs_from_connectors():
    py_chunks = list(PythonConnector(tokenizer="whitespace").parse(SAMPLES / "inventory.py"))
    pairs = {p["symbol"]: p for p in summary_function_pairs(py_chunks)}
    assert set(pairs) == {"money", "Item.price", "Inventory.add", "restock"}
    money = pairs["money"]
    assert money["query"] == "Format an amount of cents as a price string."
    assert money["positive"].startswith("def money(")
    assert '"""' not in money["positive"] and "return f" in money["positive"]
    java = list(TreeSitterConnector(tokenizer="whitespace").parse(SAMPLES / "Account.java"))
    pairs = {p["symbol"]: p for p in summary_function_pairs(java)}
    assert pairs["Account.deposit"]["query"] == "Deposits a positive amount."
    assert pairs["Account.deposit"]["positive"].lstrip().startswith("public void deposit(")
    assert "Account" not in pairs  # classes are not functions
