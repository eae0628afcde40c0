"""MilvusIndex against a real milvus-lite gRPC server on loopback: sync, upsert/delete, restart, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ragkit.indexes.embed import Embedder
from ragkit.indexes.index import IndexMismatchError
from ragkit.indexes.index_text import index_text
from ragkit.indexes.milvus import (
    MilvusIndex,
    MilvusUnavailableError,
    MissingCollectionError,
    chunk_from_row,
    content_hash,
)
from ragkit.indexes.milvus_server import LiteServer, free_port
from ragkit.types import Chunk

pytestmark = pytest.mark.integration

DIM = 8
MODEL = "test/hash-embedder"


def _vector(text: str) -> np.ndarray:
    rng = np.random.default_rng(abs(hash(text)) % (2**32))
    v = rng.normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


class CountingEmbedder:
    """A deterministic stand-in for Embedder (sync accepts anything with encode/model_id/dimension)."""

    model_id, dimension = MODEL, DIM

    def __init__(self):
        self.texts: list[str] = []

    def encode(self, texts):
        self.texts.extend(texts)
        return np.stack([_vector(t) for t in texts])


def corpus(n: int = 30) -> list[Chunk]:
    words = ["solar", "inverter", "battery", "warranty", "voltage", "python", "parser", "index"]
    return [
        Chunk(text=f"chunk {i} about {words[i % 8]} and {words[(i * 3) % 8]}", source=f"docs/f{i % 5}.md",
              kind="text", start_line=i + 1, end_line=i + 2, heading=[f"H{i % 3}"], metadata={"n": i})
        for i in range(n)
    ]


@pytest.fixture
def index(milvus_server, request):
    idx = MilvusIndex(milvus_server.uri, request.node.name.replace("[", "_").replace("]", "_")[:60])
    idx.drop()
    yield idx
    idx.drop()


def test_sync_stores_chunks_with_provenance_and_vectors(index):
    chunks, emb = corpus(), CountingEmbedder()
    assert index.sync(chunks, emb) == {"upserted": 30, "deleted": 0, "unchanged": 0, "total": 30}
    rows = index.get([c.id for c in chunks], vectors=True)
    assert [chunk_from_row(r) for r in rows] == chunks  # every field round-trips
    np.testing.assert_allclose(np.array([r["dense"] for r in rows]), emb.encode([index_text(c) for c in chunks]), atol=1e-6)
    assert index.info()["embedder"] == MODEL and index.info()["dimension"] == DIM


def test_resync_embeds_only_new_or_changed_chunks_and_deletes_the_rest(index):
    chunks = corpus()
    index.sync(chunks, CountingEmbedder())
    changed = dataclasses.replace(chunks[0], metadata={"n": 0, "edited": True})  # same id, new content
    assert changed.id == chunks[0].id and content_hash(changed) != content_hash(chunks[0])
    new = Chunk(text="a brand new chunk about batteries", source="docs/new.md")
    emb = CountingEmbedder()
    counts = index.sync([changed, *chunks[1:25], new], emb)
    assert counts == {"upserted": 2, "deleted": 5, "unchanged": 24, "total": 26}
    assert sorted(emb.texts) == sorted([index_text(changed), index_text(new)])
    assert set(index.hashes()) == {c.id for c in [changed, *chunks[1:25], new]}
    assert chunk_from_row(index.get([changed.id])[0]).metadata == {"n": 0, "edited": True}
    assert index.sync([changed, *chunks[1:25], new], CountingEmbedder())["upserted"] == 0  # a no-op


def test_upsert_and_delete_by_chunk_id(index):
    chunks = corpus(6)
    index.create(MODEL, DIM)
    assert index.upsert(chunks, np.stack([_vector(c.text) for c in chunks])) == 6
    assert index.upsert(chunks[:2], np.stack([_vector(c.text) for c in chunks[:2]])) == 2  # idempotent
    assert index.count() == 6
    index.delete([chunks[0].id, chunks[5].id])
    assert set(index.hashes()) == {c.id for c in chunks[1:5]}
    with pytest.raises(ValueError, match="2 chunks but 1 vectors"):
        index.upsert(chunks[:2], np.stack([_vector("x")]))


def test_a_killed_server_loses_nothing_acknowledged(tmp_path):
    server = LiteServer(tmp_path / "data").start()
    try:
        chunks = corpus(40)
        index = MilvusIndex(server.uri, "restart")
        index.sync(chunks[:20], CountingEmbedder())  # acknowledged
        server.stop(kill=True)  # SIGKILL mid-way, as a crash would
        with pytest.raises(MilvusUnavailableError, match=r"^cannot .* Milvus at http://127\.0\.0\.1:\d+"):
            index.sync(chunks, CountingEmbedder())
        server.start()
        index.wait_ready()
        assert set(MilvusIndex(server.uri, "restart").hashes()) == {c.id for c in chunks[:20]}
        emb = CountingEmbedder()
        counts = index.sync(chunks, emb)  # resumes: only what was never acknowledged is embedded
        assert counts == {"upserted": 20, "deleted": 0, "unchanged": 20, "total": 40}
        assert sorted(emb.texts) == sorted(index_text(c) for c in chunks[20:])
        server.restart(kill=True)
        index.wait_ready()
        assert set(MilvusIndex(server.uri, "restart").hashes()) == {c.id for c in chunks}
    finally:
        server.stop()


def test_errors_are_one_clear_line(milvus_server, index):
    with pytest.raises(MilvusUnavailableError, match="cannot connect to Milvus at .*; start it") as refused:
        MilvusIndex(f"http://127.0.0.1:{free_port()}", "docs", timeout=3).exists()
    assert "\n" not in str(refused.value)
    with pytest.raises(MissingCollectionError, match="has no collection 'nope'; index into it with `ragkit index"):
        MilvusIndex(milvus_server.uri, "nope").info()
    index.create(MODEL, DIM)
    with pytest.raises(IndexMismatchError, match="holds 8-d vectors but embedder .* makes 384-d"):
        index.check_embedder(MODEL, 384)
    with pytest.raises(IndexMismatchError, match="holds vectors of embedder 'test/hash-embedder', not 'other'"):
        index.sync(corpus(2), CountingEmbedder(), model_id="other", dimension=DIM)


@pytest.mark.slow
def test_vectors_equal_the_local_embedder(index):
    chunks = corpus(10)
    emb = Embedder("minilm", show_progress=False)
    index.sync(chunks, emb)
    rows = index.get([c.id for c in chunks], vectors=True)
    np.testing.assert_allclose(np.array([r["dense"] for r in rows]), emb.encode([index_text(c) for c in chunks]), atol=1e-5)


def test_idle_clients_do_not_ping_the_server_into_a_goaway(milvus_server):
    # pymilvus' default (a ping every 10 s, also with no call in flight) made milvus-lite answer
    # GOAWAY "too_many_pings" after ~2.5 idle minutes, and a client created at that moment failed
    # (CI, between test modules). The keepalive options must reach the gRPC channel.
    handler = MilvusIndex(milvus_server.uri, "keepalive").client._get_connection()
    options = handler._grpc_options
    assert options["grpc.keepalive_permit_without_calls"] is False
    assert options["grpc.keepalive_time_ms"] >= 300_000  # gRPC C++ servers' minimum ping interval without data


def test_bm25_over_ragkit_terms_scores_as_the_local_index(milvus_server, tmp_path):
    """The demo corpus (PDF, Markdown, code): Milvus BM25 on ragkit's terms ranks and scores like local BM25."""
    from ragkit.defaults import DEMO_CORPUS
    from ragkit.indexes.index import Index
    from ragkit.ingest import ingest
    from ragkit.retrievers.bm25 import BM25Retriever
    from ragkit.retrievers.milvus import MilvusBM25Retriever

    directory = tmp_path / "idx"
    ingest([DEMO_CORPUS], directory)
    local = Index.build(directory, dense=False, show_progress=False)
    target = MilvusIndex(milvus_server.uri, "terms_vs_local")
    target.drop()
    chunks = list(local.store)
    target.sync(chunks, CountingEmbedder())
    info = target.info()
    assert info["ragkit_terms"]["split_identifiers"] == "code" and info["ragkit_terms"]["stemmer"] == "english"
    assert local.manifest["bm25"]["split_identifiers"] == "code"
    questions = ["How long is the standard warranty period?", "Which port does the Modbus TCP server use?",
                 "DEFAULT_POOLSIZE connection pool", "How are alerts sent when the battery voltage drops?",
                 "registers of the inverter", "What does send_alert do?"]
    ours = BM25Retriever(str(directory)).retrieve(questions, k=5)
    theirs = MilvusBM25Retriever(milvus_server.uri, "terms_vs_local").retrieve(questions, k=5)
    # Same terms, same k1/b: the rankings agree up to near-ties (Milvus keeps the (k1 + 1) factor and its
    # own length statistics, so its scores are ~2x ragkit's and close scores can swap)
    for q, a, b in zip(questions, ours, theirs):
        assert len({h.chunk_id for h in a} & {h.chunk_id for h in b}) >= min(4, len(a)), q
    assert sum(a[0].chunk_id == b[0].chunk_id for a, b in zip(ours, theirs)) >= len(questions) - 1
    raw = MilvusIndex(milvus_server.uri, "raw_text", terms="milvus")
    raw.drop()
    raw.sync(chunks, CountingEmbedder())
    assert raw.info()["ragkit_terms"] is None and raw.bm25_query("Running pumps") == "Running pumps"
    assert target.bm25_query("Running pumps os.path") == "run pump os_dot_path os path"
