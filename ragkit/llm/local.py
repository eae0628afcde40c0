"""A local causal LM through transformers (default: the bundled SmolLM2-135M), batched with left padding."""

from __future__ import annotations

from typing import Any

from ragkit.llm.base import LLM, LLMError, Message, apply_stop, check_conversations
from ragkit.registry import register

__all__ = ["TransformersLLM"]


@register("llm", "transformers")
class TransformersLLM(LLM):
    """A local causal LM through transformers, batched with left padding.

    Args:
        model: model reference for ``ragkit.models.load_causal_lm`` (bundled name, local dir,
            peft adapter dir, or hub id when online).
        device: ``"cpu"``, ``"cuda"`` …; ``None`` picks cuda when available.
        temperature: 0 means greedy decoding (deterministic); > 0 samples, seeded by ``seed``.
        seed: torch seed set (in a forked RNG state) before each sampled batch.
        max_new_tokens: default generation budget per prompt.
        batch_size: prompts per ``generate`` call (prompts are grouped by length first).
    """

    def __init__(
        self,
        model: str = "smollm2-135m",
        device: str | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        max_new_tokens: int = 256,
        batch_size: int = 8,
    ):
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.device = device
        self.temperature = temperature
        self.seed = seed
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self._loaded: tuple[Any, Any] | None = None

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from ragkit.models import load_causal_lm

            self._loaded = load_causal_lm(self.model, self.device)
        return self._loaded

    @property
    def context_window(self) -> int:
        model, _ = self._load()
        return int(getattr(model.config, "max_position_embeddings", 2048))

    def count_tokens(self, text: str) -> int:
        _, tok = self._load()
        return len(tok(text, add_special_tokens=False)["input_ids"])

    def complete(
        self, prompts: list[str], max_new_tokens: int | None = None, stop: list[str] | None = None
    ) -> list[str]:
        return self._generate(list(prompts), max_new_tokens, stop, add_special_tokens=True)

    def chat(
        self,
        conversations: list[list[Message]],
        max_new_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> list[str]:
        check_conversations(conversations)
        _, tok = self._load()
        if not getattr(tok, "chat_template", None):
            raise LLMError(
                f"model {self.model!r} has no chat template; use complete() with a raw prompt "
                "or an instruction-tuned model"
            )
        # Rendered to text, then tokenized together so the batch is left-padded (the template
        # already holds the special tokens, so none are added again).
        texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
        return self._generate(texts, max_new_tokens, stop, add_special_tokens=False)

    def _generate(
        self, texts: list[str], max_new_tokens: int | None, stop: list[str] | None, add_special_tokens: bool
    ) -> list[str]:
        import torch

        if not texts:
            return []
        model, tok = self._load()
        budget = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        window = self.context_window
        lengths = [len(ids) for ids in tok(texts, add_special_tokens=add_special_tokens)["input_ids"]]
        for i, n in enumerate(lengths):
            if n + budget > window:
                raise ValueError(
                    f"prompt {i} has {n} tokens; with max_new_tokens={budget} it exceeds the "
                    f"model's context window ({window}); shorten the prompt or the contexts"
                )
        # Group prompts of similar length (less padding); outputs go back in input order.
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        outputs: list[str] = [""] * len(texts)
        sample = self.temperature > 0
        gen_kwargs: dict[str, Any] = {"max_new_tokens": budget, "pad_token_id": tok.pad_token_id}
        if sample:
            gen_kwargs.update(do_sample=True, temperature=self.temperature, top_p=1.0, top_k=0)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            gen_kwargs.update(stop_strings=[s for s in stop if s], tokenizer=tok)
        devices = [model.device] if model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if sample:
                torch.manual_seed(self.seed)
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = tok(
                    [texts[i] for i in idx],
                    padding=True,
                    padding_side="left",
                    add_special_tokens=add_special_tokens,
                    return_tensors="pt",
                ).to(model.device)
                try:
                    with torch.inference_mode():
                        out = model.generate(**enc, **gen_kwargs)
                except (RuntimeError, ValueError) as exc:
                    raise LLMError(f"generation with {self.model!r} failed: {exc}") from exc
                new = out[:, enc["input_ids"].shape[1] :]
                for i, text in zip(idx, tok.batch_decode(new, skip_special_tokens=True)):
                    outputs[i] = apply_stop(text, stop).strip()
        return outputs
