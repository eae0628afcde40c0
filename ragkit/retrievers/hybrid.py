"""Hybrid retriever: BM25 and dense candidates fused by RRF or weighted score fusion.

Unless a fusion is given, an index built with code-aware analysis (a corpus with source code)
fuses by ``ragkit.defaults.CODE_FUSION`` (weighted min-max fusion, dense 0.7: on code questions
BM25's identifier matches are noisy and RRF lets them push out dense hits; chosen on the dev
questions of ``benchmarks/code_qa.py``), any other index by RRF.

It is ``TextVectorSearch`` (``retrieve_text_vectors``): a query vector made by a rewriter (a
trained PRF encoder, ``lol:DIR``) replaces the embedded text on the dense side while BM25 still
reads the text. It is not ``VectorSearch``: vector-only search would drop the BM25 half.

References: Cormack, Clarke & Büttcher 2009, "Reciprocal Rank Fusion outperforms Condorcet and
individual Rank Learning Methods"; Bruch, Gai & Ingber 2023, "An Analysis of Fusion Functions
for Hybrid Retrieval".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ragkit.defaults import CODE_FUSION, RRF_K
from ragkit.indexes import fusion as fuse
from ragkit.registry import register
from ragkit.retrievers.base import IndexRetriever
from ragkit.retrievers.bm25 import BM25Retriever
from ragkit.retrievers.dense import DenseRetriever
from ragkit.types import Hit

__all__ = ["HybridRetriever", "FUSIONS"]

FUSIONS = ("rrf", "weighted")


@register("retriever", "hybrid")
class HybridRetriever(IndexRetriever):
    """Retrieve ``depth`` candidates with BM25 and with the dense index, fuse, keep ``k``.

    Args:
        index: index directory with both sub-indexes.
        fusion: ``"rrf"`` (rank based, no tuning) or ``"weighted"`` (normalised scores); default
            ``CODE_FUSION`` (fusion, weights and normalisation) on a code index, else ``"rrf"``.
        weights: ``[bm25, dense]`` weights (default ``[1, 1]``, or the code fusion's).
        rrf_k: the RRF constant.
        normalization: score normalisation for weighted fusion: ``minmax``, ``zscore``, ``none``.
        depth: candidates taken from each retriever before fusing.
        embedder, k1, b: passed to the dense / BM25 retrievers.
        filters: metadata filters applied to both.
        batch_size, device: query encoding settings of the dense part.

    Raises:
        ValueError: an unknown fusion or normalisation, or not two weights.
    """

    def __init__(
        self,
        index: str,
        fusion: str | None = None,
        weights: list[float] | None = None,
        rrf_k: int = RRF_K,
        normalization: str | None = None,
        depth: int = 100,
        embedder: str | None = None,
        k1: float | None = None,
        b: float | None = None,
        filters: dict[str, Any] | None = None,
        batch_size: int = 64,
        device: str | None = None,
    ):
        if fusion is not None and fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        if normalization is not None and normalization not in fuse.NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalization!r}; choose one of {fuse.NORMALIZATIONS}")
        if weights is not None and len(weights) != 2:
            raise ValueError(f"weights are [bm25, dense], got {weights!r}")
        self.index = str(index)
        self.fusion = fusion
        self.weights = weights
        self.rrf_k = rrf_k
        self.normalization = normalization
        self.depth = depth
        self.embedder = embedder
        self.k1 = k1
        self.b = b
        self.filters = filters
        self.batch_size = batch_size
        self.device = device
        self._check_filters()

    def _parts(self) -> tuple[BM25Retriever, DenseRetriever]:
        parts = getattr(self, "_retrievers", None)
        if parts is None:
            sparse = BM25Retriever(self.index, k1=self.k1, b=self.b, filters=self.filters)
            dense = DenseRetriever(
                self.index, embedder=self.embedder, filters=self.filters, batch_size=self.batch_size, device=self.device
            )
            for part in (sparse, dense):
                part.use_index(self._open())
            parts = self._retrievers = (sparse, dense)
        return parts

    def resolved(self) -> dict[str, Any]:
        """The fusion this retriever applies: ``{"fusion", "weights", "normalization"}`` (opens the index)."""
        found = getattr(self, "_resolved", None)
        if found is None:
            code = (self._open().manifest.get("bm25") or {}).get("split_identifiers") == "code"
            base = CODE_FUSION if code and self.fusion is None else {"fusion": self.fusion or "rrf"}
            weights = self.weights if self.weights is not None else base.get("weights")
            found = self._resolved = {
                "fusion": base["fusion"],
                "weights": list(weights) if weights is not None else None,
                "normalization": self.normalization or base.get("normalization", "minmax"),
            }
        return found

    def warm_up(self) -> None:
        """Load both parts now (not on the first query)."""
        for part in self._parts():
            part.warm_up()

    def fuse(self, sparse: list[Hit], dense: list[Hit], k: int) -> list[Hit]:
        """Fuse one query's BM25 and dense hits into the top ``k``."""
        how = self.resolved()
        if how["fusion"] == "rrf":
            fused = fuse.rrf([sparse, dense], rrf_k=self.rrf_k, weights=how["weights"], limit=k)
        else:
            fused = fuse.weighted([sparse, dense], weights=how["weights"], normalization=how["normalization"], limit=k)
        for hit in fused:
            hit.retriever = "hybrid"
        return fused

    def retrieve(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        """Top-``k`` fused chunks for each query; ``Hit.chunk`` filled, ranks 1-based."""
        sparse, dense = self._parts()
        depth = max(self.depth, k)
        return [
            self.fuse(s, d, k) for s, d in zip(sparse.retrieve(queries, depth), dense.retrieve(queries, depth))
        ]

    def retrieve_text_vectors(self, queries: list[str], vectors: np.ndarray, k: int = 10) -> list[list[Hit]]:
        """Top-``k`` fused chunks: BM25 on each query's text, dense search with its given vector (``TextVectorSearch``).

        Raises:
            ValueError: not one vector per query.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(queries):
            raise ValueError(f"retrieve_text_vectors needs one vector per query: {len(queries)} queries, "
                             f"vectors of shape {vectors.shape}")
        sparse, dense = self._parts()
        depth = max(self.depth, k)
        return [
            self.fuse(s, d, k) for s, d in zip(sparse.retrieve(queries, depth), dense.retrieve_vectors(vectors, depth))
        ]
