"""QA pairs: JSONL import/export with a chunk store, content hash, splits by document."""

from __future__ import annotations

import json

import pytest

from ragkit.indexes.store import ChunkStore
from ragkit.tuning.data import QAPair, data_hash, read_qa_jsonl, split_by_document, write_qa_jsonl
from ragkit.types import Chunk


def _pairs(n_docs: int = 10, per_doc: int = 3) -> list[QAPair]:
    return [
        QAPair(question=f"question {i} about doc {d}?", answer=f"answer {i}", source=f"doc{d}.md", contexts=[f"text {d}"])
        for d in range(n_docs)
        for i in range(per_doc)
    ]


def test_jsonl_round_trip_and_fill_from_store(tmp_path):
    store = ChunkStore()
    chunk = Chunk(text="The pump moves water.", source="manual.pdf", page=3)
    store.add([chunk])
    path = tmp_path / "qa.jsonl"
    path.write_text(
        json.dumps({"question": "What does the pump do?", "answer": "Moves water.", "chunk_id": chunk.id}) + "\n\n"
        + json.dumps({"question": "Who?", "contexts": ["a", "b"], "split": "dev"}) + "\n",
        encoding="utf-8",
    )
    pairs = read_qa_jsonl(path, store=store)
    assert pairs[0].contexts == ["The pump moves water."] and pairs[0].source == "manual.pdf"
    assert pairs[0].positive == "The pump moves water."
    assert pairs[1].answer == "" and pairs[1].positive == "a" and pairs[1].metadata == {"split": "dev"}
    out = tmp_path / "out.jsonl"
    write_qa_jsonl(pairs, out)
    again = read_qa_jsonl(out)
    assert [p.to_dict() for p in again] == [p.to_dict() for p in pairs]
    assert data_hash(again) == data_hash(pairs)
    again[0].answer = "changed"
    assert data_hash(again) != data_hash(pairs)


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"answer": "x"}', "non-empty string 'question'"),
        ('{"question": "q", "anwser": "typo"}', "unknown key"),
        ('{"question": "q", "contexts": "not a list"}', "list of strings"),
        ("not json", "qa.jsonl:1"),
        ('["q"]', "JSON object"),
        ('{"question": "q", "chunk_id": "nope"}', "not in the index"),
    ],
)
def test_bad_lines_name_the_line(tmp_path, line, message):
    path = tmp_path / "qa.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_qa_jsonl(path, store=ChunkStore())


def test_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_qa_jsonl(tmp_path / "none.jsonl")


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_by_document_never_leaks_a_source(seed):
    pairs = _pairs(n_docs=12, per_doc=3) + [QAPair(question="orphan?", answer="a", chunk_id="c1")]
    splits = split_by_document(pairs, dev=0.15, test=0.2, seed=seed)
    sources = {name: {p.source or p.chunk_id for p in ps} for name, ps in splits.items()}
    assert not (sources["train"] & sources["dev"]) and not (sources["train"] & sources["test"])
    assert not (sources["dev"] & sources["test"])
    assert sum(len(ps) for ps in splits.values()) == len(pairs)
    assert splits["dev"] and splits["test"] and splits["train"]
    assert 0.1 <= len(splits["test"]) / len(pairs) <= 0.3
    assert all(p.metadata["split"] == name for name, ps in splits.items() for p in ps)


def test_split_is_deterministic_and_keeps_train_with_few_documents():
    a = split_by_document(_pairs(), seed=3)
    b = split_by_document(_pairs(), seed=3)
    assert [p.question for p in a["test"]] == [p.question for p in b["test"]]
    two = split_by_document(_pairs(n_docs=2), dev=0.3, test=0.3)
    assert two["train"], "train keeps at least one document"
    with pytest.raises(ValueError, match="fractions"):
        split_by_document(_pairs(), dev=0.6, test=0.5)
