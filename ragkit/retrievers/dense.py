"""Dense retriever: sentence-transformers query embeddings searched in the FAISS index.

References: Karpukhin et al. 2020, "Dense Passage Retrieval for Open-Domain Question Answering";
Reimers & Gurevych 2019, "Sentence-BERT".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ragkit.indexes.embed import Embedder
from ragkit.registry import register
from ragkit.retrievers.base import IndexRetriever
from ragkit.types import Hit

__all__ = ["DenseRetriever"]


@register("retriever", "dense")
class DenseRetriever(IndexRetriever):
    """Embedding retrieval over the index's ``dense/`` FAISS index.

    Args:
        index: index directory (built with `ragkit index`).
        embedder: the query encoder; ``None`` uses the model the index was built with. Any
            other model raises ``IndexMismatchError`` (vectors from two models don't compare).
        filters: metadata filters, e.g. ``{"language": "python"}``.
        batch_size, device: query encoding settings.
    """

    def __init__(
        self,
        index: str,
        embedder: str | None = None,
        filters: dict[str, Any] | None = None,
        batch_size: int = 64,
        device: str | None = None,
    ):
        self.index = str(index)
        self.embedder = embedder
        self.filters = filters
        self.batch_size = batch_size
        self.device = device
        self._check_filters()

    def _encoder(self) -> Embedder:
        encoder = getattr(self, "_embedder", None)
        if encoder is None:
            opened = self._open()
            opened.check_fresh("dense")
            if self.embedder is not None:
                opened.check_embedder(self.embedder)
            encoder = opened.embedder(batch_size=self.batch_size, device=self.device)
            self._embedder = encoder
        return encoder

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        """Query vectors from the index's embedder, shape ``(len(queries), dimension)``."""
        return self._encoder().encode_queries(queries)

    def warm_up(self) -> None:
        """Load the query encoder and the FAISS index now (not on the first query)."""
        self.embed_queries(["warm-up"])
        self._open().dense  # noqa: B018 -- loads the FAISS index

    def document_vectors(self, chunk_ids: list[str]) -> np.ndarray:
        """The stored vectors of these chunks, shape ``(len(chunk_ids), dimension)`` (``VectorSearch``)."""
        return self._open().vectors(chunk_ids)

    def retrieve(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        """Top-``k`` chunks for each query; ``Hit.chunk`` filled, ranks 1-based."""
        return self.retrieve_vectors(self.embed_queries(queries), k)

    def retrieve_vectors(self, vectors: np.ndarray, k: int = 10) -> list[list[Hit]]:
        """Top-``k`` chunks for each query vector (e.g. a Rocchio-updated query)."""
        self._encoder()  # same checks as retrieve: fresh index, matching embedder
        return self._fill(self._open().dense.search(vectors, k, self._allowed()), "dense")
