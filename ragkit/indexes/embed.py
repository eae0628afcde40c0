"""Embed chunk texts with a sentence-transformers model run through transformers, batched, cached by chunk id.

The model is loaded by ``ragkit.models.load_embedder`` (``ragkit.sentence_encoder``): the same
vectors as sentence-transformers without importing it, so a dense or hybrid search starts in
seconds instead of tens of seconds.

The cache lives in an index's ``dense/`` directory (``embeddings.npy`` + ``embeddings.json``)
and is keyed by chunk id, which is a content hash: re-indexing unchanged chunks embeds nothing.
A cache written for another model is ignored, never mixed in.

Example:
    >>> embedder = Embedder("minilm")                       # doctest: +SKIP
    >>> embedder.encode(["a sentence"]).shape               # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.indexes.atomic import atomic_write_text

__all__ = ["Embedder", "EmbeddingCache"]


class EmbeddingCache:
    """Vectors keyed by chunk id, for one embedding model.

    Args:
        model_id: the model the vectors come from (``ragkit.models.model_id``).
        dimension: vector size, known once a vector is stored.
    """

    VECTORS = "embeddings.npy"
    META = "embeddings.json"

    def __init__(self, model_id: str, dimension: int | None = None):
        self.model_id = model_id
        self.dimension = dimension
        self._row: dict[str, int] = {}
        self._vectors = np.zeros((0, dimension or 0), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._row

    @classmethod
    def load(cls, directory: str | Path, model_id: str) -> EmbeddingCache:
        """The cache in ``directory`` for ``model_id``; empty if absent or for another model."""
        directory = Path(directory)
        meta_path = directory / cls.META
        if not meta_path.is_file():
            return cls(model_id)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("model_id") != model_id:
            return cls(model_id)
        cache = cls(model_id, meta["dimension"])
        cache._vectors = np.load(directory / cls.VECTORS)
        cache._row = {i: r for r, i in enumerate(meta["ids"])}
        return cache

    def save(self, directory: str | Path) -> None:
        """Write the cache into ``directory`` (vectors first, then the id list that names them)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ids = sorted(self._row, key=self._row.__getitem__)
        np.save(directory / self.VECTORS, self._vectors)
        meta = {"model_id": self.model_id, "dimension": self.dimension, "ids": ids}
        atomic_write_text(directory / self.META, json.dumps(meta))

    def get(self, ids: Sequence[str]) -> np.ndarray:
        """Vectors for ``ids`` (all must be cached), one row each."""
        rows = [self._row[i] for i in ids]
        return self._vectors[rows]

    def put(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors for ids not cached yet (ids already cached keep their vector)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.dimension is None:
            self.dimension = int(vectors.shape[1])
            self._vectors = np.zeros((0, self.dimension), dtype=np.float32)
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors have dimension {vectors.shape[1]}, this cache holds {self.dimension}")
        new = [(i, r) for r, i in enumerate(ids) if i not in self._row]
        if not new:
            return
        start = len(self._vectors)
        self._vectors = np.concatenate([self._vectors, vectors[[r for _, r in new]]])
        for n, (chunk_id, _) in enumerate(new):
            self._row[chunk_id] = start + n

    def keep(self, ids: Sequence[str]) -> None:
        """Drop every vector whose id is not in ``ids`` (so the cache does not grow forever)."""
        wanted = [i for i in dict.fromkeys(ids) if i in self._row]
        self._vectors = self._vectors[[self._row[i] for i in wanted]] if wanted else self._vectors[:0]
        self._row = {i: r for r, i in enumerate(wanted)}


class Embedder:
    """A sentence-transformers model that turns texts into unit-length vectors.

    Args:
        model: ``"minilm"`` (bundled all-MiniLM-L6-v2), a local model directory, or a hub id
            (resolved offline by ``ragkit.models.resolve``).
        batch_size: texts per forward pass.
        device: ``"cpu"``, ``"cuda"`` …; default: a GPU when torch sees one.
        show_progress: show a progress bar while embedding documents.
        precision: ``"fp32"`` (default: vectors equal to sentence-transformers'), ``"bf16"`` or
            ``"auto"`` (``ragkit.precision``).
        query_backend: ``"onnx"`` (default): queries are embedded by ONNX Runtime on the CPU
            (``ragkit.onnx_encoder``: no torch import, so a dense / hybrid search starts in
            about a second; fp32 only); ``"torch"``: by the same model as documents. Documents
            are always embedded through torch on ``device``. Both give the same vectors within 1e-5.

    Raises:
        ValueError: an unknown precision or query backend, or ``query_backend="onnx"`` with a
            precision other than fp32.
    """

    QUERY_BACKENDS = ("onnx", "torch")

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDER,
        batch_size: int = 64,
        device: str | None = None,
        show_progress: bool = True,
        precision: str = "fp32",
        query_backend: str = "onnx",
    ):
        from ragkit.precision import check_precision

        if query_backend not in self.QUERY_BACKENDS:
            raise ValueError(f"unknown query_backend {query_backend!r}; choose one of {', '.join(self.QUERY_BACKENDS)}")
        if query_backend == "onnx" and check_precision(precision) != "fp32":
            raise ValueError(f"query_backend='onnx' runs fp32 only; use query_backend='torch' for precision={precision!r}")
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.show_progress = show_progress
        self.precision = check_precision(precision)
        self.query_backend = query_backend
        self._encoder: Any = None
        self._query_encoder: Any = None

    @property
    def model_id(self) -> str:
        """A stable id for manifests and caches (the hub id for bundled models)."""
        from ragkit.models import model_id

        return model_id(self.model)

    def _load(self) -> Any:
        if self._encoder is None:
            from ragkit.models import load_embedder

            self._encoder = load_embedder(self.model, self.device, self.precision)
        return self._encoder

    def _load_query(self) -> Any:
        if self.query_backend == "torch":
            return self._load()
        if self._query_encoder is None:
            from ragkit.models import load_embedder

            self._query_encoder = load_embedder(self.model, "cpu", "fp32", backend="onnx")
        return self._query_encoder

    def warm_up(self) -> None:
        """Load the query model now (otherwise it loads on the first encode).

        With the ``onnx`` query backend this also makes the one-time ONNX export (with torch),
        so ``ragkit index`` calls it: later query processes then import no torch at all.
        """
        self._load_query()

    @property
    def dimension(self) -> int:
        """The embedding size (loads a model if none is loaded)."""
        return (self._encoder or self._load_query()).dimension

    def _encode(self, texts: Sequence[str], kind: str, progress: bool) -> np.ndarray:
        encoder = self._load_query() if kind == "query" else self._load()
        vectors = encoder.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            prompt_name=kind,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Document vectors, shape ``(len(texts), dimension)``, L2-normalised."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts, "document", self.show_progress and len(texts) > self.batch_size)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors (the model's query prompt, if it defines one), L2-normalised."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts, "query", False)

    def embed(self, ids: Sequence[str], texts: Sequence[str], cache: EmbeddingCache | None = None) -> np.ndarray:
        """Vectors for chunks, embedding only those not in ``cache`` (and adding them to it).

        Raises:
            ValueError: the cache belongs to another model.
        """
        if cache is None:
            return self.encode(texts)
        if cache.model_id != self.model_id:
            raise ValueError(f"embedding cache is for {cache.model_id}, not {self.model_id}")
        todo = [n for n, i in enumerate(ids) if i not in cache]
        if todo:
            cache.put([ids[n] for n in todo], self.encode([texts[n] for n in todo]))
        if not ids:
            return np.zeros((0, cache.dimension or self.dimension), dtype=np.float32)
        return cache.get(ids)
