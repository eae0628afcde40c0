"""LoRA supervised fine-tuning of the generator LLM on QA pairs, closed-book or RAG-style.

Each pair becomes a chat in the exact format ragkit's generator uses at inference
(``ragkit.prompts``): closed-book = system instruction + question -> answer; RAG = numbered
contexts (the pair's passage shuffled among ``distractors`` hard negatives or random passages)
+ question -> answer citing the passage as ``[n]`` (retrieval-augmented fine-tuning, as in
RAFT). Only the answer tokens are learned (the prompt is masked). TRL's ``SFTTrainer`` trains
LoRA adapters (a peft ``LoraConfig``) on the attention and MLP projections, with a completion-only
loss on conversational prompt/completion rows and prompts cut from the left (``truncation_mode=
"keep_end"``) so that the answer is always learned; the output is a peft adapter dir
(``adapter_config.json`` points at the resolved base), which ``ragkit.models.load_causal_lm``
and the ``transformers`` LLM backend load directly; ``merge_adapter`` writes a merged model.

References: Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models"; Zhang et al.,
2024, "RAFT: Adapting Language Model to Domain Specific RAG" (training with distractors);
Balaguer et al., 2024, "RAG vs Fine-tuning: Pipelines, Tradeoffs, and a Case Study on Agriculture".
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

from ragkit.defaults import DEFAULT_LLM_MODEL
from ragkit.registry import Component, register
from ragkit.tuning.data import QAPair, data_hash
from ragkit.tuning.evaluate import token_f1
from ragkit.tuning.run import TUNING_FILE, TuningResult, set_seed, tuning_run

__all__ = ["GeneratorTuner", "MODES", "build_messages", "merge_adapter", "generate_answers"]

MODES = ("closed-book", "rag", "rag-reasoning")
_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def build_messages(pair: QAPair, mode: str, distractors: list[str], rng: random.Random) -> tuple[list[dict[str, str]], str]:
    """The (prompt messages, target answer) for one pair in ``mode``.

    In RAG mode the positive passage is placed at a random position among ``distractors`` and
    the target answer ends with its citation ``[n]`` (unless it already cites it). Mode
    ``rag-reasoning`` (Jin et al., 2024) shuffles the same way; its chat and target are in the
    ``ragkit.reasoning`` format: the gold passage's number, an evidence span copied from it, then
    the cited answer.
    """
    from ragkit import prompts, reasoning
    from ragkit.types import Chunk

    if mode == "closed-book":
        return prompts.closed_book_messages(pair.question), pair.answer.strip()
    passages = [(pair.positive or "", True)] + [(d, False) for d in distractors]
    rng.shuffle(passages)
    lines, cite = [], 1
    for n, (text, is_positive) in enumerate(passages, 1):
        source = (pair.source or "context") if is_positive else "context"
        lines.append(prompts.context_line(n, Chunk(text=text, source=source)))
        if is_positive:
            cite = n
    answer = pair.answer.strip()
    if mode == "rag-reasoning":
        span = reasoning.evidence_span(pair.positive or "", answer)
        return reasoning.reasoning_messages(pair.question, "\n".join(lines)), reasoning.build_target([cite], span, answer)
    if f"[{cite}]" not in answer:
        answer = answer.rstrip() + f" [{cite}]"
    return prompts.rag_messages(pair.question, "\n".join(lines)), answer


def generate_answers(model: Any, tok: Any, conversations: list[list[dict[str, str]]], max_new_tokens: int = 48,
                     batch_size: int = 8) -> list[str]:
    """Greedy answers for chat ``conversations`` (left-padded batches, cut at ragkit's stop strings)."""
    import torch

    from ragkit import prompts
    from ragkit.llm import apply_stop

    texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    out: list[str] = []
    model.eval()
    for start in range(0, len(texts), batch_size):
        enc = tok(texts[start : start + batch_size], padding=True, padding_side="left", add_special_tokens=False,
                  return_tensors="pt").to(model.device)
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None,
                                 top_k=None, pad_token_id=tok.pad_token_id)
        for text in tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True):
            out.append(apply_stop(text, prompts.STOP).strip())
    return out


@register("tuner", "generator")
class GeneratorTuner(Component):
    """LoRA SFT of a causal LM on QA pairs; the constructor holds the hyper-parameters.

    Args:
        base: base model reference (``"smollm2-135m"``, a local HF dir).
        mode: ``"closed-book"`` (question -> answer), ``"rag"`` (contexts + question -> cited
            answer) or ``"rag-reasoning"`` (contexts + question -> relevant passages, evidence, answer).
        distractors: RAG mode: distractor passages per example (the pair's ``negatives`` first,
            then random passages of other training pairs).
        epochs: passes over the training pairs.
        batch_size: examples per optimiser step.
        learning_rate: AdamW learning rate for the adapters.
        warmup_ratio: fraction of steps with linear warm-up (then linear decay).
        max_length: tokens per example (the prompt is cut from the left beyond it).
        lora_rank / lora_alpha / lora_dropout: LoRA settings.
        target_modules: layers to adapt; ``None``: the attention and MLP projections present.
        max_new_tokens: generation budget when evaluating.
        seed: seed for shuffling, dropout, distractor choice and initialisation.
        device: ``"cpu"``, ``"cuda"``; ``None`` picks cuda when available.
        progress: show a progress bar.
    """

    def __init__(
        self,
        base: str = DEFAULT_LLM_MODEL,
        mode: str = "closed-book",
        distractors: int = 2,
        epochs: float = 3.0,
        batch_size: int = 8,
        learning_rate: float = 3e-4,
        warmup_ratio: float = 0.1,
        max_length: int = 512,
        lora_rank: int = 16,
        lora_alpha: int = 32,
        lora_dropout: float = 0.05,
        target_modules: list[str] | None = None,
        max_new_tokens: int = 48,
        seed: int = 0,
        device: str | None = None,
        progress: bool = True,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.base = base
        self.mode = mode
        self.distractors = distractors
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.max_length = max_length
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.target_modules = target_modules
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.device = device
        self.progress = progress

    def examples(self, pairs: list[QAPair], pool: list[str] | None = None) -> list[tuple[list[dict[str, str]], str]]:
        """The (messages, answer) chats for ``pairs``; RAG distractors come from ``pool`` (default: the pairs' passages)."""
        rng = random.Random(self.seed)
        pool = pool if pool is not None else list(dict.fromkeys(p.positive for p in pairs if p.positive))
        out = []
        for p in pairs:
            distractors: list[str] = []
            if self.mode != "closed-book":
                distractors = [n for n in p.negatives if n != p.positive][: self.distractors]
                others = [t for t in pool if t != p.positive and t not in distractors]
                distractors += rng.sample(others, min(len(others), self.distractors - len(distractors)))
            out.append(build_messages(p, self.mode, distractors, rng))
        return out

    def _score(self, model: Any, tok: Any, chats: list[tuple[list[dict[str, str]], str]]) -> dict[str, Any]:
        answers = generate_answers(model, tok, [m for m, _ in chats], self.max_new_tokens)
        f1 = [token_f1(a, ref) for a, (_, ref) in zip(answers, chats)]
        return {"token_f1": round(sum(f1) / len(f1), 6), "n": len(f1), "samples": answers[:5]}

    def fit(self, train: list[QAPair], out_dir: str | Path, evaluation: list[QAPair] | None = None,
            pool: list[str] | None = None) -> TuningResult:
        """Train LoRA adapters on ``train`` and write the adapter dir (+ ``ragkit-tuning.json``) to ``out_dir``.

        Args:
            train: pairs with non-empty answers (and a passage, in RAG mode).
            out_dir: adapter directory, created or replaced only when training succeeds.
            evaluation: held-out pairs; mean token-F1 of greedy answers (in ``mode``) is
                measured before and after training.
            pool: passages to draw RAG distractors from (default: the training passages).

        Returns:
            The ``TuningResult``.

        Raises:
            ValueError: no usable pair.
        """
        import torch
        from peft import LoraConfig

        from ragkit.models import load_causal_lm, resolve

        usable = [p for p in train if p.answer.strip() and (self.mode == "closed-book" or p.positive)]
        if not usable:
            raise ValueError("no usable training pair: each needs an answer (and a passage in RAG mode)")
        set_seed(self.seed)
        base_dir = resolve(self.base)
        model, tok = load_causal_lm(base_dir, self.device)  # fp32, pad token set
        chats = self.examples(usable, pool)
        eval_chats = self.examples(evaluation, pool) if evaluation else None
        with tuning_run(out_dir, "generator", self.base, self.to_config(), data_hash(usable), len(usable), self.seed) as run:
            run.record["mode"] = self.mode
            if eval_chats:
                run.record["metrics_before"] = self._score(model, tok, eval_chats)
            linear = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
            targets = self.target_modules or [t for t in _TARGETS if t in linear]
            lora = LoraConfig(r=self.lora_rank, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                              target_modules=targets, task_type="CAUSAL_LM")
            started = time.perf_counter()
            model, losses = self._train(model, tok, chats, lora)
            run.record["train_time_s"] = round(time.perf_counter() - started, 2)
            run.record["train_loss_first"], run.record["train_loss_last"] = losses[0], losses[-1]
            run.record["train_steps"] = len(losses)
            if eval_chats:
                run.record["metrics_after"] = self._score(model, tok, eval_chats)
            model.save_pretrained(str(run.dir))
            tok.save_pretrained(str(run.dir))
            _point_at_base(run.dir, base_dir)
            record = run.record
        return TuningResult(out_dir=str(out_dir), record=record)

    def _train(self, model: Any, tok: Any, chats: list[tuple[list[dict[str, str]], str]], lora: Any) -> tuple[Any, list[float]]:
        """TRL ``SFTTrainer`` over the chats; (the peft model, the loss of every step)."""
        import tempfile
        import warnings

        from datasets import Dataset
        from transformers import PrinterCallback
        from trl import SFTConfig, SFTTrainer

        rows = [{"prompt": messages, "completion": [{"role": "assistant", "content": answer}]} for messages, answer in chats]
        total = max(1, math.ceil(math.ceil(len(rows) / self.batch_size) * self.epochs))
        with tempfile.TemporaryDirectory(prefix="ragkit-sft-") as scratch, warnings.catch_warnings():
            # keep_end (cut the prompt, never the answer) is what RAG chats with long passages need; TRL 1.x
            # marks it deprecated for 2.0, hence trl<2 in the tune extra
            warnings.filterwarnings("ignore", message=".*'keep_end'.*truncation mode", category=FutureWarning)
            # transformers 5 renamed gradient -> activation checkpointing; TRL/peft 1.x still ask by the old name
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            args = SFTConfig(
                output_dir=scratch, max_steps=total, per_device_train_batch_size=self.batch_size,
                learning_rate=self.learning_rate, lr_scheduler_type="linear",
                warmup_steps=math.ceil(total * self.warmup_ratio), weight_decay=0.0, max_grad_norm=1.0,
                seed=self.seed, data_seed=self.seed, max_length=self.max_length, truncation_mode="keep_end",
                completion_only_loss=True, packing=False, activation_checkpointing=False, bf16=False, fp16=False,
                use_cpu=str(model.device) == "cpu", logging_steps=1, save_strategy="no", report_to="none",
                disable_tqdm=True, dataloader_num_workers=0,
            )
            trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                                 peft_config=lora)
            # one ragkit bar with the loss instead of the trainer's own bar and its printed log dicts
            trainer.remove_callback(PrinterCallback)
            trainer.add_callback(_loss_bar(total, self.progress))
            trainer.train()
        losses = [round(float(h["loss"]), 5) for h in trainer.state.log_history if "loss" in h]
        model = trainer.model
        model.eval()
        return model, losses


def _loss_bar(total: int, enabled: bool) -> Any:
    """A ``TrainerCallback`` drawing one tqdm bar with the loss (transformers is imported only when training)."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class LossBar(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar = tqdm(total=total, desc="lora", disable=not enabled)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}")

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.update(1)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.close()

    return LossBar()


def _point_at_base(adapter_dir: Path, base_dir: str) -> None:
    """Make ``adapter_config.json`` name the resolved base dir (what ``load_causal_lm`` loads)."""
    path = Path(adapter_dir) / "adapter_config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = str(base_dir)
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True), encoding="utf-8")


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path) -> str:
    """Merge a LoRA adapter into its base and save a plain transformers model dir (atomically).

    Args:
        adapter_dir: a dir written by ``GeneratorTuner.fit``.
        out_dir: where the merged model goes (created or replaced on success).

    Returns:
        ``str(out_dir)``.

    Raises:
        FileNotFoundError: ``adapter_dir`` has no ``adapter_config.json``.
    """
    from transformers import AutoTokenizer

    from ragkit.indexes.atomic import atomic_dir, atomic_write_text
    from ragkit.models import load_causal_lm, resolve

    adapter_dir = Path(adapter_dir)
    cfg_path = adapter_dir / "adapter_config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{adapter_dir} has no adapter_config.json; pass a dir written by `ragkit tune generator`")
    base_dir = resolve(json.loads(cfg_path.read_text(encoding="utf-8"))["base_model_name_or_path"])
    peft_model, _ = load_causal_lm(str(adapter_dir), "cpu")  # fp32 base + the adapter
    merged = peft_model.merge_and_unload()
    tok_dir = adapter_dir if (adapter_dir / "tokenizer_config.json").is_file() else Path(base_dir)
    with atomic_dir(out_dir, copy_existing=False) as tmp:
        merged.save_pretrained(str(tmp))
        AutoTokenizer.from_pretrained(str(tok_dir)).save_pretrained(str(tmp))
        record_path = adapter_dir / TUNING_FILE
        record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
        record["merged_from"] = str(adapter_dir.resolve())
        atomic_write_text(tmp / TUNING_FILE, json.dumps(record, indent=2, sort_keys=True))
    return str(out_dir)
