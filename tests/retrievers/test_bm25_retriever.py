from __future__ import annotations

import json

import pytest

from ragkit.indexes.index import StaleIndexError
from ragkit.registry import available, build
from ragkit.retrievers.bm25 import BM25Retriever


def test_registered_and_config_round_trips(index_dir):
    assert {"bm25", "dense", "hybrid"} <= set(available("retriever"))
    retriever = build("retriever", {"type": "bm25", "index": index_dir, "k1": 1.2})
    assert isinstance(retriever, BM25Retriever)
    config = retriever.to_config()
    assert config == {"type": "bm25", "index": index_dir, "method": None, "k1": 1.2, "b": None, "filters": None}
    assert build("retriever", config).to_config() == config


def test_hits_carry_chunks_ranks_and_retriever_name(index_dir):
    hits = BM25Retriever(index_dir).retrieve(["reset the router", "warranty claim"], k=3)
    assert len(hits) == 2
    first = hits[0]
    assert [h.rank for h in first] == list(range(1, len(first) + 1))
    assert all(h.retriever == "bm25" and h.chunk is not None and h.chunk.id == h.chunk_id for h in first)
    assert "router" in first[0].chunk.text.lower()
    assert hits[1][0].chunk.symbol == "WarrantyClaim" or "warranty" in hits[1][0].chunk.text.lower()


def test_identifier_parts_match_prose_queries(index_dir):
    # ResetRouter / reset_router are split into reset + router by the analyzer
    hits = BM25Retriever(index_dir, filters={"language": ["go", "python"]}).retrieve(["reset router"], k=5)[0]
    assert {h.chunk.symbol for h in hits} == {"reset_router", "ResetRouter"}


def test_filters_restrict_hits(index_dir):
    hits = BM25Retriever(index_dir, filters={"path": "src/**/*.py"}).retrieve(["router warranty"], k=10)[0]
    assert hits and all(h.chunk.source.endswith(".py") for h in hits)
    hits = BM25Retriever(index_dir, filters={"kind": "class"}).retrieve(["router"], k=10)[0]
    assert hits == []


def test_scoring_overrides_change_scores_not_the_index(index_dir):
    default = BM25Retriever(index_dir).retrieve(["router"], k=3)[0]
    tuned = BM25Retriever(index_dir, k1=2.0, b=0.9, method="okapi").retrieve(["router"], k=3)[0]
    assert [h.score for h in default] != [h.score for h in tuned]
    assert BM25Retriever(index_dir).retrieve(["router"], k=3)[0] == default


def test_weighted_term_queries(index_dir):
    retriever = BM25Retriever(index_dir)
    terms = retriever.bm25.analyzer("router warranty")
    hits = retriever.retrieve_terms([{terms[0]: 0.1, terms[1]: 5.0}], k=1)[0]
    assert "warranty" in hits[0].chunk.text.lower()


def test_a_stale_index_is_a_clear_error(index_dir, tmp_path):
    import shutil

    copy = tmp_path / "stale"
    shutil.copytree(index_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["bm25"]["stale"] = True
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StaleIndexError, match="ragkit index"):
        BM25Retriever(str(copy)).retrieve(["router"])


def test_bad_filter_fails_at_construction(index_dir):
    with pytest.raises(ValueError, match="unknown filter key"):
        BM25Retriever(index_dir, filters={"size": "big"})
