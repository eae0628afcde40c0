"""Every kind of ragkit reranker as a llama-index node postprocessor, on the BM25-indexed demo corpus."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

import ragkit
from ragkit.registry import build
from ragkit.rerankers.llama_index import RagkitNodePostprocessor, as_llama_index_postprocessor
from ragkit.retrievers.bm25 import BM25Retriever
from ragkit.retrievers.llama_index import as_llama_index_retriever

QUESTION = "How often does the Helios Monitor app update?"
FAKE_JUDGE = {"type": "llm", "llm": {"type": "fake", "responses": {"every 5 minutes": "Yes"}, "default": "No"}}


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(ragkit.ingest_files(ragkit.DEMO_CORPUS, tmp_path_factory.mktemp("li-post") / "idx", dense=False).directory)


def _nodes(index: str, k: int = 6) -> list[NodeWithScore]:
    return as_llama_index_retriever(BM25Retriever(index), k=k).retrieve(QUESTION)


def _direct(index: str, reranker: dict | str, k: int) -> list:
    """The same reranking without llama-index: ragkit hits straight into the reranker."""
    hits = BM25Retriever(index).retrieve([QUESTION], k=6)
    return build("reranker", reranker).rerank([QUESTION], hits, k)[0]


@pytest.mark.parametrize("config", [
    "reorder",
    FAKE_JUDGE,
    {"type": "chain", "rerankers": [FAKE_JUDGE, "reorder"]},
], ids=["reorder", "llm", "chain"])
def test_postprocessor_matches_the_ragkit_reranker(demo_index: str, config) -> None:
    post = as_llama_index_postprocessor(config, top_n=4)
    assert isinstance(post, BaseNodePostprocessor)
    nodes = _nodes(demo_index)
    out = post.postprocess_nodes(nodes, query_str=QUESTION)
    expected = _direct(demo_index, config, 4)
    assert [n.node.node_id for n in out] == [h.chunk_id for h in expected]
    assert [n.score for n in out] == pytest.approx([h.score for h in expected])
    originals = {id(n.node) for n in nodes}
    assert all(id(n.node) in originals for n in out)  # the caller's nodes, metadata and all


def test_llm_judge_moves_the_answering_chunk_first(demo_index: str) -> None:
    nodes = _nodes(demo_index)
    first = [n.node.node_id for n in nodes]
    faq = next(n for n in nodes if "every 5 minutes" in n.node.get_content())
    out = RagkitNodePostprocessor(FAKE_JUDGE, top_n=3).postprocess_nodes(nodes, QueryBundle(QUESTION))
    assert out[0].node.node_id == faq.node.node_id and out[0].score == 1.0
    rest = [n.node.node_id for n in out[1:]]
    assert rest == [i for i in first if i != faq.node.node_id][:2]  # the no's keep the first-stage order
    assert out[0].node.metadata["source"] == "notes/faq.md"


def test_foreign_llama_index_nodes_are_reranked() -> None:
    nodes = [NodeWithScore(node=TextNode(id_=f"n{i}", text=t, metadata={"file_path": f"/data/{i}.txt"}), score=s)
             for i, (t, s) in enumerate([("lava rock", 0.2), ("the app updates every 5 minutes", None), ("tea", 0.9)])]
    out = as_llama_index_postprocessor(FAKE_JUDGE, top_n=2).postprocess_nodes(nodes, query_str=QUESTION)
    assert [n.node.node_id for n in out] == ["n1", "n0"]
    assert as_llama_index_postprocessor("reorder", top_n=3).postprocess_nodes([], query_str=QUESTION) == []


def test_postprocessor_needs_the_query_and_keeps_its_config() -> None:
    post = RagkitNodePostprocessor("reorder", top_n=2)
    assert post.reranker_config == {"type": "reorder"} and post.top_n == 2
    with pytest.raises(ValueError, match="needs the query"):
        post.postprocess_nodes([NodeWithScore(node=TextNode(text="x"), score=1.0)])
    with pytest.raises(KeyError, match="no reranker named 'nope'"):
        RagkitNodePostprocessor("nope")


def test_in_a_llama_index_query_engine_sync_and_async(demo_index: str) -> None:
    from llama_index.core.llms.mock import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    retriever = as_llama_index_retriever(BM25Retriever(demo_index), k=6)
    engine = RetrieverQueryEngine.from_args(
        retriever, llm=MockLLM(max_tokens=8), node_postprocessors=[as_llama_index_postprocessor(FAKE_JUDGE, top_n=2)])
    expected = [h.chunk_id for h in _direct(demo_index, FAKE_JUDGE, 2)]
    assert [n.node.node_id for n in engine.query(QUESTION).source_nodes] == expected
    assert [n.node.node_id for n in asyncio.run(engine.aquery(QUESTION)).source_nodes] == expected


@pytest.mark.slow
def test_cross_encoder_postprocessor_scores_like_the_reranker(demo_index: str, tiny_cross_encoder: str) -> None:
    config = {"type": "cross-encoder", "model": tiny_cross_encoder, "device": "cpu", "precision": "fp32", "max_length": 64,
              "first_stage_weight": 0.3}
    out = as_llama_index_postprocessor(config, top_n=3).postprocess_nodes(_nodes(demo_index), query_str=QUESTION)
    expected = _direct(demo_index, config, 3)
    assert [n.node.node_id for n in out] == [h.chunk_id for h in expected]
    assert [n.score for n in out] == pytest.approx([h.score for h in expected], rel=1e-5)
