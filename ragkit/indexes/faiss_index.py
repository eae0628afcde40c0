"""Dense vector index on FAISS: exact inner product by default, HNSW or IVF-PQ on request.

Chunk ids map to int64 FAISS labels (a counter, kept in ``ids.json``), so documents can be
deleted: flat and IVF-PQ remove by label; HNSW cannot remove, so a delete rebuilds its graph
from the stored vectors. With ``faiss-gpu`` installed and a GPU visible, flat and IVF-PQ
searches run on the GPU (HNSW has no FAISS GPU version and stays on the CPU).

References: Johnson, Douze & Jégou 2019, "Billion-scale similarity search with GPUs" (FAISS);
Malkov & Yashunin 2018, "Efficient and robust approximate nearest neighbor search using
Hierarchical Navigable Small World graphs"; Jégou, Douze & Schmid 2011, "Product quantization
for nearest neighbor search".
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ragkit.indexes.atomic import atomic_write_text
from ragkit.indexes.manifest import read_index_config
from ragkit.types import Hit

__all__ = ["DenseIndex", "INDEX_TYPES"]

INDEX_TYPES = ("flat", "hnsw", "ivfpq")
METRICS = ("ip", "l2")
FORMAT = 1
_CONFIG = "ragkit_dense.json"
_IDS = "ids.json"
_FAISS = "index.faiss"
_GPU_MAX_K = 2048


class DenseIndex:
    """A FAISS index of chunk vectors: add, delete, search, save, load.

    Args:
        dimension: vector size.
        index_type: ``"flat"`` (exact), ``"hnsw"`` or ``"ivfpq"`` (approximate).
        metric: ``"ip"`` (inner product; cosine for unit vectors) or ``"l2"`` (scores are
            negated distances, so higher is better for both).
        hnsw_m, ef_construction, ef_search: HNSW graph degree and beam widths.
        nlist, nprobe: IVF cells (default ``min(4·sqrt(n), n/39)`` at training) and cells probed.
        pq_m, pq_bits: product-quantizer sub-vectors (default ``dimension/8``) and bits each.
        gpu: ``None`` = use a GPU when faiss has one, ``True`` = require one, ``False`` = CPU.

    Raises:
        ValueError: unknown ``index_type`` / ``metric``, or ``pq_m`` not dividing ``dimension``.
    """

    def __init__(
        self,
        dimension: int,
        index_type: str = "flat",
        metric: str = "ip",
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        nlist: int | None = None,
        nprobe: int = 16,
        pq_m: int | None = None,
        pq_bits: int = 8,
        gpu: bool | None = None,
    ):
        if index_type not in INDEX_TYPES:
            raise ValueError(f"unknown index_type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose 'ip' or 'l2'")
        if pq_m is not None and dimension % pq_m:
            raise ValueError(f"pq_m={pq_m} must divide the dimension {dimension}")
        self.dimension, self.index_type, self.metric = int(dimension), index_type, metric
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self.nlist, self.nprobe, self.pq_m, self.pq_bits = nlist, nprobe, pq_m, pq_bits
        self.gpu = gpu
        self._labels: dict[str, int] = {}
        self._chunk: dict[int, str] = {}
        self._next = 0
        self._index: Any = None  # CPU faiss index, made on first add (IVF-PQ trains then)
        self._device_index: Any = None  # GPU copy for searching, dropped on every change

    # -- description -----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The manifest section (without the embedder, which ``Index`` adds)."""
        return {
            "format": FORMAT,
            "dimension": self.dimension,
            "index_type": self.index_type,
            "metric": self.metric,
            "hnsw_m": self.hnsw_m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "pq_m": self.pq_m,
            "pq_bits": self.pq_bits,
            "n_vectors": len(self._labels),
        }

    @property
    def ids(self) -> list[str]:
        """Chunk ids, in the order they were added."""
        return sorted(self._labels, key=self._labels.__getitem__)

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._labels

    # -- building --------------------------------------------------------------------------
    def _faiss_metric(self) -> int:
        import faiss

        return faiss.METRIC_INNER_PRODUCT if self.metric == "ip" else faiss.METRIC_L2

    def _new_index(self, train: np.ndarray) -> Any:
        import faiss

        d = self.dimension
        if self.index_type == "flat":
            inner = faiss.IndexFlatIP(d) if self.metric == "ip" else faiss.IndexFlatL2(d)
            return faiss.IndexIDMap2(inner)
        if self.index_type == "hnsw":
            inner = faiss.IndexHNSWFlat(d, self.hnsw_m, self._faiss_metric())
            inner.hnsw.efConstruction = self.ef_construction
            return faiss.IndexIDMap2(inner)
        n = len(train)
        if n < 2**self.pq_bits:
            raise ValueError(
                f"IVF-PQ needs at least {2 ** self.pq_bits} vectors to train its quantizer, got {n}; "
                f"use index_type='flat' or 'hnsw' for a corpus this small"
            )
        nlist = self.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
        if nlist > n:
            raise ValueError(f"nlist={nlist} exceeds the {n} training vectors; lower nlist")
        pq_m = self.pq_m or _default_pq_m(d)
        quantizer = faiss.IndexFlatIP(d) if self.metric == "ip" else faiss.IndexFlatL2(d)
        index = faiss.IndexIVFPQ(quantizer, d, nlist, pq_m, self.pq_bits, self._faiss_metric())
        if n < 39 * 2**self.pq_bits:  # say it once, instead of FAISS' warning per sub-quantizer
            warnings.warn(
                f"IVF-PQ trained on {n} vectors (FAISS suggests {39 * 2 ** self.pq_bits}); its recall "
                f"will be lower than usual — measure it, or use index_type='hnsw'",
                stacklevel=3,
            )
            index.pq.cp.min_points_per_centroid = 1
        index.train(train)
        self.nlist, self.pq_m = nlist, pq_m
        return index

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors under chunk ids; an id already present is replaced.

        Raises:
            ValueError: shape mismatch, repeated ids, or (IVF-PQ) too few vectors to train.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dimension):
            raise ValueError(
                f"expected vectors of shape ({len(ids)}, {self.dimension}), got {vectors.shape}"
            )
        if len(set(ids)) != len(ids):
            raise ValueError("add got the same chunk id twice; ids must be unique")
        if not len(ids):
            return
        present = [i for i in ids if i in self._labels]
        if present:
            self.delete(present)
        if self._index is None:
            self._index = self._new_index(vectors)
        labels = np.arange(self._next, self._next + len(ids), dtype=np.int64)
        self._index.add_with_ids(vectors, labels)
        for chunk_id, label in zip(ids, labels.tolist()):
            self._labels[chunk_id] = label
            self._chunk[label] = chunk_id
        self._next += len(ids)
        self._device_index = None

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Remove vectors by chunk id. Returns the ids that were present."""
        gone = sorted({i for i in ids if i in self._labels})
        if not gone:
            return []
        labels = np.array([self._labels.pop(i) for i in gone], dtype=np.int64)
        for label in labels.tolist():
            del self._chunk[label]
        if self.index_type == "hnsw":  # HNSW graphs cannot drop nodes: rebuild from the vectors
            keep = np.array(sorted(self._chunk), dtype=np.int64)
            vectors = np.stack([self._index.reconstruct(int(x)) for x in keep]) if len(keep) else None
            self._index = self._new_index(np.zeros((0, self.dimension), np.float32))
            if vectors is not None:
                self._index.add_with_ids(vectors, keep)
        else:
            self._index.remove_ids(labels)
        self._device_index = None
        return gone

    # -- search ----------------------------------------------------------------------------
    def _searchable(self) -> Any:
        import faiss

        gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        if self.gpu is True and gpus == 0:
            raise RuntimeError(
                "gpu=True but faiss sees no GPU; install faiss-gpu (`pip install ragkit[gpu]`) "
                "on a machine with CUDA, or pass gpu=None to fall back to the CPU"
            )
        if self.gpu is False or gpus == 0 or self.index_type == "hnsw":
            return self._index
        if self._device_index is None:
            self._gpu_resources = faiss.StandardGpuResources()
            self._device_index = faiss.index_cpu_to_gpu(self._gpu_resources, 0, self._index)
        return self._device_index

    def _set_search_params(self, index: Any, fetch: int) -> None:
        import faiss

        if self.index_type == "hnsw":
            faiss.downcast_index(self._index.index).hnsw.efSearch = max(self.ef_search, fetch)
        elif self.index_type == "ivfpq":
            space = faiss.ParameterSpace() if index is self._index else faiss.GpuParameterSpace()
            space.set_index_parameter(index, "nprobe", min(self.nprobe, self.nlist or self.nprobe))

    def search(
        self, vectors: np.ndarray, k: int = 10, allowed: frozenset[str] | None = None
    ) -> list[list[Hit]]:
        """Top-``k`` chunks for each query vector.

        Args:
            vectors: query vectors, shape ``(n_queries, dimension)``.
            k: hits per query at most.
            allowed: if given, only these chunk ids can be returned (the search widens until
                ``k`` allowed hits are found or every vector was considered).

        Returns:
            One list of ``Hit`` (rank 1-based, ``retriever="dense"``) per query.
        """
        vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"query vectors have dimension {vectors.shape[1]}, index has {self.dimension}")
        n = len(self._labels)
        if n == 0 or k <= 0:
            return [[] for _ in vectors]
        index = self._searchable()
        results: list[list[Hit] | None] = [None] * len(vectors)
        todo = np.arange(len(vectors))
        fetch = min(n, k if allowed is None else max(4 * k, 64))
        while len(todo):
            if fetch > _GPU_MAX_K:  # FAISS GPU indexes return at most 2048 neighbours
                index = self._index
            self._set_search_params(index, fetch)
            scores, labels = index.search(vectors[todo], fetch)
            if self.metric == "l2":
                scores = -scores
            again = []
            for row, q in enumerate(todo):
                hits = [
                    (float(s), self._chunk[int(lab)])
                    for s, lab in zip(scores[row], labels[row])
                    if lab >= 0 and (allowed is None or self._chunk[int(lab)] in allowed)
                ]
                if len(hits) < k and fetch < n and allowed is not None:
                    again.append(q)
                    continue
                hits.sort(key=lambda h: (-h[0], h[1]))
                results[q] = [
                    Hit(chunk_id=c, score=s, rank=r, retriever="dense")
                    for r, (s, c) in enumerate(hits[:k], start=1)
                ]
            todo = np.array(again, dtype=np.int64)
            fetch = min(n, fetch * 4)
        return [r or [] for r in results]

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write the index files into ``directory`` (other files there are left alone)."""
        import faiss

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self._index is not None:
            faiss.write_index(self._index, str(directory / _FAISS))
        else:
            (directory / _FAISS).unlink(missing_ok=True)
        labels = {"next": self._next, "ids": self.ids, "labels": [self._labels[i] for i in self.ids]}
        atomic_write_text(directory / _IDS, json.dumps(labels))
        atomic_write_text(directory / _CONFIG, json.dumps(self.config(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, directory: str | Path, gpu: bool | None = None) -> DenseIndex:
        """Read an index written by ``save``.

        Raises:
            FileNotFoundError: ``directory`` holds no dense index.
            ValueError: it was written in another format version.
        """
        import faiss

        directory = Path(directory)
        params = read_index_config(directory, _CONFIG, "dense", FORMAT, drop=("n_vectors",))
        index = cls(**params, gpu=gpu)
        labels = json.loads((directory / _IDS).read_text(encoding="utf-8"))
        index._next = labels["next"]
        index._labels = dict(zip(labels["ids"], labels["labels"]))
        index._chunk = {lab: i for i, lab in index._labels.items()}
        if (directory / _FAISS).is_file():
            index._index = faiss.read_index(str(directory / _FAISS))
        return index


def _default_pq_m(dimension: int) -> int:
    """The largest divisor of ``dimension`` that is at most ``dimension / 8`` (8-dim sub-vectors)."""
    for m in range(max(1, dimension // 8), 0, -1):
        if dimension % m == 0:
            return m
    return 1
