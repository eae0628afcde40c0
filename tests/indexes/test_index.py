"""Index directories: build, open, incremental updates, atomicity, embedder checks (real MiniLM)."""

from __future__ import annotations

import json
import shutil

import pytest

from ragkit.indexes.embed import Embedder
from ragkit.indexes.faiss_index import DenseIndex
from ragkit.indexes.index import Index, IndexMismatchError, StaleIndexError
from ragkit.indexes.manifest import IndexFormatError
from ragkit.indexes.store import ChunkStore
from ragkit.types import Chunk

TEXTS = [
    "Cats purr when they are content and relaxed.",
    "The stock market fell sharply on Monday.",
    "Python lists are mutable sequences.",
    "Rust enforces ownership and borrowing rules at compile time.",
    "Reset the router by holding the power button for ten seconds.",
    "Photosynthesis converts light into chemical energy in plants.",
]
QUERIES = ["feline happiness", "how do I reset my router", "memory safety in rust", "equities dropped"]


def _chunks(texts):
    return [Chunk(text=t, source=f"notes/{n}.md") for n, t in enumerate(texts)]


def _results(index: Index):
    emb = index.embedder()
    return (
        [[(h.chunk_id, round(h.score, 5)) for h in hits] for hits in index.bm25.search(QUERIES, k=3)],
        [[(h.chunk_id, round(h.score, 4)) for h in hits] for hits in index.dense.search(emb.encode_queries(QUERIES), k=3)],
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    directory = tmp_path_factory.mktemp("idx") / "index"
    Index.create(directory, _chunks(TEXTS), show_progress=False)
    return directory


@pytest.fixture
def index_dir(built, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(built, copy)
    return copy


def test_build_writes_both_indexes_and_manifest_sections(built):
    index = Index.open(built)
    bm25, dense = index.manifest["bm25"], index.manifest["dense"]
    assert {"engine": "ragkit", "method": "lucene", "k1": 0.9, "b": 0.4, "stemmer": "english",
            "stopwords": "en", "n_docs": 6}.items() <= bm25.items()
    assert {"embedder": "sentence-transformers/all-MiniLM-L6-v2", "dimension": 384,
            "index_type": "flat", "metric": "ip", "n_vectors": 6}.items() <= dense.items()
    assert (built / "bm25").is_dir() and (built / "dense" / "embeddings.npy").is_file()
    bm25_hits, dense_hits = _results(index)
    texts = {c.id: c.text for c in index.store}
    assert "router" in texts[bm25_hits[1][0][0]]
    assert "Cats" in texts[dense_hits[0][0][0]] and "Rust" in texts[dense_hits[2][0][0]]


def test_incremental_update_equals_a_fresh_build_and_embeds_only_new_chunks(index_dir, tmp_path, monkeypatch):
    new_texts = TEXTS[:2] + TEXTS[3:] + ["Bees pollinate flowers while collecting nectar."]
    store = ChunkStore.load(index_dir)
    store.delete([c.id for c in _chunks(TEXTS)[2:3]])
    store.add(_chunks(new_texts)[-1:])
    store.save(index_dir)

    encoded: list[str] = []
    original = Embedder.encode
    monkeypatch.setattr(Embedder, "encode", lambda self, texts: encoded.extend(texts) or original(self, texts))
    updated = Index.build(index_dir, show_progress=False)
    assert encoded == [new_texts[-1]]  # unchanged chunks cost nothing
    assert updated.manifest["bm25"]["n_docs"] == updated.manifest["dense"]["n_vectors"] == 6

    fresh = Index.create(tmp_path / "fresh", [c for c in store], show_progress=False)
    assert _results(updated) == _results(fresh)


def test_an_interrupted_build_leaves_the_previous_index_readable(index_dir, monkeypatch):
    before = _results(Index.open(index_dir))
    store = ChunkStore.load(index_dir)
    store.add(_chunks(["Volcanoes erupt molten rock called lava."]))
    store.save(index_dir)

    def fail(*args, **kwargs):
        raise KeyboardInterrupt("simulated Ctrl-C while adding vectors")

    monkeypatch.setattr(DenseIndex, "add", fail)
    with pytest.raises(KeyboardInterrupt):
        Index.build(index_dir, show_progress=False)
    reopened = Index.open(index_dir)
    assert reopened.manifest["bm25"]["n_docs"] == 6  # the bm25 part that finished was not kept either
    assert _results(reopened) == before
    assert not [p for p in index_dir.parent.iterdir() if ".tmp-" in p.name]


def test_a_different_embedder_is_a_clear_error(index_dir, tmp_path):
    other = str(tmp_path / "my-finetuned-model")
    with pytest.raises(IndexMismatchError, match="built with embedder 'sentence-transformers/all-MiniLM-L6-v2'"):
        Index.build(index_dir, embedder=other)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        Index.open(index_dir, embedder=other)
    Index.open(index_dir, embedder="minilm")  # the same model under its short name is fine


def test_changed_settings_reindex_without_re_embedding(index_dir, monkeypatch):
    monkeypatch.setattr(Embedder, "encode", lambda self, texts: pytest.fail("nothing should be embedded"))
    index = Index.build(index_dir, bm25={"k1": 1.2, "method": "okapi"}, dense={"index_type": "hnsw"})
    assert index.manifest["bm25"]["k1"] == 1.2 and index.manifest["bm25"]["method"] == "okapi"
    assert index.manifest["dense"]["index_type"] == "hnsw" and len(index.dense) == 6
    # True keeps the settings the index has
    again = Index.build(index_dir, dense=False)
    assert again.manifest["bm25"]["k1"] == 1.2 and again.manifest["dense"]["index_type"] == "hnsw"


def test_skipped_sub_index_is_marked_stale_when_chunks_changed(index_dir):
    store = ChunkStore.load(index_dir)
    store.add(_chunks(["One more note about tea."]))
    store.save(index_dir)
    index = Index.build(index_dir, dense=False)
    index.check_fresh("bm25")
    with pytest.raises(StaleIndexError, match="ragkit index"):
        index.check_fresh("dense")


def test_missing_pieces_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="ragkit ingest"):
        Index.open(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    with pytest.raises(IndexFormatError):
        Index.open(tmp_path / "bad")
    only_bm25 = Index.create(tmp_path / "b", _chunks(TEXTS[:2]), dense=False)
    assert only_bm25.has("bm25") and not only_bm25.has("dense")
    with pytest.raises(FileNotFoundError, match="no dense index"):
        only_bm25.dense
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert "dense" not in manifest
