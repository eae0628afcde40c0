"""Fine-tune a dense retriever (bi-encoder) on (question, positive[, hard negatives]) pairs.

Training uses sentence-transformers' ``SentenceTransformerTrainer`` with the in-batch-negatives
ranking loss (MultipleNegativesRankingLoss; ``loss="cached-mnrl"`` for GradCache, which allows
large batches in little memory) and a no-duplicates batch sampler, so a passage never appears
twice in a batch (it would be a false in-batch negative). Hard negatives from
``ragkit.tuning.negatives`` are added as extra columns. ``lora=True`` trains LoRA adapters
(peft) on the attention projections and saves them as adapters: the output directory holds
``adapter_config.json`` (naming the resolved base) and the adapter weights beside the
sentence-transformers modules, a few MB instead of a full copy; sentence-transformers,
transformers and ragkit's encoders (torch and ONNX) load it as it is (``ragkit index
--embedder DIR``). ``merge_lora=True`` merges them into the weights before saving instead
(a plain SentenceTransformer directory that needs no peft).

References: Henderson et al., 2017, "Efficient Natural Language Response Suggestion for Smart
Reply" (MultipleNegativesRankingLoss); Gao et al., 2021, "Scaling Deep Contrastive Learning Batch
Size under Memory Limited Setup" (GradCache / CachedMNRL); Hu et al., 2021, "LoRA: Low-Rank
Adaptation of Large Language Models".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.precision import autocast, check_precision
from ragkit.registry import Component, register
from ragkit.tuning.data import QAPair, data_hash
from ragkit.tuning.evaluate import RetrievalTask, dense_run, retrieval_metrics
from ragkit.tuning.run import TuningResult, set_seed, trainer_arguments, tuning_run

__all__ = ["RetrieverTuner", "LOSSES", "evaluate_embedder"]

LOSSES = ("mnrl", "cached-mnrl")


def evaluate_embedder(
    model: Any, task: RetrievalTask, k: int = 100, batch_size: int = 64, precision: str = "auto"
) -> dict[str, float]:
    """Dense-retrieval metrics of a SentenceTransformer on ``task`` (cosine, top ``k``)."""

    def encode(texts: list[str]) -> Any:
        with autocast(precision, model.device.type):
            vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_tensor=True,
                                   show_progress_bar=len(texts) > 1000)
        return vectors.float().cpu().numpy()

    return retrieval_metrics(dense_run(encode, task, k=k), task.qrels)


@register("tuner", "retriever")
class RetrieverTuner(Component):
    """Fine-tune a SentenceTransformer embedder; the constructor holds the hyper-parameters.

    Args:
        base: base embedder reference (``"minilm"``, a SentenceTransformer dir, a hub id online).
        epochs: passes over the training pairs.
        batch_size: pairs per batch (in-batch negatives: bigger is better).
        learning_rate: AdamW learning rate (LoRA uses ~10x the full-model rate).
        warmup_ratio: fraction of steps with linear warm-up.
        max_seq_length: tokens per text (longer passages are truncated).
        loss: ``"mnrl"`` or ``"cached-mnrl"`` (same loss, GradCache memory saving).
        mini_batch_size: GradCache chunk size for ``cached-mnrl``.
        hard_negatives: negatives per pair used from ``QAPair.negatives`` (0 = in-batch only);
            pairs with fewer negatives are dropped when this is > 0.
        lora: train LoRA adapters instead of all weights (saved as adapters).
        merge_lora: merge the LoRA adapters into the weights before saving.
        lora_rank / lora_alpha / lora_dropout: LoRA settings.
        seed: seed for shuffling, dropout and initialisation.
        device: ``"cpu"``, ``"cuda"``; ``None`` picks cuda when available.
        eval_k: retrieval depth for the before/after metrics.
        precision: ``"auto"`` (bf16 mixed precision where the hardware computes bf16 natively,
            else fp32), ``"fp32"`` or ``"bf16"``; used for training and evaluation.
        progress: show progress bars.
    """

    def __init__(
        self,
        base: str = DEFAULT_EMBEDDER,
        epochs: float = 1.0,
        batch_size: int = 32,
        learning_rate: float = 5e-5,
        warmup_ratio: float = 0.1,
        max_seq_length: int = 256,
        loss: str = "mnrl",
        mini_batch_size: int = 16,
        hard_negatives: int = 0,
        lora: bool = False,
        merge_lora: bool = False,
        lora_rank: int = 16,
        lora_alpha: int = 32,
        lora_dropout: float = 0.1,
        seed: int = 0,
        device: str | None = None,
        eval_k: int = 100,
        precision: str = "auto",
        progress: bool = True,
    ):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; use one of {LOSSES}")
        if batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 for in-batch negatives, got {batch_size}")
        self.base = base
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.max_seq_length = max_seq_length
        self.loss = loss
        self.mini_batch_size = mini_batch_size
        self.hard_negatives = hard_negatives
        self.lora = lora
        self.merge_lora = merge_lora
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.seed = seed
        self.device = device
        self.eval_k = eval_k
        self.precision = check_precision(precision)
        self.progress = progress

    def _dataset(self, pairs: list[QAPair]) -> Any:
        from datasets import Dataset

        columns: dict[str, list[str]] = {"anchor": [], "positive": []}
        for j in range(self.hard_negatives):
            columns[f"negative_{j + 1}"] = []
        for p in pairs:
            if p.positive is None or (self.hard_negatives and len(p.negatives) < self.hard_negatives):
                continue
            columns["anchor"].append(p.question)
            columns["positive"].append(p.positive)
            for j in range(self.hard_negatives):
                columns[f"negative_{j + 1}"].append(p.negatives[j])
        if len(columns["anchor"]) < 2:
            raise ValueError(
                f"only {len(columns['anchor'])} usable training pair(s) (a question with a positive passage"
                + (f" and {self.hard_negatives} negatives" if self.hard_negatives else "")
                + "); give pairs with contexts or chunk_ids, or mine negatives first"
            )
        return Dataset.from_dict(columns)

    def _load(self) -> Any:
        from ragkit.models import load_sentence_transformer

        model = load_sentence_transformer(self.base, self.device)
        model.max_seq_length = self.max_seq_length
        return model

    def fit(self, train: list[QAPair], out_dir: str | Path, evaluation: RetrievalTask | None = None) -> TuningResult:
        """Train on ``train`` and write the tuned model (plus ``ragkit-tuning.json``) to ``out_dir``.

        Args:
            train: pairs with a positive passage (``contexts[0]``) and, if ``hard_negatives``,
                that many ``negatives``.
            out_dir: model directory, created or replaced only when training succeeds.
            evaluation: optional task scored before and after training (dense retrieval).

        Returns:
            The ``TuningResult`` (output dir and record).

        Raises:
            ValueError: fewer than two usable pairs.
        """
        import tempfile

        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from sentence_transformers.base.sampler import BatchSamplers
        from sentence_transformers.sentence_transformer import losses

        dataset = self._dataset(train)
        set_seed(self.seed)
        model = self._load()
        with tuning_run(out_dir, "retriever", self.base, self.to_config(), data_hash(train), len(dataset), self.seed) as run:
            if evaluation is not None:
                run.record["metrics_before"] = evaluate_embedder(model, evaluation, self.eval_k, precision=self.precision)
            module = model[0]
            if self.lora:
                from peft import LoraConfig, get_peft_model

                module.model = get_peft_model(
                    module.model,
                    LoraConfig(r=self.lora_rank, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                               target_modules=_attention_targets(module.model)),
                )
            if self.loss == "mnrl":
                loss = losses.MultipleNegativesRankingLoss(model)
            else:
                loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=self.mini_batch_size,
                                                                 show_progress_bar=False)
            with tempfile.TemporaryDirectory(prefix=".trainer-", dir=run.dir) as scratch:
                args = SentenceTransformerTrainingArguments(
                    **trainer_arguments(self, len(dataset), scratch, model.device.type),
                    batch_sampler=BatchSamplers.NO_DUPLICATES,
                    dataloader_drop_last=False,
                )
                trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
                started = time.perf_counter()
                output = trainer.train()
                run.record["train_time_s"] = round(time.perf_counter() - started, 2)
            if self.lora and self.merge_lora:
                module.model = module.model.merge_and_unload()
            elif self.lora:
                run.record["adapter"] = {"base": module.model.peft_config["default"].base_model_name_or_path}
            run.record["train_loss"] = float(output.training_loss)
            run.record["train_steps"] = int(output.global_step)
            if evaluation is not None:
                run.record["metrics_after"] = evaluate_embedder(model, evaluation, self.eval_k, precision=self.precision)
            model.save(str(run.dir))
            record = run.record
        return TuningResult(out_dir=str(out_dir), record=record)


def _attention_targets(model: Any) -> list[str]:
    """Names of the attention projection layers LoRA adapts (BERT: query/key/value; others: q/k/v_proj)."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    for group in (["query", "key", "value"], ["q_proj", "k_proj", "v_proj"], ["q_lin", "k_lin", "v_lin"]):
        if set(group) <= names:
            return group
    raise ValueError(
        f"cannot find attention projections for LoRA in {type(model).__name__} (linear layers: {sorted(names)}); "
        "train the full model instead (lora=False)"
    )
