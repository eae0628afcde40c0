"""Train a cross-encoder reranker on (query, positive, hard negatives), optionally with CAR rewrites.

The base is a plain encoder (default: the bundled MiniLM, since no cross-encoder ships
offline); ``CrossEncoder(base, num_labels=1)`` adds a fresh scoring head. Training uses
``CrossEncoderTrainer`` with BinaryCrossEntropyLoss on labelled (query, passage) pairs — the
positive labelled 1, each hard negative 0 — or ``loss="mnrl"``: a listwise softmax over the
positive, the hard negatives and in-batch negatives. Data can come from QA pairs with mined
negatives or from the QA bot's feedback judgements (``ragkit.tuning.feedback``).

``query_rewrite="car"`` rewrites the ambiguous training queries with an LLM that sees their
relevant document (``ragkit.tuning.car``) before training; ``"none"`` trains on the queries as
they are, so the effect of CAR can be measured on the same data.

References: Nogueira & Cho, 2019, "Passage Re-ranking with BERT" (monoBERT, pointwise BCE);
Anand et al., 2023, "Context Aware Query Rewriting for Text Rankers using LLM" (CAR).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.eval.retrieval import write_run
from ragkit.precision import check_precision
from ragkit.registry import Component, build, register
from ragkit.tuning.data import QAPair, data_hash
from ragkit.tuning.evaluate import (
    RetrievalTask,
    Run,
    bm25_run,
    first_stage_run,
    interpolation_curve,
    rerank_run,
    reranking_task,
    retrieval_metrics,
)
from ragkit.tuning.run import TuningResult, set_seed, trainer_arguments, tuning_run

__all__ = ["RerankerTuner", "evaluate_reranker", "reranked_run", "QUERY_REWRITES", "LOSSES"]

QUERY_REWRITES = ("none", "car")
EVAL_RUN = "eval-run.trec"
LOSSES = ("bce", "mnrl", "cached-mnrl")


def reranked_run(model: Any, task: RetrievalTask, depth: int = 100, batch_size: int = 64, precision: str = "auto") -> Run:
    """A CrossEncoder's scores for each query's top ``depth`` first-stage candidates (with a progress bar).

    Scored by the ``cross-encoder`` reranker component that ``ragkit search --rerank`` uses,
    holding ``model`` (the tuner's model in memory).
    """
    from ragkit.rerankers.cross_encoder import CrossEncoderReranker

    reranker = CrossEncoderReranker(model="in-memory", batch_size=batch_size, precision=precision).use_model(model)
    return rerank_run(lambda pairs: reranker.score(pairs, progress=True), task, depth)


def evaluate_reranker(model: Any, task: RetrievalTask, depth: int = 100, batch_size: int = 64, precision: str = "auto") -> dict[str, float]:
    """Metrics of a CrossEncoder reranking each query's top ``depth`` first-stage candidates."""
    return retrieval_metrics(reranked_run(model, task, depth, batch_size, precision), task.qrels)


def _with_candidates(task: RetrievalTask, depth: int) -> RetrievalTask:
    if task.candidates is not None:
        return task
    return reranking_task(task, bm25_run(task, depth))


@register("tuner", "reranker")
class RerankerTuner(Component):
    """Fine-tune a cross-encoder reranker; the constructor holds the hyper-parameters.

    Args:
        base: base model reference: an encoder (``"minilm"``) gets a fresh head; a reranker
            dir written by this tuner is trained further.
        epochs: passes over the training pairs.
        batch_size: (query, passage) pairs per batch for ``bce``; queries per batch for ``mnrl``.
        learning_rate: AdamW learning rate.
        warmup_ratio: fraction of steps with linear warm-up.
        max_length: tokens per (query, passage) input.
        negatives: hard negatives used per query (from ``QAPair.negatives``).
        loss: ``"mnrl"`` (listwise softmax over the positive, hard and in-batch negatives),
            ``"cached-mnrl"`` (the same loss with GradCache: the batch's pairs go through the model
            ``mini_batch_size`` at a time, so memory no longer grows with ``batch_size`` x
            (1 + 2 x ``negatives``) pairs; one extra no-grad forward pass) or ``"bce"``
            (pointwise). On SciFact, 32 queries x 7 pairs of 256 tokens, 2 steps on this CPU:
            ``mnrl`` peaks at 21.5 GB RSS, ``cached-mnrl`` at 4.7 GB in the same time (74 vs 79 s),
            hence the cached default. From MiniLM, BCE barely leaves the constant predictor in a few hundred steps (its CLS token carries little signal after mean-pooling training): on
            SciFact dev, mnrl lr=1e-4 reached nDCG@10 0.598 vs 0.139 for bce (benchmarks/scifact_tuning.py).
        mini_batch_size: pairs per forward pass for ``cached-mnrl``.
        pos_weight: BCE weight of positives (``None``: ``negatives``, which balances the classes).
        query_rewrite: ``"none"`` or ``"car"`` (rewrite ambiguous training queries with ``llm``).
        llm: LLM config for CAR (``ragkit.registry.build("llm", llm)``).
        car_max_words / car_min_overlap: CAR ambiguity thresholds (``ragkit.tuning.car``).
        evaluate_base: also score the base model before training (useful when ``base`` is
            already a reranker); otherwise ``metrics_before`` is the first-stage ranking.
        eval_depth: first-stage candidates reranked in evaluation.
        seed: seed for the head's initialisation, shuffling and dropout.
        device: ``"cpu"``, ``"cuda"``; ``None`` picks cuda when available.
        precision: ``"auto"`` (bf16 mixed precision where the hardware computes bf16 natively,
            else fp32), ``"fp32"`` or ``"bf16"``; used for training and evaluation.
        progress: show progress bars.

    The record's ``interpolation`` holds evaluation nDCG@10 of
    ``(1 - w) * reranker + w * first stage`` for w = 0, 0.1 … 1 (``CrossEncoderReranker``'s
    ``first_stage_weight``), so the weight can be chosen on a dev task.
    """

    def __init__(
        self,
        base: str = DEFAULT_EMBEDDER,
        epochs: float = 2.0,
        batch_size: int = 32,
        learning_rate: float = 1e-4,
        warmup_ratio: float = 0.1,
        max_length: int = 256,
        negatives: int = 3,
        loss: str = "cached-mnrl",
        mini_batch_size: int = 32,
        pos_weight: float | None = None,
        query_rewrite: str = "none",
        llm: str | dict[str, Any] = "transformers",
        car_max_words: int = 4,
        car_min_overlap: float = 0.5,
        evaluate_base: bool = False,
        eval_depth: int = 100,
        seed: int = 0,
        device: str | None = None,
        precision: str = "auto",
        progress: bool = True,
    ):
        if query_rewrite not in QUERY_REWRITES:
            raise ValueError(f"query_rewrite must be one of {QUERY_REWRITES}, got {query_rewrite!r}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; use one of {LOSSES}")
        if negatives < 1 and loss == "bce":
            raise ValueError("the bce loss needs negatives >= 1 (mine them with ragkit.tuning.negatives)")
        self.base = base
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.max_length = max_length
        self.negatives = negatives
        self.loss = loss
        self.mini_batch_size = mini_batch_size
        self.pos_weight = pos_weight
        self.query_rewrite = query_rewrite
        self.llm = llm
        self.car_max_words = car_max_words
        self.car_min_overlap = car_min_overlap
        self.evaluate_base = evaluate_base
        self.eval_depth = eval_depth
        self.seed = seed
        self.device = device
        self.precision = check_precision(precision)
        self.progress = progress

    def _dataset(self, pairs: list[QAPair]) -> Any:
        from datasets import Dataset

        usable = [p for p in pairs if p.positive is not None and p.negatives]
        if self.loss != "bce":
            usable = [p for p in usable if len(p.negatives) >= self.negatives]
        if not usable:
            raise ValueError(
                "no usable training pair: each needs a positive passage (contexts or chunk_id) and hard "
                "negatives; mine them with ragkit.tuning.negatives.mine_hard_negatives or use feedback judgements"
            )
        if self.loss != "bce":
            cols: dict[str, list[str]] = {"query": [p.question for p in usable], "positive": [p.positive for p in usable]}
            for j in range(self.negatives):
                cols[f"negative_{j + 1}"] = [p.negatives[j] for p in usable]
            return Dataset.from_dict(cols)
        rows: dict[str, list[Any]] = {"query": [], "passage": [], "label": []}
        for p in usable:
            for text, label in [(p.positive, 1.0)] + [(n, 0.0) for n in p.negatives[: self.negatives]]:
                rows["query"].append(p.question)
                rows["passage"].append(text)
                rows["label"].append(label)
        return Dataset.from_dict(rows)

    def rewrite(self, train: list[QAPair]) -> tuple[list[QAPair], dict[str, int] | None]:
        """Apply ``query_rewrite`` to the training pairs: ``(pairs, CAR stats or None)``."""
        if self.query_rewrite == "none":
            return train, None
        from tqdm.auto import tqdm

        from ragkit.tuning.car import car_rewrite

        with tqdm(desc="CAR rewrites", unit="query", disable=not self.progress, leave=False) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            return car_rewrite(train, build("llm", self.llm), max_words=self.car_max_words,
                               min_overlap=self.car_min_overlap, progress=progress)

    def fit(self, train: list[QAPair], out_dir: str | Path, evaluation: RetrievalTask | None = None) -> TuningResult:
        """Train on ``train`` and write the reranker (plus ``ragkit-tuning.json``) to ``out_dir``.

        Args:
            train: pairs with a positive (``contexts[0]``) and hard ``negatives``.
            out_dir: model directory, created or replaced only when training succeeds.
            evaluation: optional task; its first-stage candidates (BM25 when absent) are
                reranked before (with ``evaluate_base``) and after training.

        Returns:
            The ``TuningResult``; the record also holds ``first_stage`` metrics, the
            ``interpolation`` curve and CAR stats, and ``out_dir/eval-run.trec`` the reranked
            evaluation run (TREC format) when ``evaluation`` was given.

        Raises:
            ValueError: no pair with a positive and negatives.
            LLMError: CAR's LLM failed.
        """
        import tempfile

        import torch
        from sentence_transformers import CrossEncoderTrainer, CrossEncoderTrainingArguments
        from sentence_transformers.cross_encoder import losses

        from ragkit.models import load_cross_encoder

        started = time.perf_counter()
        pairs, car_stats = self.rewrite(train)
        if car_stats is not None:
            car_stats = dict(car_stats, seconds=round(time.perf_counter() - started, 2))
        dataset = self._dataset(pairs)
        set_seed(self.seed)
        model = load_cross_encoder(self.base, self.device, max_length=self.max_length, num_labels=1)
        task = _with_candidates(evaluation, self.eval_depth) if evaluation is not None else None
        with tuning_run(out_dir, "reranker", self.base, self.to_config(), data_hash(pairs), len(dataset), self.seed) as run:
            run.record["car"] = car_stats
            if task is not None:
                run.record["first_stage"] = retrieval_metrics(first_stage_run(task, self.eval_depth), task.qrels)
                run.record["metrics_before"] = (
                    evaluate_reranker(model, task, self.eval_depth, precision=self.precision)
                    if self.evaluate_base
                    else run.record["first_stage"]
                )
            if self.loss == "bce":
                weight = self.pos_weight if self.pos_weight is not None else float(self.negatives)
                loss = losses.BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(weight))
            elif self.loss == "mnrl":
                loss = losses.MultipleNegativesRankingLoss(model, num_negatives=self.negatives)
            else:
                loss = losses.CachedMultipleNegativesRankingLoss(
                    model, num_negatives=self.negatives, mini_batch_size=self.mini_batch_size
                )
            with tempfile.TemporaryDirectory(prefix=".trainer-", dir=run.dir) as scratch:
                args = CrossEncoderTrainingArguments(
                    **trainer_arguments(self, len(dataset), scratch, model.device.type)
                )
                started = time.perf_counter()
                output = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=loss).train()
                run.record["train_time_s"] = round(time.perf_counter() - started, 2)
            run.record["train_loss"] = float(output.training_loss)
            run.record["train_steps"] = int(output.global_step)
            if task is not None:
                started = time.perf_counter()
                scored = reranked_run(model, task, self.eval_depth, precision=self.precision)
                run.record["eval_time_s"] = round(time.perf_counter() - started, 2)
                run.record["metrics_after"] = retrieval_metrics(scored, task.qrels)
                run.record["interpolation"] = interpolation_curve(scored, first_stage_run(task, self.eval_depth), task.qrels)
                write_run(scored, run.dir / EVAL_RUN, tag="ragkit-reranker")
            model.save(str(run.dir))
            record = run.record
        return TuningResult(out_dir=str(out_dir), record=record)
