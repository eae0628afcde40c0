from __future__ import annotations

import pytest

from ragkit.config import load_spec, save_spec

SPEC = {
    "index": "runs/demo",
    "rewriter": {"type": "rm3", "fb_docs": 10, "fb_terms": 10, "original_query_weight": 0.5},
    "retriever": {"type": "hybrid", "fusion": "rrf", "weights": [0.5, 0.5]},
    "reranker": {"type": "cross-encoder", "model": "models/reranker"},
    "generator": {"type": "llm", "llm": {"type": "transformers", "model": "smollm2-135m"}},
    "k": 10,
}


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_spec_round_trips(tmp_path, suffix):
    path = save_spec(SPEC, tmp_path / f"pipeline{suffix}")
    assert load_spec(path) == SPEC


def test_unknown_stage_is_an_error(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("retreiver: {type: bm25}\n")
    with pytest.raises(ValueError, match=r"unknown pipeline stage\(s\) \['retreiver'\]"):
        load_spec(path)


def test_component_without_type_is_an_error(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[retriever]\nk1 = 0.9\n')
    with pytest.raises(ValueError, match="'type' key"):
        load_spec(path)


def test_missing_file_and_bad_suffix(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "nope.yaml")
    (tmp_path / "p.ini").write_text("x")
    with pytest.raises(ValueError, match="use a .yaml"):
        load_spec(tmp_path / "p.ini")
