"""Ray Data ingestion and embedding: the local ingest / index path, spread over a Ray cluster.

- ``ray_ingest``: files → Ray Data (``from_items``) → ``map_batches`` with ragkit's connectors
  (the same ``connector_for`` dispatch and chunker settings as ``ragkit.ingest``, hence the same
  chunk ids) → the chunk store, written atomically.
- ``ray_embed``: chunks → an actor pool, each actor holding one ``ragkit.indexes.embed.Embedder``
  (loaded once per actor, on a GPU where the actor asks for one) → ``(chunks, vectors)`` batches
  streamed back to the driver.
- ``ray_index``: ``ray_embed`` into the local index (the embedding cache, then ``Index.build`` in
  a temp copy: an interrupted job leaves the previous index intact) or into a Milvus collection
  (batched upserts as batches arrive; deletes only after every upsert is acknowledged).

Workers read files by path: on a cluster the files must be on storage every node mounts.

Example:
    >>> ray_ingest(["docs/"], "runs/idx", workers=2)             # doctest: +SKIP
    >>> ray_index("runs/idx", workers=2)                         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np


from ragkit.indexes.generations import new_generation
from ragkit.indexes.lock import index_lock
from ragkit.indexes.embed import EmbeddingCache
from ragkit.indexes.index_text import index_text
from ragkit.indexes.manifest import MANIFEST, new_manifest, read_manifest, write_manifest
from ragkit.indexes.store import ChunkStore
from ragkit.ingest import DEFAULT_MAX_BYTES, IngestReport, walk
from ragkit.ingest.core import _source_name, _under_roots
from ragkit.ingest.walk import sha256_of as _sha256
from ragkit.types import Chunk

__all__ = ["ray_session", "ray_ingest", "ray_embed", "ray_index", "FileParser", "EmbedActor"]

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to Ray (``address="auto"``: a running cluster) or start a local one; yields ``ray``.

    A session started here is shut down on exit; an already initialised one is reused as is.

    Raises:
        ModuleNotFoundError: Ray is not installed (``pip install 'ragkit[ray]'``).
        ConnectionError: no cluster answers at ``address``.
    """
    try:
        import ray
    except ModuleNotFoundError:
        raise ModuleNotFoundError("--engine ray needs Ray: pip install 'ragkit[ray]'", name="ray") from None
    if ray.is_initialized():
        yield ray
        return
    try:
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, logging_level="warning")
    except ConnectionError as exc:
        raise ConnectionError(f"no Ray cluster at {address!r} ({exc}); start one with `ray start --head`, "
                              f"or leave --address out for a local Ray") from None
    try:
        yield ray
    finally:
        ray.shutdown()


class FileParser:
    """Ray Data UDF: a batch of ``{path, source, sha256}`` rows → one row per file, chunks as JSON."""

    def __init__(self, chunker: dict[str, Any]):
        self.chunker = chunker
        self._connectors: dict[str, object] = {}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        from ragkit.connectors.base import ConnectorWarning, ParseError
        from ragkit.connectors.dispatch import connector_for

        out: dict[str, list[str]] = {"source": [], "sha256": [], "chunks": [], "error": [], "warnings": []}
        for path, source, digest in zip(batch["path"], batch["source"], batch["sha256"]):
            chunks, error = [], ""
            connector = connector_for(Path(path), self.chunker, self._connectors)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConnectorWarning)
                try:
                    chunks = [c.to_dict() for c in connector.parse(Path(path), str(source))]
                except ParseError as exc:
                    error = str(exc)
            msgs = [str(w.message) for w in caught if issubclass(w.category, ConnectorWarning)]
            for key, value in (("source", str(source)), ("sha256", str(digest)), ("chunks", json.dumps(chunks)),
                               ("error", error), ("warnings", json.dumps(msgs))):
                out[key].append(value)
        return out


class EmbedActor:
    """Ray Data actor UDF: holds one ``Embedder``; a batch of ``{id, text}`` gains a ``vector`` column."""

    def __init__(self, model: str, batch_size: int = 64, device: str | None = None, precision: str = "fp32"):
        from ragkit.indexes.embed import Embedder

        self.embedder = Embedder(model, batch_size=batch_size, device=device, show_progress=False, precision=precision)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.encode([str(t) for t in batch["text"]])
        return {"id": batch["id"], "vector": vectors}


def ray_ingest(
    paths: Sequence[str | Path],
    out: str | Path,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
    tokenizer: str = "minilm",
    max_bytes: int = DEFAULT_MAX_BYTES,
    workers: int = 2,
    address: str | None = None,
    on_progress: Progress | None = None,
) -> IngestReport:
    """``ragkit.ingest.ingest`` with the parsing done by Ray workers (same chunks, same ids).

    Args:
        paths, out, max_tokens, overlap_tokens, tokenizer, max_bytes: as for ``ragkit.ingest.ingest``.
        workers: parallel parse tasks.
        address: a Ray cluster (``"auto"``); ``None`` starts a local Ray with ``workers`` CPUs.
        on_progress: called as ``("parse", files_done, files_total)``.

    Raises:
        FileNotFoundError: a path does not exist (nothing is written).
    """
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise FileNotFoundError(f"cannot ingest {missing}: no such file or directory")
    out = Path(out)
    chunker = {"max_tokens": max_tokens, "overlap_tokens": overlap_tokens, "tokenizer": tokenizer}
    manifest = read_manifest(out) if (out / MANIFEST).is_file() else new_manifest()
    store = ChunkStore.load(out) if out.is_dir() else ChunkStore()
    rechunk = manifest.get("chunker") not in (None, chunker)
    report = IngestReport(out=str(out))
    files: list[tuple[Path, str]] = []
    for root in roots:
        prefix = "" if len(roots) == 1 else f"{root.resolve().name}/"
        files.extend((path, _source_name(path, root, prefix)) for path in walk(root, max_bytes, report.skipped))
    report.files_seen = len(files)
    todo = []
    for path, source in files:
        digest = _sha256(path)
        if not rechunk and store.source_unchanged(source, digest):
            report.unchanged.append(source)
        else:
            todo.append({"path": str(path.resolve()), "source": source, "sha256": digest})
    parsed: dict[str, dict[str, Any]] = {}
    if todo:
        with ray_session(address, num_cpus=workers) as ray:
            ds = ray.data.from_items(todo, override_num_blocks=min(len(todo), 4 * workers))
            ds = ds.map_batches(FileParser, fn_constructor_kwargs={"chunker": chunker}, batch_size=4,
                                concurrency=workers, num_cpus=1, batch_format="numpy")
            for row in ds.iter_rows():
                parsed[row["source"]] = row
                if on_progress is not None:
                    on_progress("parse", len(parsed), len(todo))
    for item in todo:  # the walk's order, so the store is written as the local path writes it
        row = parsed[item["source"]]
        source = item["source"]
        if json.loads(row["warnings"]):
            report.warnings[source] = json.loads(row["warnings"])
        if row["error"]:
            store.failures[source] = report.failed[source] = row["error"]
            continue
        chunks = [Chunk.from_dict(c) for c in json.loads(row["chunks"])]
        added, removed = store.replace_source(source, row["sha256"], chunks)
        report.parsed.append(source)
        report.chunks_added += len(added)
        report.chunks_removed += len(removed)
    present = {source for _, source in files}
    for source in list(store.sources):
        if source not in present and _under_roots(source, roots):
            report.chunks_removed += len(store.remove_source(source))
            report.removed.append(source)
    report.chunks_total = len(store)
    manifest["chunker"] = chunker
    manifest["counts"] = {"files": len(store.sources), "chunks": len(store), "failures": len(store.failures)}
    if report.chunks_added or report.chunks_removed:
        for section in ("bm25", "dense"):
            if section in manifest:
                manifest[section]["stale"] = True
    with index_lock(out), new_generation(out) as tmp:  # the local path's lock and atomic switch
        store.save(tmp)
        write_manifest(tmp, manifest)
    return report


def ray_embed(
    ray: Any,
    chunks: Sequence[Chunk],
    model: str = "minilm",
    workers: int = 2,
    batch_size: int = 64,
    device: str | None = None,
    gpus_per_worker: float = 0.0,
) -> Iterator[tuple[list[Chunk], np.ndarray]]:
    """Embed chunks on an actor pool of ``workers`` Embedders; yields ``(chunks, vectors)`` batches.

    Vectors are ``Embedder.encode``'s (unit length), so they equal the local path's.
    """
    if not chunks:
        return
    by_id = {c.id: c for c in chunks}
    items = [{"id": c.id, "text": index_text(c)} for c in chunks]  # what the local dense index embeds
    blocks = min(len(items), max(workers, -(-len(items) // batch_size)), 8 * workers)  # every actor gets work
    ds = ray.data.from_items(items, override_num_blocks=max(1, blocks))
    ds = ds.map_batches(
        EmbedActor, fn_constructor_kwargs={"model": model, "batch_size": batch_size, "device": device},
        batch_size=batch_size, concurrency=workers, num_cpus=0 if gpus_per_worker else 1,
        num_gpus=gpus_per_worker or None, batch_format="numpy",
    )
    for batch in ds.iter_batches(batch_size=4 * batch_size, batch_format="numpy"):
        yield [by_id[str(i)] for i in batch["id"]], np.asarray(batch["vector"], dtype=np.float32)


def ray_index(
    directory: str | Path,
    embedder: str = "minilm",
    workers: int = 2,
    address: str | None = None,
    batch_size: int = 64,
    device: str | None = None,
    gpus_per_worker: float = 0.0,
    rebuild: bool = False,
    milvus: dict[str, Any] | None = None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Embed an ingested directory's chunks on Ray and index them locally or in Milvus.

    Args:
        directory: an index directory (``ragkit ingest`` output).
        embedder: the embedding model (as for ``Index.build``).
        workers: embedding actors (each holds one model; ``gpus_per_worker`` to place them on GPUs).
        address: a Ray cluster (``"auto"``), or ``None`` for a local Ray with ``workers`` CPUs.
        rebuild: re-embed every chunk.
        milvus: ``MilvusIndex`` arguments (``{"uri": ..., "collection": ...}``): write there instead
            of into the directory's BM25 / FAISS indexes.
        on_progress: called as ``("embed", chunks_done, chunks_total)``.

    Returns:
        ``{"embedded": n, "target": ..., ...}`` (Milvus: ``sync``'s counts).

    Raises:
        IndexMismatchError: the existing index or collection used another embedder (local:
            pass ``rebuild=True``; Milvus: use a new collection).
    """
    from ragkit.indexes.embed import Embedder
    from ragkit.indexes.index import Index, build_in

    progress = on_progress or (lambda *_: None)
    store = ChunkStore.load(directory)
    read_manifest(directory)  # a clear error when it is not an index directory
    probe = Embedder(embedder, show_progress=False)
    if milvus is not None:
        from ragkit.indexes.milvus import MilvusIndex

        target = MilvusIndex(**milvus)
        if rebuild:
            target.drop()
        with ray_session(address, num_cpus=workers) as ray:
            counts = target.sync(
                store, lambda todo: ray_embed(ray, todo, embedder, workers, batch_size, device, gpus_per_worker),
                model_id=probe.model_id, dimension=probe.dimension,
                on_progress=lambda done, total: progress("embed", done, total),
            )
        return {"target": f"{target.uri}/{target.collection}", "embedded": counts["upserted"], **counts}
    if not rebuild:
        Index.open(directory).check_embedder(embedder)
    with index_lock(directory), new_generation(directory, copy_existing=True) as tmp:
        cache = EmbeddingCache(probe.model_id) if rebuild else EmbeddingCache.load(tmp / "dense", probe.model_id)
        todo = [c for c in store if c.id not in cache]
        done = 0
        if todo:
            with ray_session(address, num_cpus=workers) as ray:
                for part, vectors in ray_embed(ray, todo, embedder, workers, batch_size, device, gpus_per_worker):
                    cache.put([c.id for c in part], vectors)
                    done += len(part)
                    progress("embed", done, len(todo))
        if rebuild:  # start the sub-indexes over; the cache just written holds every vector
            manifest = read_manifest(tmp)
            for kind in ("bm25", "dense"):
                manifest.pop(kind, None)
                if (tmp / kind).is_dir():
                    shutil.rmtree(tmp / kind)
            write_manifest(tmp, manifest)
        cache.save(tmp / "dense")
        build_in(tmp, embedder, True, True, False, batch_size, device, False, lambda _: None)
    return {"target": str(directory), "embedded": done, "total": len(store)}
