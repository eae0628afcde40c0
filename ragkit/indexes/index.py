"""An index directory: chunk store + BM25 (``bm25/``) + FAISS (``dense/``), one manifest.

``ragkit ingest`` writes the chunk store (``chunks.jsonl`` …) and ``manifest.json``;
``Index.build`` (``ragkit index DIR``) adds or updates the sub-indexes incrementally: chunks
that left the store are deleted, new chunks are indexed, and only chunks never embedded before
are embedded (the embedding cache is keyed by content-hash chunk id). The whole build runs in a
temp copy of the current generation that becomes the next generation only on success
(``ragkit.indexes.generations``), under the index's writer lock, so an interrupted build leaves
the previous index intact and a concurrent writer gets a clear error instead of a lost update.
An opened ``Index`` reads all its files from the generation that was current when it opened.

What is indexed and embedded is ``index_text(chunk)`` (a path / symbol / signature / heading
header, then ``Chunk.text``; see ``index_text``). A new BM25 index over a store with code uses
the code analyzer (``split_identifiers="code"``) unless the spec says otherwise.

Example:
    >>> index = Index.build("runs/idx")                       # doctest: +SKIP
    >>> index.bm25.search(["how are chunks stored?"], k=3)    # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.indexes.bm25 import BM25Index
from ragkit.indexes.embed import Embedder, EmbeddingCache
from ragkit.indexes.faiss_index import DenseIndex
from ragkit.indexes.generations import generation_path, new_generation, remove_stale
from ragkit.indexes.index_text import TEXT_VERSION, check_text_version, index_text
from ragkit.indexes.lock import index_lock
from ragkit.indexes.manifest import IndexFormatError, new_manifest, read_manifest, write_manifest
from ragkit.indexes.store import ChunkStore
from ragkit.indexes.tokenize import corpus_split_identifiers
from ragkit.types import Chunk

__all__ = ["Index", "IndexMismatchError", "StaleIndexError"]

BM25_DIR = "bm25"
DENSE_DIR = "dense"


class IndexMismatchError(IndexFormatError):
    """The index was built with another embedder (or settings) than the one asked for."""


class StaleIndexError(RuntimeError):
    """The chunk store changed since the sub-index was built (``ragkit ingest`` ran again)."""


class Index:
    """An opened index directory; sub-indexes load lazily on first use.

    Use ``Index.open(dir)`` to read one and ``Index.build(dir, ...)`` to (re)build one.
    """

    def __init__(
        self, directory: str | Path, manifest: dict[str, Any], store: ChunkStore, path: str | Path | None = None
    ):
        self.directory = Path(directory)
        self.path = Path(path) if path is not None else self.directory  # the generation read
        self.manifest = manifest
        self.store = store
        self._bm25: BM25Index | None = None
        self._dense: DenseIndex | None = None
        self._cache: EmbeddingCache | None = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | Path, embedder: str | None = None) -> Index:
        """Read the manifest and chunk store of ``directory``.

        Args:
            directory: an index directory (``ragkit ingest`` output).
            embedder: if given, the dense index must have been built with this model.

        Raises:
            FileNotFoundError / IndexFormatError: not a ragkit index, or an unreadable version.
            IndexMismatchError: the dense index was built with another embedder.
        """
        path = generation_path(directory)
        manifest = read_manifest(path, name=directory)
        index = cls(directory, manifest, ChunkStore.load(path), path)
        if embedder is not None:
            index.check_embedder(embedder)
        return index

    @property
    def embedder_id(self) -> str | None:
        """The model id the dense index was built with, or None without a dense index."""
        return self.manifest.get("dense", {}).get("embedder")

    def check_embedder(self, embedder: str) -> None:
        """Raise ``IndexMismatchError`` unless the dense index was built with ``embedder``."""
        from ragkit.models import model_id

        built = self.embedder_id
        wanted = model_id(embedder)
        if built is not None and built != wanted:
            raise IndexMismatchError(
                f"{self.directory}'s dense index was built with embedder {built!r}, not {wanted!r}. "
                f"Query it with embedder={built!r}, or re-embed it with "
                f"`ragkit index {self.directory} --embedder {embedder} --rebuild`."
            )

    def has(self, kind: str) -> bool:
        """True when the ``"bm25"`` or ``"dense"`` sub-index exists."""
        return kind in self.manifest and (self.path / _subdir(kind)).is_dir()

    def check_fresh(self, kind: str) -> None:
        """Raise ``StaleIndexError`` if chunks were ingested after ``kind`` was built."""
        if self.manifest.get(kind, {}).get("stale"):
            raise StaleIndexError(
                f"the {kind} index in {self.directory} predates the last `ragkit ingest`; "
                f"update it with `ragkit index {self.directory}`"
            )

    def _require(self, kind: str) -> Path:
        if not self.has(kind):
            raise FileNotFoundError(
                f"{self.directory} has no {kind} index; build it with `ragkit index {self.directory}`"
            )
        return self.path / _subdir(kind)

    @property
    def bm25(self) -> BM25Index:
        """The BM25 index (loaded on first use)."""
        if self._bm25 is None:
            path = self._require("bm25")  # a missing index says so before any version check
            check_text_version(self.manifest.get("bm25"), self.directory, "bm25")
            self._bm25 = BM25Index.load(path)
        return self._bm25

    @property
    def dense(self) -> DenseIndex:
        """The FAISS index (loaded on first use)."""
        if self._dense is None:
            path = self._require("dense")  # a missing index says so before any version check
            check_text_version(self.manifest.get("dense"), self.directory, "dense")
            self._dense = DenseIndex.load(path)
        return self._dense

    def embedder(self, batch_size: int = 64, device: str | None = None) -> Embedder:
        """An Embedder for the model the dense index was built with."""
        self._require("dense")
        return Embedder(self.embedder_id or DEFAULT_EMBEDDER, batch_size=batch_size, device=device, show_progress=False)

    def vectors(self, ids: Iterable[str]) -> np.ndarray:
        """The stored (exact) embeddings of indexed chunks, one row per id."""
        if self._cache is None:
            self._cache = EmbeddingCache.load(self._require("dense"), self.embedder_id or "")
        return self._cache.get(list(ids))

    def chunks(self, ids: Iterable[str]) -> list[Chunk]:
        """Chunks by id, from the store."""
        return self.store.get_many(ids)

    # -- building --------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        directory: str | Path,
        embedder: str = DEFAULT_EMBEDDER,
        bm25: bool | dict[str, Any] = True,
        dense: bool | dict[str, Any] = True,
        rebuild: bool = False,
        batch_size: int = 64,
        device: str | None = None,
        show_progress: bool = True,
        on_stage: Callable[[str], None] | None = None,
    ) -> Index:
        """Build or update the BM25 and dense indexes of an ingested directory.

        Args:
            directory: an index directory holding a chunk store (``ragkit ingest`` output).
            embedder: the sentence-transformers model for the dense index (``"minilm"`` …).
            bm25: ``False`` to skip, ``True`` for the existing (or default) settings, or a dict
                of ``BM25Index`` arguments (changed settings re-index BM25, which is cheap).
            dense: ``False`` to skip, ``True``, or a dict of ``DenseIndex`` arguments such as
                ``{"index_type": "hnsw"}`` (changed settings rebuild FAISS from cached vectors).
            rebuild: start both indexes from scratch and re-embed every chunk.
            batch_size, device, show_progress: embedding settings.
            on_stage: called with a short description as each stage starts (for CLIs).

        Returns:
            The opened, updated index.

        Raises:
            IndexMismatchError: the existing dense index used another embedder (pass
                ``rebuild=True`` to re-embed with the new one).
            IndexLockedError: another process is writing the index.
        """
        stage = on_stage or (lambda _msg: None)
        with index_lock(directory):
            remove_stale(directory)
            current = cls.open(directory)
            if dense and not rebuild:
                current.check_embedder(embedder)
                if current.has("dense"):  # cached vectors embed another text: re-embed on request only
                    check_text_version(current.manifest.get("dense"), directory, "dense")
            with new_generation(directory, copy_existing=True) as tmp:
                build_in(tmp, embedder, bm25, dense, rebuild, batch_size, device, show_progress, stage)
        return cls.open(directory)

    @classmethod
    def create(cls, directory: str | Path, chunks: Iterable[Chunk], **build_args: Any) -> Index:
        """Write ``chunks`` as the chunk store of a new index directory, then ``build`` it.

        For corpora that are not files on disk (benchmark datasets, tests). An existing
        directory's store is replaced (its sub-indexes are updated incrementally).
        """
        store = ChunkStore()
        store.add(chunks)
        with index_lock(directory):
            remove_stale(directory)
            with new_generation(directory, copy_existing=True) as tmp:
                manifest = read_manifest(tmp) if (tmp / "manifest.json").is_file() else new_manifest()
                manifest["counts"] = {"files": 0, "chunks": len(store), "failures": 0}
                for section in ("bm25", "dense"):  # until build below brings them up to date
                    if section in manifest:
                        manifest[section]["stale"] = True
                store.save(tmp)
                write_manifest(tmp, manifest)
        return cls.build(directory, **build_args)


def build_in(tmp: Path, embedder: str, bm25: bool | dict[str, Any], dense: bool | dict[str, Any], rebuild: bool,
             batch_size: int, device: str | None, show_progress: bool, stage: Callable[[str], None]) -> None:
    """Build the BM25 / dense indexes inside ``tmp``, a generation being written (the caller holds the lock)."""
    manifest = read_manifest(tmp)
    store = ChunkStore.load(tmp)
    if bm25:
        stage("bm25")
        manifest["bm25"] = _build_bm25(tmp, store, manifest.get("bm25"), bm25, rebuild)
    elif "bm25" in manifest:
        _mark_stale(manifest["bm25"], store)
    if dense:
        stage("dense")
        emb = Embedder(embedder, batch_size=batch_size, device=device, show_progress=show_progress)
        manifest["dense"] = _build_dense(tmp, store, manifest.get("dense"), dense, emb, rebuild)
    elif "dense" in manifest:
        _mark_stale(manifest["dense"], store)
    write_manifest(tmp, manifest)


def _subdir(kind: str) -> str:
    return {"bm25": BM25_DIR, "dense": DENSE_DIR}[kind]


def _mark_stale(section: dict[str, Any], store: ChunkStore) -> None:
    count = section.get("n_docs", section.get("n_vectors"))
    if count != len(store):
        section["stale"] = True


def _sync(index: BM25Index | DenseIndex, store: ChunkStore) -> list[Chunk]:
    """Delete what left the store from ``index``; return the chunks it still lacks."""
    index.delete([i for i in index.ids if i not in store])
    return [c for c in store if c.id not in index]


_DENSE_BUILD = ("index_type", "metric", "hnsw_m", "ef_construction", "nlist", "pq_m", "pq_bits")
_DENSE_SEARCH = ("ef_search", "nprobe")


def _build_bm25(
    tmp: Path, store: ChunkStore, old: dict[str, Any] | None, spec: bool | dict[str, Any], rebuild: bool
) -> dict[str, Any]:
    path = tmp / BM25_DIR
    same_text = bool(old) and old.get("text_version", 1) == TEXT_VERSION  # else re-index (cheap)
    existing = BM25Index.load(path) if same_text and path.is_dir() and not rebuild else None
    wanted = {**(existing.params() if existing else {}), **(spec if isinstance(spec, dict) else {})}
    if existing is None and "split_identifiers" not in wanted:
        wanted["split_identifiers"] = corpus_split_identifiers(store)  # code-aware for corpora with code
    if existing is not None and existing.params() == wanted:
        index = existing
    else:  # new settings: re-index from the store (BM25 indexing is fast)
        index = BM25Index(**wanted)
    missing = _sync(index, store)
    index.add([c.id for c in missing], [index_text(c) for c in missing])
    index.save(path)
    return {**index.config(), "text_version": TEXT_VERSION}


def _build_dense(
    tmp: Path,
    store: ChunkStore,
    old: dict[str, Any] | None,
    spec: bool | dict[str, Any],
    embedder: Embedder,
    rebuild: bool,
) -> dict[str, Any]:
    path = tmp / DENSE_DIR
    model_id = embedder.model_id
    cache = EmbeddingCache(model_id) if rebuild else EmbeddingCache.load(path, model_id)
    chunks = list(store)
    vectors = embedder.embed([c.id for c in chunks], [index_text(c) for c in chunks], cache)
    embedder.warm_up()  # the query encoder's one-time export happens here, not in the first search
    dimension = cache.dimension or embedder.dimension
    reuse = old and not rebuild and path.is_dir() and old.get("embedder") == model_id
    existing = DenseIndex.load(path) if reuse else None
    settings = {k: v for k, v in (existing.config() if existing else {}).items() if k in _DENSE_BUILD + _DENSE_SEARCH}
    settings.update(spec if isinstance(spec, dict) else {})
    if existing is not None and all(existing.config()[k] == settings[k] for k in _DENSE_BUILD):
        index = existing
        for key in _DENSE_SEARCH:
            setattr(index, key, settings[key])
    else:  # new settings: a new FAISS index from the cached vectors (no re-embedding)
        index = DenseIndex(dimension, **settings)
    missing = _sync(index, store)
    if missing:
        rows = {c.id: n for n, c in enumerate(chunks)}
        index.add([c.id for c in missing], vectors[[rows[c.id] for c in missing]])
    cache.keep([c.id for c in chunks])
    path.mkdir(parents=True, exist_ok=True)
    index.save(path)
    cache.save(path)
    return {**index.config(), "embedder": model_id, "text_version": TEXT_VERSION}
