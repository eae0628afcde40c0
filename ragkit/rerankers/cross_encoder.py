"""Cross-encoder reranker: a sentence-transformers ``CrossEncoder`` scores each (query, passage).

Any local CrossEncoder directory works, including one trained by ``ragkit.tuning.reranker``
(no cross-encoder ships offline, so ragkit trains its own). All pairs of a batch of queries are
scored in one ``predict`` call; the model loads on first use. ``first_stage_weight`` blends the
cross-encoder score with the candidates' first-stage score (per-query min-max, as in Birch):
a reranker trained on little in-domain data keeps BM25's exact-match evidence this way.

References: Nogueira & Cho 2019, "Passage Re-ranking with BERT"; Reimers & Gurevych 2019,
"Sentence-BERT" (the sentence-transformers CrossEncoder).
"""

from __future__ import annotations

from typing import Any

from ragkit.indexes.fusion import interpolate
from ragkit.precision import autocast, check_precision
from ragkit.registry import register
from ragkit.rerankers.base import Reranker, check_batch, hit_text, ranked
from ragkit.types import Hit

__all__ = ["CrossEncoderReranker"]


@register("reranker", "cross-encoder")
class CrossEncoderReranker(Reranker):
    """Rerank with a cross-encoder model.

    Args:
        model: a CrossEncoder directory (e.g. the output of ``RerankerTuner``), or a hub id
            when online.
        batch_size: (query, passage) pairs per forward pass.
        max_length: tokens per pair (longer pairs are truncated); ``None``: the model's own.
        device: ``"cpu"``, ``"cuda"``; ``None`` picks cuda when available.
        precision: ``"auto"`` (bf16 where the hardware computes it natively, else fp32),
            ``"fp32"`` or ``"bf16"`` (``ragkit.precision``).
        first_stage_weight: weight in [0, 1] of the hit's incoming (first-stage) score in the
            final score ``(1 - w) * minmax(cross-encoder) + w * minmax(first stage)``; 0 ranks by
            the cross-encoder alone. Pick it on held-out queries (``benchmarks/scifact_tuning.py``
            does, on a dev split of the training claims).

    Raises:
        ValueError: no model given, an unknown precision or a weight outside [0, 1].

    Example:
        >>> build("reranker", {"type": "cross-encoder", "model": "runs/reranker"})  # doctest: +SKIP
    """

    cli_arg = "model"

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 32,
        max_length: int | None = 512,
        device: str | None = None,
        precision: str = "auto",
        first_stage_weight: float = 0.0,
    ):
        if not model:
            raise ValueError(
                "the cross-encoder reranker needs model=DIR: a CrossEncoder directory, e.g. one "
                "trained with ragkit's reranker tuning (ragkit.tuning.reranker)"
            )
        if not 0.0 <= first_stage_weight <= 1.0:
            raise ValueError(f"first_stage_weight must be in [0, 1], got {first_stage_weight}")
        self.model = str(model)
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.precision = check_precision(precision)
        self.first_stage_weight = first_stage_weight

    def _load(self) -> Any:
        loaded = getattr(self, "_model", None)
        if loaded is None:
            from ragkit.models import load_cross_encoder

            loaded = self._model = load_cross_encoder(self.model, self.device, max_length=self.max_length)
        return loaded

    def use_model(self, model: Any) -> CrossEncoderReranker:
        """Score with an already loaded ``CrossEncoder`` (a tuner's model during training) instead of loading ``model``."""
        self._model = model
        return self

    def warm_up(self) -> None:
        """Load the model now (not on the first query)."""
        self._load()

    def score(self, pairs: list[tuple[str, str]], progress: bool = False) -> list[float]:
        """The model's relevance score of each (query, passage) pair (higher is more relevant).

        Args:
            pairs: (query, passage) pairs.
            progress: show a progress bar (long evaluation runs).
        """
        if not pairs:
            return []
        from tqdm.auto import tqdm

        model = self._load()
        out: list[float] = []
        step = self.batch_size * 8
        with autocast(self.precision, model.device.type), tqdm(
            total=len(pairs), desc="rerank", unit="pair", leave=False, disable=not progress
        ) as bar:
            for i in range(0, len(pairs), step):
                chunk = pairs[i : i + step]
                scores = model.predict(chunk, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True)
                out.extend(float(x) for x in scores.reshape(len(chunk), -1)[:, -1])
                bar.update(len(chunk))
        return out

    def rerank(self, queries: list[str], hits: list[list[Hit]], k: int) -> list[list[Hit]]:
        check_batch(queries, hits)
        pairs = [(q, hit_text(h)) for q, hs in zip(queries, hits) for h in hs]
        scores = self.score(pairs)
        out, start = [], 0
        for hs in hits:
            mine = interpolate(scores[start : start + len(hs)], [h.score for h in hs], self.first_stage_weight) if hs else []
            out.append(ranked(hs, mine, k, "cross-encoder"))
            start += len(hs)
        return out
