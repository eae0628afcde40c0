"""The QA bot's feedback log (SQLite, the schema in ragkit.tuning.data) as training data."""

from __future__ import annotations

import sqlite3

import pytest

from ragkit.indexes.store import ChunkStore
from ragkit.feedback import read_feedback as read_via_owner
from ragkit.tuning.feedback import qa_pairs_from_feedback, read_feedback, rerank_examples_from_feedback
from ragkit.types import Chunk

SCHEMA = ("CREATE TABLE feedback (id INTEGER PRIMARY KEY, ts REAL, question TEXT, answer TEXT, rating INTEGER, "
          "chunk_id TEXT NULL, relevant INTEGER NULL, chunk_text TEXT NULL)")


def _db(path, rows):
    con = sqlite3.connect(path)
    con.execute(SCHEMA)
    con.executemany("INSERT INTO feedback (ts, question, answer, rating, chunk_id, relevant, chunk_text) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


def test_read_and_convert(tmp_path):
    store = ChunkStore()
    pump = Chunk(text="The pump moves water.", source="manual.pdf")
    store.add([pump])
    db = _db(tmp_path / "fb.db", [
        (3.0, "What does the pump do?", "It moves water.", 1, pump.id, 1, None),  # text from the store
        (2.0, "What does the pump do?", "It moves water.", 1, "c2", 0, "The warranty is two years."),
        (4.0, "What does the pump do?", "It moves water.", 1, "c3", 1, "Old text"),
        (5.0, "What does the pump do?", "It moves water.", 1, "c3", 0, "Old text"),  # later judgement wins
        (1.0, "Who made it?", "Nobody knows.", -1, None, None, None),
        (6.0, "Unjudged?", "x", 1, "c9", 1, None),  # text unknown: skipped for reranking
    ])
    records = read_feedback(db)
    assert [r.ts for r in records] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert read_via_owner(db) == records and records[0].rating == -1 and records[0].relevant is None

    ranking = rerank_examples_from_feedback(records, store)
    assert len(ranking) == 1
    assert ranking[0].contexts == [pump.text] and ranking[0].source == "manual.pdf"
    assert sorted(ranking[0].negatives) == ["Old text", "The warranty is two years."]

    qa = qa_pairs_from_feedback(records, store)
    assert [(p.question, p.answer) for p in qa] == [("What does the pump do?", "It moves water."), ("Unjudged?", "x")]
    assert qa[0].contexts == [pump.text] and qa[0].metadata["rating"] == 1
    assert qa_pairs_from_feedback(records, store, min_rating=-1)[0].question == "Who made it?"


def test_bad_logs_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="feedback log"):
        read_feedback(tmp_path / "none.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ValueError, match="no table 'feedback'"):
        read_feedback(other)
    partial = tmp_path / "partial.db"
    con = sqlite3.connect(partial)
    con.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY, question TEXT)")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="lacks column"):
        read_feedback(partial)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="not a SQLite database"):
        read_feedback(junk)


def test_the_log_carries_its_format_version_and_refuses_a_newer_one(tmp_path):
    import sqlite3

    from ragkit.feedback import SCHEMA_VERSION, FeedbackLog

    path = tmp_path / "fb.sqlite"
    FeedbackLog(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="newer than this ragkit"):
        read_feedback(path)
    with pytest.raises(ValueError, match="newer than this ragkit"):
        FeedbackLog(path)
