from __future__ import annotations

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ragkit.retrievers.bm25 import BM25Retriever
from ragkit.retrievers.llama_index import as_llama_index_retriever


def test_ragkit_retriever_plugs_into_llama_index(index_dir):
    ours = BM25Retriever(index_dir)
    adapter = as_llama_index_retriever(ours, k=2)
    assert isinstance(adapter, BaseRetriever)
    nodes = adapter.retrieve("reset the router")
    expected = ours.retrieve(["reset the router"], k=2)[0]
    assert [n.node.node_id for n in nodes] == [h.chunk_id for h in expected]
    assert all(isinstance(n, NodeWithScore) and isinstance(n.node, TextNode) for n in nodes)
    assert nodes[0].score == expected[0].score
    assert nodes[0].node.get_content() == expected[0].chunk.text
    assert nodes[0].node.metadata["source"] == expected[0].chunk.source
    assert nodes[0].node.metadata["retriever"] == "bm25"
    assert [n.node.node_id for n in adapter.retrieve(QueryBundle("reset the router"))] == [
        h.chunk_id for h in expected
    ]


def test_aretrieve_runs_off_the_event_loop_and_matches_retrieve(tmp_path):
    import asyncio
    import threading

    import ragkit

    index = ragkit.ingest_files(ragkit.DEMO_CORPUS / "notes", tmp_path / "idx", dense=False).directory
    bm25 = BM25Retriever(index)
    threads: list[str] = []

    class Recording:
        def retrieve(self, queries, k):
            threads.append(threading.current_thread().name)
            return bm25.retrieve(queries, k)

    adapter = as_llama_index_retriever(Recording(), k=3)
    question = "How often does the app update?"

    async def both():
        return await asyncio.gather(adapter.aretrieve(question), adapter.aretrieve(QueryBundle(question)))

    first, second = asyncio.run(both())
    expected = [n.node.node_id for n in adapter.retrieve(question)]
    assert [n.node.node_id for n in first] == [n.node.node_id for n in second] == expected and expected
    assert "every 5 minutes" in first[0].node.get_content()
    assert threads[:2] != [threading.main_thread().name] * 2 and threads[2] == threading.main_thread().name
