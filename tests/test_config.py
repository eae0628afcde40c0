from __future__ import annotations

import pytest

from ragkit.config import load_spec, overlay, parse_component, save_spec
from ragkit.registry import build

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


def test_parse_component_name_arg_and_key_values():
    assert parse_component("rewriter", "rm3") == {"type": "rm3"}
    assert parse_component("rewriter", "rm3:fb_docs=5, fb_terms=20,original_query_weight=0.7") == {
        "type": "rm3", "fb_docs": 5, "fb_terms": 20, "original_query_weight": 0.7}
    assert parse_component("reranker", "cross-encoder:runs/my ce") == {"type": "cross-encoder", "model": "runs/my ce"}
    assert parse_component("rewriter", "hyde:smollm2-135m") == {
        "type": "hyde", "llm": {"type": "transformers", "model": "smollm2-135m"}}
    assert parse_component("reranker", "llm:method=query-likelihood") == {"type": "llm", "method": "query-likelihood"}
    assert build("rewriter", parse_component("rewriter", "rm3:fb_docs=5")).fb_docs == 5
    # NAME:ARG,key=value: the main argument and settings together (it used to become {ARG: None})
    assert parse_component("rewriter", "lol:runs/prf,fb_docs=5") == {"type": "lol", "model": "runs/prf", "fb_docs": 5}


def test_parse_component_errors_say_what_to_do():
    with pytest.raises(KeyError, match="available: .*rm3"):
        parse_component("rewriter", "rm4")
    with pytest.raises(ValueError, match="rm3:key=value"):
        parse_component("rewriter", "rm3:10")
    with pytest.raises(ValueError, match="key=value"):
        parse_component("rewriter", "rm3:=3")
    with pytest.raises(ValueError, match="key=value"):  # a bare item after a key=value is not silently kept
        parse_component("rewriter", "rm3:fb_docs=5,10")


def test_parse_component_llm_forms():
    assert parse_component("llm", "smollm2-135m") == {"type": "transformers", "model": "smollm2-135m"}
    assert parse_component("llm", "fake") == {"type": "fake"}
    assert parse_component("llm", '{"type": "openai", "model": "m"}') == {"type": "openai", "model": "m"}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_component("llm", "{nope")


def test_overlay_merges_stages_and_removes_with_none():
    base = {"retriever": "hybrid", "reranker": {"type": "cross-encoder", "model": "a"}, "k": 4}
    assert overlay(base, {"retriever": {"fusion": "weighted"}, "reranker": None, "k": 2}) == {
        "retriever": {"type": "hybrid", "fusion": "weighted"}, "k": 2}
    assert overlay(base, {"reranker": {"type": "reorder"}})["reranker"] == {"type": "reorder"}  # new type: new table
    assert overlay(base, {"reranker": {"model": "b"}})["reranker"] == {"type": "cross-encoder", "model": "b"}
    assert base["retriever"] == "hybrid"  # the base is not modified
