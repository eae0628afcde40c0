from __future__ import annotations

import json

import pytest

from ragkit.types import Answer, Chunk, Citation, Hit, Query, chunk_id


def test_chunk_id_is_a_content_hash():
    a = Chunk(text="hello", source="a.md", start_line=1, end_line=1)
    b = Chunk(text="hello", source="a.md", start_line=1, end_line=1)
    assert a.id == b.id == chunk_id("a.md", "L1-1", "hello")
    assert Chunk(text="hello!", source="a.md", start_line=1, end_line=1).id != a.id
    assert Chunk(text="hello", source="b.md", start_line=1, end_line=1).id != a.id
    assert Chunk(text="hello", source="a.md", start_line=2, end_line=2).id != a.id
    assert Chunk(text="hello", source="a.pdf", page=3).span == "p3"


def test_round_trips_through_json():
    chunk = Chunk(text="def f(): pass", source="src/x.py", kind="function", language="python",
                  start_line=3, end_line=3, symbol="f", heading=["x"], metadata={"decorators": []})
    hit = Hit(chunk_id=chunk.id, score=1.5, rank=1, retriever="bm25", chunk=chunk)
    answer = Answer(question="q", text="a [1]", citations=[Citation(1, chunk.id, "src/x.py", None, 3, 3, "f")],
                    hits=[hit], timings={"retrieve": 0.1})
    assert Chunk.from_dict(json.loads(json.dumps(chunk.to_dict()))) == chunk
    assert Hit.from_dict(json.loads(json.dumps(hit.to_dict()))) == hit
    assert Answer.from_dict(json.loads(json.dumps(answer.to_dict()))) == answer
    assert Query.from_dict(Query("what?").to_dict()) == Query("what?")


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown keys.*'txt'"):
        Chunk.from_dict({"txt": "x", "source": "a"})


def test_location_is_readable():
    assert Chunk(text="x", source="a.py", start_line=1, end_line=4, symbol="f").location == "a.py:1-4 (f)"
    assert Chunk(text="x", source="m.pdf", page=2, heading=["1 Intro"]).location == "m.pdf p2 § 1 Intro"


def test_slots_reject_typos():
    chunk = Chunk(text="x", source="a")
    with pytest.raises(AttributeError):
        chunk.txt = "y"  # type: ignore[attr-defined]
