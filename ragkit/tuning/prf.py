"""Train a dense PRF query encoder against a frozen document index, with or without LoL.

For every training query the encoder is run once per feedback depth ``k`` in ``depths``
(``k = 0``: the query alone; ``k``: the query plus its top-``k`` first-stage passages,
``ragkit.rewriters.lol.prf_input``). Each revision's *reformulation loss* is a softmax cross
entropy over the whole frozen corpus (``reformulation_losses``): the query vector's inner products
with every document vector over a temperature, the target being the query's lowest-scored
relevant document with its other relevant documents masked out (as in the LoL code's passage
ranking loss). The LoL *comparative regulariser* (``comparative_regularization``) penalises every
pair of nested feedback sets where the deeper revision has the larger loss::

    L_cr = mean over pairs (i, j), depth_i < depth_j, of max(0, L_j - L_i)

and the training loss is ``mean_k L_k + lambda_cr * L_cr``; ``lambda_cr = 0`` is the ablation.

Departures from the paper (Zhu et al. 2022):

- the encoder is MiniLM (sentence-transformers mean pooling) fine-tuned in place, not
  ANCE/uniCOIL with an extra projection head; the document vectors are the index's own;
- the first-stage feedback of each training query is the *base* encoder's ranking, computed
  once before training (the paper also retrieves feedback with the base retriever);
- the depths are a configurable set (default 0, 1, 3, 5) rather than all of 0..5, to save
  compute; the hinge has no margin and is averaged over pairs and queries, as the authors'
  ``pairwise_hinge(..., margin=0, reduction="mean")``; ``lambda_cr`` defaults to 1.0 (the paper
  tunes it; its code's default is 0, i.e. off);
- no query-ranking or feedback-reranking auxiliary losses (``lambda_qr = lambda_rr = 0``).

Interrupted training leaves nothing half-written (``ragkit.tuning.run.tuning_run``).

References: Zhu et al. 2022, "LoL: A Comparative Regularization Loss over Query Reformulation
Losses for Pseudo-Relevance Feedback" (SIGIR); Yu et al. 2021, "Improving Query Representations
for Dense Retrieval with Pseudo Relevance Feedback" (ANCE-PRF).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.indexes.atomic import atomic_write_text
from ragkit.registry import Component, register
from ragkit.rewriters.lol import PRF_FILE, prf_input
from ragkit.tuning.run import TuningResult, set_seed, tuning_run

__all__ = ["PRFTuner", "PRFTask", "comparative_regularization", "reformulation_losses"]


@dataclass
class PRFTask:
    """Training (or evaluation) queries over a frozen corpus.

    Attributes:
        queries: ``{query_id: text}``.
        qrels: ``{query_id: {doc_id: relevance}}``.
        doc_ids: the corpus ids, in the row order of ``doc_vectors``.
        doc_texts: ``{doc_id: text}`` (feedback passages are read from it).
        doc_vectors: ``(len(doc_ids), dim)`` unit-length document vectors of the index.
    """

    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    doc_ids: list[str]
    doc_texts: dict[str, str]
    doc_vectors: Any


def comparative_regularization(losses: Any) -> Any:
    """LoL's regulariser over per-depth losses, ``(queries, depths)`` with depths ascending.

    ``mean over queries and pairs i < j of max(0, losses[:, j] - losses[:, i])``: zero when every
    deeper revision's loss is at most every shallower one's, positive otherwise.

    Example: losses ``[[1.0, 2.0, 0.5]]`` -> pairs (0,1): 1.0, (0,2): 0, (1,2): 0 -> 1/3.
    """
    import torch

    losses = torch.as_tensor(losses)
    n = losses.shape[1]
    if n < 2:
        return losses.new_zeros(())
    i, j = torch.triu_indices(n, n, offset=1)
    return torch.relu(losses[:, j] - losses[:, i]).mean()


def reformulation_losses(query_vectors: Any, doc_matrix: Any, positives: list[list[int]], temperature: float) -> Any:
    """Per-query cross entropy over the whole corpus, target = the lowest-scored positive (others masked)."""
    import torch

    scores = query_vectors @ doc_matrix.T / temperature  # (Q, N)
    targets, masked = [], scores.clone()
    for q, pos in enumerate(positives):
        pos_t = torch.tensor(pos, device=scores.device)
        target = pos_t[scores[q, pos_t].argmin()]
        targets.append(int(target))
        for p in pos:
            if p != int(target):
                masked[q, p] = float("-inf")
    return torch.nn.functional.cross_entropy(masked, torch.tensor(targets, device=scores.device), reduction="none")


@register("tuner", "prf")
class PRFTuner(Component):
    """Fine-tune a PRF query encoder (query + feedback passages -> query vector); hyper-parameters here.

    Args:
        base: base encoder (the model the index was built with, e.g. ``"minilm"``).
        depths: feedback depths trained together (ascending, distinct, >= 0).
        lambda_cr: weight of the LoL comparative regulariser (0: the plain multi-depth ablation).
        temperature: softmax temperature of the reformulation loss (cosine scores).
        max_chars: characters kept of each feedback passage.
        max_seq_length: tokens of the whole input.
        epochs: passes over the training queries (fractions allowed), reshuffled each pass.
        max_steps: stop after this many optimiser steps (``None``: the epochs decide).
        batch_size: queries per step; each step runs one forward pass per depth over the batch
            (inputs of one depth have similar lengths, so little padding is wasted).
        learning_rate: AdamW learning rate (linear warm-up over 10 % of the steps, then constant).
        seed: seed for shuffling and dropout.
        device: ``"cpu"``, ``"cuda"``; ``None`` picks cuda when available.
        progress: show a progress bar.

    Raises:
        ValueError: bad depths, a negative ``lambda_cr``, ``epochs <= 0``, ``max_steps < 1`` or
            ``batch_size < 1``.
    """

    def __init__(
        self,
        base: str = DEFAULT_EMBEDDER,
        depths: Sequence[int] = (0, 1, 3, 5),
        lambda_cr: float = 1.0,
        temperature: float = 0.05,
        max_chars: int = 300,
        max_seq_length: int = 256,
        epochs: float = 1.0,
        max_steps: int | None = None,
        batch_size: int = 8,
        learning_rate: float = 2e-5,
        seed: int = 0,
        device: str | None = None,
        progress: bool = True,
    ):
        depths = [int(d) for d in depths]
        if not depths or sorted(set(depths)) != depths or depths[0] < 0:
            raise ValueError(f"depths must be distinct, ascending and >= 0, got {depths}")
        if lambda_cr < 0:
            raise ValueError(f"lambda_cr must be >= 0, got {lambda_cr}")
        if epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {epochs}")
        if (max_steps is not None and max_steps < 1) or batch_size < 1:
            raise ValueError(f"max_steps and batch_size must be >= 1, got {max_steps}, {batch_size}")
        self.base = base
        self.depths = depths
        self.lambda_cr = lambda_cr
        self.temperature = temperature
        self.max_chars = max_chars
        self.max_seq_length = max_seq_length
        self.epochs = epochs
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.device = device
        self.progress = progress

    def usable_queries(self, task: PRFTask) -> tuple[list[str], dict[str, Any]]:
        """The query ids that can be trained on, and what was left out and why (counts + a few ids).

        A query is skipped when it has no text, no judgement with relevance > 0, or none of its
        relevant documents is in the corpus (the frozen index); judged documents missing from
        the corpus are counted even when the query keeps others.
        """
        corpus = set(task.doc_ids)
        reasons: dict[str, list[str]] = {"no_relevant_judgement": [], "relevant_documents_not_in_index": [],
                                         "qrels_without_query_text": []}
        kept, missing_docs = [], 0
        for qid in task.queries:
            relevant = [d for d, r in task.qrels.get(qid, {}).items() if r > 0]
            present = [d for d in relevant if d in corpus]
            missing_docs += len(relevant) - len(present)
            if not relevant:
                reasons["no_relevant_judgement"].append(qid)
            elif not present:
                reasons["relevant_documents_not_in_index"].append(qid)
            else:
                kept.append(qid)
        reasons["qrels_without_query_text"] = [q for q in task.qrels if q not in task.queries]
        skipped: dict[str, Any] = {k: len(v) for k, v in reasons.items()}
        skipped["relevant_judgements_not_in_index"] = missing_docs
        skipped["examples"] = {k: v[:5] for k, v in reasons.items() if v}
        return kept, skipped

    def _examples(self, task: PRFTask, qids: list[str], model: Any, sep: str) -> list[tuple[str, list[str], list[int]]]:
        """(qid, input text per depth, positive rows) per query; feedback = the base encoder's top passages."""
        row = {d: i for i, d in enumerate(task.doc_ids)}
        q_vectors = model.encode([task.queries[q] for q in qids], batch_size=64, normalize_embeddings=True,
                                 show_progress_bar=False)
        docs = np.asarray(task.doc_vectors, dtype=np.float32)
        top = np.argsort(-(np.asarray(q_vectors) @ docs.T), axis=1)[:, : max(self.depths)]
        out = []
        for qid, ranked in zip(qids, top):
            passages = [task.doc_texts[task.doc_ids[i]] for i in ranked]
            texts = [prf_input(task.queries[qid], passages[:k], sep, self.max_chars) for k in self.depths]
            out.append((qid, texts, [row[d] for d, r in task.qrels[qid].items() if d in row and r > 0]))
        return out

    def total_steps(self, n_examples: int) -> int:
        """Optimiser steps for ``n_examples`` queries: ``ceil(epochs * batches per epoch)``, capped by ``max_steps``."""
        steps = max(1, math.ceil(self.epochs * math.ceil(n_examples / self.batch_size)))
        return steps if self.max_steps is None else min(steps, self.max_steps)

    def fit(self, train: PRFTask, out_dir: str | Path) -> TuningResult:
        """Train on ``train`` and write the encoder (+ ``prf.json``, ``ragkit-tuning.json``) to ``out_dir``.

        The record says how many queries were trained on and which were skipped, by reason
        (``record["skipped"]``; nothing is dropped silently), the steps and epochs run, the
        mean loss per depth over the last epoch's steps, and the per-step history.

        Raises:
            ValueError: no usable training query, or document vectors of the wrong shape.
        """
        import torch

        from ragkit.models import load_sentence_transformer

        docs = np.asarray(train.doc_vectors, dtype=np.float32)
        if docs.ndim != 2 or docs.shape[0] != len(train.doc_ids):
            raise ValueError(f"doc_vectors has shape {docs.shape}; expected ({len(train.doc_ids)}, dim)")
        qids, skipped = self.usable_queries(train)
        if not qids:
            raise ValueError(f"no training query has a relevant document in the index ({skipped}); "
                             "check that the qrels' document ids are the index's chunk ids")
        set_seed(self.seed)
        model = load_sentence_transformer(self.base, self.device)
        model.max_seq_length = self.max_seq_length
        sep = model.tokenizer.sep_token or "|"
        examples = self._examples(train, qids, model, sep)
        digest = hashlib.sha256(json.dumps([[q, t, p] for q, t, p in examples]).encode("utf-8")).hexdigest()
        doc_matrix = torch.as_tensor(docs, device=model.device)
        with tuning_run(out_dir, "prf", self.base, self.to_config(), digest, len(examples), self.seed) as run:
            run.record["skipped"] = skipped
            history = self._train(model, examples, doc_matrix)
            per_epoch = math.ceil(len(examples) / self.batch_size)
            last = history["by_depth"][-per_epoch:]
            run.record.update({
                "train_steps": len(history["loss"]),
                "epochs_run": round(len(history["loss"]) / per_epoch, 3),
                "train_loss": history["loss"][-1],
                "loss_by_depth": {str(d): round(float(np.mean([s[i] for s in last])), 4) for i, d in enumerate(self.depths)},
                "loss_history": history["loss"],
                "loss_by_depth_history": history["by_depth"],
                "train_time_s": history["seconds"],
            })
            model.save(str(run.dir))
            atomic_write_text(run.dir / PRF_FILE, json.dumps(
                {"sep": sep, "max_chars": self.max_chars, "depths": self.depths, "lambda_cr": self.lambda_cr}, indent=2))
            record = run.record
        return TuningResult(out_dir=str(out_dir), record=record)

    def _batches(self, n_examples: int) -> list[list[int]]:
        """Example indices per step: shuffled epochs cut into batches (the last one of an epoch may be short)."""
        rng = random.Random(self.seed)
        steps, batches = self.total_steps(n_examples), []
        while len(batches) < steps:
            order = list(range(n_examples))
            rng.shuffle(order)
            batches += [order[lo : lo + self.batch_size] for lo in range(0, n_examples, self.batch_size)]
        return batches[:steps]

    def _encode(self, model: Any, texts: list[str]) -> Any:
        import torch

        features = model.preprocess(texts) if hasattr(model, "preprocess") else model.tokenize(texts)
        features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()}
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    def _train(self, model: Any, examples: list, doc_matrix: Any) -> dict[str, Any]:
        import torch
        from tqdm.auto import tqdm

        batches = self._batches(len(examples))
        params = [p for p in model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(params, lr=self.learning_rate)
        warmup = max(1, len(batches) // 10)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, (s + 1) / warmup))
        model.train()
        history: dict[str, Any] = {"loss": [], "by_depth": []}
        started = time.perf_counter()
        for indices in tqdm(batches, desc="prf", disable=not self.progress):
            batch = [examples[i] for i in indices]
            positives = [p for _, _, p in batch]
            per = torch.stack([  # (Q, D): one forward pass per depth
                reformulation_losses(self._encode(model, [texts[d] for _, texts, _ in batch]), doc_matrix,
                                     positives, self.temperature)
                for d in range(len(self.depths))
            ], dim=1)
            loss = per.mean()
            if self.lambda_cr > 0:
                loss = loss + self.lambda_cr * comparative_regularization(per)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            history["loss"].append(round(float(loss.detach()), 5))
            history["by_depth"].append([round(float(x), 4) for x in per.detach().mean(dim=0)])
        model.eval()
        history["seconds"] = round(time.perf_counter() - started, 2)
        return history
