"""A trained dense PRF query encoder (ANCE-PRF style), trained with or without LoL: ``lol:DIR``.

The encoder reads the question followed by its top ``fb_docs`` first-pass passages, each cut to
``max_chars`` and separated by the tokenizer's separator (``prf_input``), and returns one query
vector (``QueryVector``) in the space of the frozen document index, so the index is never
re-embedded. With a dense retriever the vector is the search; with the hybrid one BM25 reads
the question's text and the vector replaces its embedding on the dense side (``TextVectorSearch``);
the feedback is the retriever's own first pass. ``ragkit tune prf`` (``ragkit.tuning.prf.PRFTuner``)
trains it, with the LoL comparative regulariser (``lambda_cr > 0``) or without it (the ablation);
its directory is a sentence-transformers model plus ``prf.json`` (the input format it was trained with).

References: Yu et al. 2021, "Improving Query Representations for Dense Retrieval with Pseudo
Relevance Feedback" (ANCE-PRF: query + feedback passages -> one query vector); Zhu et al. 2022,
"LoL: A Comparative Regularization Loss over Query Reformulation Losses for Pseudo-Relevance
Feedback" (SIGIR 2022).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ragkit.registry import register
from ragkit.rewriters.base import QueryVector, Rewrite, Rewriter, feedback_texts
from ragkit.types import Hit

__all__ = ["PRFQueryEncoder", "prf_input", "PRF_FILE", "read_prf_config"]

PRF_FILE = "prf.json"


def prf_input(query: str, passages: Sequence[str], sep: str = "[SEP]", max_chars: int = 300) -> str:
    """The encoder's input text: the query, then each passage (cut to ``max_chars``), joined by ``sep``."""
    parts = [" ".join(query.split())]
    for text in passages:
        text = " ".join(text.split())
        if len(text) > max_chars:
            text = text[:max_chars].rsplit(" ", 1)[0]
        parts.append(text)
    return f" {sep} ".join(parts)


def read_prf_config(model_dir: str | Path) -> dict[str, Any]:
    """The ``prf.json`` of a PRF encoder directory.

    Raises:
        FileNotFoundError: the directory was not written by ``ragkit tune prf``.
    """
    path = Path(model_dir) / PRF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} has no {PRF_FILE}; train a PRF encoder with `ragkit tune prf --out DIR`")
    return json.loads(path.read_text(encoding="utf-8"))


@register("rewriter", "lol")
class PRFQueryEncoder(Rewriter):
    """Encode the question with its feedback passages into one query vector (dense / hybrid retrieval).

    Args:
        model: a PRF encoder directory written by ``ragkit tune prf``.
        fb_docs: feedback passages read per query (the tuner's depths; default 3).
        batch_size: texts per encoding batch.
        device: ``"cpu"``, ``"cuda"``; ``None`` picks cuda when available.

    Raises:
        ValueError: ``fb_docs < 0``.
    """

    needs = None  # reads no index statistics; check_searcher: the retriever must take a QueryVector (dense, hybrid)
    needs_feedback = True
    cli_arg = "model"

    def __init__(self, model: str, fb_docs: int = 3, batch_size: int = 32, device: str | None = None):
        if fb_docs < 0:
            raise ValueError(f"fb_docs must be >= 0, got {fb_docs}")
        self.model = str(model)
        self.fb_docs = fb_docs
        self.batch_size = batch_size
        self.device = device

    def check_searcher(self, searcher: Any) -> Any:
        """``searcher`` if it takes a query vector (``VectorSearch``: dense; ``TextVectorSearch``: hybrid), else a ``ValueError``."""
        from ragkit.retrievers.base import TextVectorSearch, VectorSearch

        if not isinstance(searcher, (VectorSearch, TextVectorSearch)):
            raise ValueError(
                f"lol returns a query vector and needs a dense or hybrid retriever, not {type(searcher).__name__} "
                "(it cannot search by vector); use --mode dense or --mode hybrid"
            )
        return searcher

    def _encoder(self) -> tuple[Any, dict[str, Any]]:
        loaded = getattr(self, "_loaded", None)
        if loaded is None:
            from ragkit.models import load_sentence_transformer

            config = read_prf_config(self.model)
            loaded = self._loaded = (load_sentence_transformer(self.model, self.device), config)
        return loaded

    def encode(self, queries: list[str], passages: list[list[str]]) -> np.ndarray:
        """Unit-length query vectors, shape ``(len(queries), dimension)``."""
        model, config = self._encoder()
        texts = [prf_input(q, p, config["sep"], config["max_chars"]) for q, p in zip(queries, passages)]
        return np.asarray(model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                       show_progress_bar=False), dtype=np.float32)

    def rewrite(
        self, queries: list[str], feedback: list[list[Hit]] | None = None, searcher: Any = None
    ) -> list[Rewrite]:
        """One ``QueryVector`` per question from the question and its top ``fb_docs`` feedback hits.

        Raises:
            ValueError: no feedback given, or a feedback hit without chunk text.
        """
        if searcher is not None:
            self.check_searcher(searcher)
        if feedback is None or len(feedback) != len(queries):
            raise ValueError("lol needs feedback hits for each query (a first dense pass)")
        _, config = self._encoder()
        passages = [feedback_texts(hits, self.fb_docs, 10 * config["max_chars"]) for hits in feedback]
        vectors = self.encode(list(queries), passages)
        return [
            QueryVector(q, v.astype(float).tolist(), metadata={"feedback": [h.chunk_id for h in hits[: self.fb_docs]]})
            for q, v, hits in zip(queries, vectors, feedback)
        ]
