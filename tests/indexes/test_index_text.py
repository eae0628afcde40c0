"""Index text headers, the code analyzer and retrieval by name on a real library file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ragkit.connectors.code import PythonConnector
from ragkit.indexes.bm25 import BM25Index
from ragkit.indexes.index_text import TEXT_VERSION, check_text_version, header, index_text
from ragkit.indexes.manifest import IndexFormatError
from ragkit.indexes.tokenize import Analyzer
from ragkit.types import Chunk

dateutil = pytest.importorskip("dateutil")
SRC = Path(dateutil.__file__).parent


def _chunks(tmp_path: Path, name: str):
    path = tmp_path / name.replace("/", "_")
    shutil.copy(SRC / name, path)
    return list(PythonConnector(tokenizer="whitespace").parse(path, f"dateutil/{name}"))


def test_constants_are_named_chunks_and_retrievable_by_name(tmp_path):
    chunks = _chunks(tmp_path, "easter.py")
    const = [c for c in chunks if c.kind == "constant"]
    assert [c.symbol for c in const] == ["EASTER_JULIAN", "EASTER_ORTHODOX", "EASTER_WESTERN"]
    assert const[1].text == "EASTER_ORTHODOX = 2" and const[1].start_line == const[1].end_line == 11
    corpus = chunks + _chunks(tmp_path, "rrule.py") + _chunks(tmp_path, "relativedelta.py")
    index = BM25Index(split_identifiers="code")
    index.add([c.id for c in corpus], [index_text(c) for c in corpus])
    top = [h.chunk_id for h in index.search(["value of EASTER_ORTHODOX"], k=2)[0]]
    assert const[1].id in top


def test_method_found_by_class_dot_method(tmp_path):
    chunks = _chunks(tmp_path, "relativedelta.py")
    index = BM25Index(split_identifiers="code")
    index.add([c.id for c in chunks], [index_text(c) for c in chunks])
    top = index.search(["relativedelta.normalized"], k=1)[0][0]
    assert next(c for c in chunks if c.id == top.chunk_id).symbol == "relativedelta.normalized"


def test_header_keeps_text_and_continuations_repeat_signature(tmp_path):
    chunks = _chunks(tmp_path, "rrule.py")
    parts = [c for c in chunks if c.metadata.get("part", 0) > 0 and c.metadata.get("signature")]
    assert parts, "rrule.py has definitions cut into windows"
    c = parts[0]
    head, body = index_text(c).split("\n", 1)[0], index_text(c)
    assert head == f"dateutil/rrule.py · python · {c.symbol}"
    assert c.metadata["signature"] in body and body.endswith(c.text)
    assert not c.text.startswith("dateutil/")  # Chunk.text is the exact line slice


def test_plain_text_chunk_has_no_header():
    from ragkit.types import Chunk

    c = Chunk(text="Aspirin lowers fever.", source="scifact/12")
    assert index_text(c) == c.text


def test_identifier_splitting_keeps_the_original():
    a = Analyzer(split_identifiers="code")
    assert a("DEFAULT_POOLSIZE") == ["default_pools", "default", "poolsiz", "pool", "size"]
    assert a("PoolManager.urlopen")[:4] == ["poolmanager.urlopen", "poolmanag", "pool", "manag"]
    assert "pool" not in Analyzer()("DEFAULT_POOLSIZE")  # the plain analyzer does not split compounds
    with pytest.raises(ValueError, match="split_identifiers"):
        Analyzer(split_identifiers="yes")


def test_old_text_version_says_rebuild(tmp_path):
    with pytest.raises(IndexFormatError, match="--rebuild"):
        check_text_version({"n_docs": 3}, tmp_path, "dense")
    check_text_version({"text_version": TEXT_VERSION}, tmp_path, "dense")


def test_python_special_methods_are_glossed_in_the_header():
    contains = Chunk(text="def __contains__(self, item):\n    return item in self._cache", source="rrule.py",
                     kind="method", language="python", symbol="rrulebase.__contains__", start_line=1, end_line=2)
    assert header(contains) == "rrule.py · python · rrulebase.__contains__\n(membership test: item in obj)"
    plain = Chunk(text="def count(self): ...", source="rrule.py", kind="method", language="python",
                  symbol="rrulebase.count", start_line=3, end_line=3)
    assert header(plain) == "rrule.py · python · rrulebase.count"
    go = Chunk(text="func __call__() {}", source="x.go", kind="function", language="go", symbol="__call__",
               start_line=1, end_line=1)
    assert "(" not in header(go)  # the glossary is Python's data model
