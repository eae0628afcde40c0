"""Retrievers over a Milvus collection: ``milvus-bm25``, ``milvus-dense``, ``milvus-hybrid``.

They take the place of ``bm25`` / ``dense`` / ``hybrid`` anywhere a retriever is configured
(``ragkit search`` / ``ask`` / ``serve`` / ``eval-retrieval`` specs): only the URI and the
collection name change, e.g. ``retriever: {type: milvus-hybrid, uri: http://127.0.0.1:19530,
collection: docs}``. Each hit's ``Chunk`` comes from the collection itself, so no local chunk
store is needed to answer.

Milvus' BM25 is built in (a sparse field Milvus fills from ragkit's terms of each chunk, or from
its raw text: ``MilvusIndex(terms=...)``; queries are analysed the same way, by
``MilvusIndex.bm25_query``); milvus-lite reports its score as
a negative "distance" while a Milvus cluster reports it positive, so scores are taken as
``abs(distance)`` (BM25 scores are never negative). Hybrid search runs server side
(``hybrid_search`` with ``RRFRanker`` or ``WeightedRanker``).

References: Robertson & Zaragoza 2009 (BM25); Cormack et al. 2009 (RRF).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ragkit.defaults import RRF_K
from ragkit.indexes.milvus import CHUNK_FIELDS, MilvusIndex, chunk_from_row
from ragkit.registry import Component, register
from ragkit.retrievers.filters import compile_filters, glob_regex
from ragkit.types import Hit

__all__ = ["MilvusBM25Retriever", "MilvusDenseRetriever", "MilvusHybridRetriever", "milvus_filter"]

FUSIONS = ("rrf", "weighted")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def milvus_filter(filters: dict[str, Any] | None) -> str:
    """A Milvus boolean expression for a ragkit filter spec (path globs become ``like`` prefilters).

    ``like`` lets ``%`` cross ``/``, so path hits are checked again against the exact glob.
    """
    if not filters:
        return ""
    compile_filters(filters)  # same validation (keys, value types) as the local retrievers
    parts = []
    for key, field in (("language", "language"), ("kind", "kind")):
        if key in filters:
            values = [filters[key]] if isinstance(filters[key], str) else filters[key]
            parts.append(f"{field} in [{', '.join(_quoted(v) for v in values)}]")
    if "path" in filters:
        globs = [filters["path"]] if isinstance(filters["path"], str) else filters["path"]
        likes = [f"source like {_quoted(g.replace('**', '%').replace('*', '%').replace('?', '_'))}" for g in globs]
        parts.append("(" + " or ".join(likes) + ")")
    return " and ".join(parts)


class _MilvusRetriever(Component):
    """Shared plumbing: the collection, its checked embedder, filters, and hit conversion."""

    uri: str
    collection: str
    token: str | None
    filters: dict[str, Any] | None
    timeout: float

    def _index(self) -> MilvusIndex:
        index = self.__dict__.get("_milvus")
        if index is None:
            index = MilvusIndex(self.uri, self.collection, token=self.token, timeout=self.timeout)
            index.info()  # a missing collection is an error now, not an empty result
            index.ensure_loaded()
            self._milvus = index
        return index

    def _expr(self) -> str:
        return milvus_filter(self.filters)

    def _hits(self, results: Any, name: str, k: int) -> list[list[Hit]]:
        paths = self.filters.get("path") if self.filters else None
        globs = [glob_regex(g) for g in ([paths] if isinstance(paths, str) else paths or [])]
        runs = []
        for result in results:
            hits = []
            for entry in result:
                row = {**entry["entity"], "id": entry["id"]}
                chunk = chunk_from_row(row)
                if globs and not any(g.match(chunk.source) for g in globs):
                    continue
                hits.append(Hit(chunk_id=chunk.id, score=abs(float(entry["distance"])), rank=len(hits) + 1,
                                retriever=name, chunk=chunk))
            runs.append(hits[:k])
        return runs


class _DenseMixin(_MilvusRetriever):
    embedder: str | None
    batch_size: int
    device: str | None

    def _encoder(self) -> Any:
        encoder = self.__dict__.get("_embedder")
        if encoder is None:
            from ragkit.indexes.embed import Embedder
            from ragkit.models import model_id

            info = self._index().info()
            built = info["embedder"]
            if self.embedder is not None:
                self._index().check_embedder(model_id(self.embedder))
            encoder = Embedder(built, batch_size=self.batch_size, device=self.device, show_progress=False)
            self._index().check_embedder(built, encoder.dimension)
            self._embedder = encoder
        return encoder

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        """Query vectors from the collection's embedder (``VectorSearch``)."""
        return self._encoder().encode_queries(queries)

    def document_vectors(self, chunk_ids: list[str]) -> np.ndarray:
        """The stored vectors of these chunks, one row each (``VectorSearch``).

        Raises:
            KeyError: a chunk id that is not in the collection.
        """
        rows = {r["id"]: r for r in self._index().get(chunk_ids, vectors=True)}
        missing = [i for i in chunk_ids if i not in rows]
        if missing:
            raise KeyError(f"chunk(s) {missing[:3]} are not in collection {self.collection!r}")
        return np.asarray([rows[i]["dense"] for i in chunk_ids], dtype=np.float32)


@register("retriever", "milvus-bm25")
class MilvusBM25Retriever(_MilvusRetriever):
    """BM25 over the collection's built-in sparse field (the query analysed as the collection's terms).

    Args:
        uri: the Milvus server, e.g. ``http://127.0.0.1:19530``.
        collection: the collection (written by ``ragkit index DIR --milvus-uri URI``).
        token: credentials, for servers that need them.
        filters: metadata filters, as for ``bm25`` (``path`` / ``language`` / ``kind``).
        timeout: seconds per request.
    """

    def __init__(self, uri: str, collection: str, token: str | None = None,
                 filters: dict[str, Any] | None = None, timeout: float = 30.0):
        self.uri, self.collection, self.token, self.filters, self.timeout = uri, collection, token, filters, timeout
        milvus_filter(filters)

    def warm_up(self) -> None:
        """Connect and check the collection now."""
        self._index()

    def retrieve(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        """Top-``k`` chunks per query by BM25; ``Hit.chunk`` filled, ranks 1-based."""
        index = self._index()
        with index.errors("search"):
            results = index.client.search(
                self.collection, data=[index.bm25_query(q) for q in queries], anns_field="sparse", limit=k,
                filter=self._expr(),
                output_fields=CHUNK_FIELDS, search_params={"metric_type": "BM25"},
            )
        return self._hits(results, "milvus-bm25", k)


@register("retriever", "milvus-dense")
class MilvusDenseRetriever(_DenseMixin):
    """Embedding search over the collection's dense field (``VectorSearch``: Rocchio / HyDE work).

    Args:
        uri, collection, token, filters, timeout: as for ``milvus-bm25``.
        embedder: the query encoder; ``None`` uses the one the collection was built with.
            Another model, or one of another dimension, is an ``IndexMismatchError``.
        batch_size, device: query encoding settings.
        search_params: ANN search parameters, e.g. ``{"ef": 64}`` for HNSW.
    """

    def __init__(self, uri: str, collection: str, embedder: str | None = None, token: str | None = None,
                 filters: dict[str, Any] | None = None, batch_size: int = 64, device: str | None = None,
                 search_params: dict[str, Any] | None = None, timeout: float = 30.0):
        self.uri, self.collection, self.embedder, self.token = uri, collection, embedder, token
        self.filters, self.batch_size, self.device = filters, batch_size, device
        self.search_params, self.timeout = search_params, timeout
        milvus_filter(filters)

    def warm_up(self) -> None:
        """Connect, check the collection and load the query encoder now."""
        self.embed_queries(["warm-up"])

    def retrieve(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        """Top-``k`` chunks per query by embedding similarity; ``Hit.chunk`` filled."""
        return self.retrieve_vectors(self.embed_queries(queries), k)

    def retrieve_vectors(self, vectors: np.ndarray, k: int = 10) -> list[list[Hit]]:
        """Top-``k`` chunks per query vector (e.g. a Rocchio-updated query)."""
        self._encoder()  # the same checks as retrieve: collection exists, embedder matches
        index = self._index()
        with index.errors("search"):
            results = index.client.search(
                self.collection, data=[[float(x) for x in v] for v in np.asarray(vectors)], anns_field="dense",
                limit=k, filter=self._expr(), output_fields=CHUNK_FIELDS,
                search_params={"metric_type": "IP", "params": self.search_params or {}},
            )
        return self._hits(results, "milvus-dense", k)


@register("retriever", "milvus-hybrid")
class MilvusHybridRetriever(_DenseMixin):
    """BM25 and dense candidates fused server side by Milvus ``hybrid_search``.

    Args:
        uri, collection, token, filters, timeout: as for ``milvus-bm25``.
        fusion: ``"rrf"`` (``RRFRanker(rrf_k)``) or ``"weighted"`` (``WeightedRanker``,
            normalised scores).
        weights: ``[bm25, dense]`` weights for weighted fusion (default ``[0.5, 0.5]``).
        rrf_k: the RRF constant.
        depth: candidates taken from each side before fusing.
        embedder, batch_size, device, search_params: as for ``milvus-dense``.

    Raises:
        ValueError: an unknown fusion or not two weights.
    """

    def __init__(self, uri: str, collection: str, fusion: str = "rrf", weights: list[float] | None = None,
                 rrf_k: int = RRF_K, depth: int = 100, embedder: str | None = None, token: str | None = None,
                 filters: dict[str, Any] | None = None, batch_size: int = 64, device: str | None = None,
                 search_params: dict[str, Any] | None = None, timeout: float = 30.0):
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        if weights is not None and len(weights) != 2:
            raise ValueError(f"weights are [bm25, dense], got {weights!r}")
        self.uri, self.collection, self.fusion, self.weights = uri, collection, fusion, weights
        self.rrf_k, self.depth, self.embedder, self.token = rrf_k, depth, embedder, token
        self.filters, self.batch_size, self.device = filters, batch_size, device
        self.search_params, self.timeout = search_params, timeout
        milvus_filter(filters)

    def warm_up(self) -> None:
        """Connect, check the collection and load the query encoder now."""
        self.embed_queries(["warm-up"])

    def _ranker(self) -> Any:
        from pymilvus import RRFRanker, WeightedRanker

        if self.fusion == "rrf":
            return RRFRanker(self.rrf_k)
        return WeightedRanker(*(self.weights or [0.5, 0.5]), norm_score=True)

    def retrieve(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        """Top-``k`` fused chunks per query; ``Hit.chunk`` filled, ranks 1-based."""
        from pymilvus import AnnSearchRequest

        vectors = self.embed_queries(queries)
        index, depth, expr = self._index(), max(self.depth, k), self._expr()
        runs = []
        with index.errors("search"):
            for text, vector in zip(queries, vectors):  # hybrid_search takes one query per call
                requests = [
                    AnnSearchRequest(data=[index.bm25_query(text)], anns_field="sparse", param={"metric_type": "BM25"},
                                     limit=depth, expr=expr or None),
                    AnnSearchRequest(data=[[float(x) for x in vector]], anns_field="dense",
                                     param={"metric_type": "IP", "params": self.search_params or {}},
                                     limit=depth, expr=expr or None),
                ]
                result = index.client.hybrid_search(self.collection, requests, self._ranker(), limit=k,
                                                    output_fields=CHUNK_FIELDS)
                runs.extend(self._hits(result, "milvus-hybrid", k))
        return runs
