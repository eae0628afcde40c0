"""A local causal LM through transformers (default: the bundled SmolLM2-135M), batched with left padding.

What this backend does that the llama.cpp one does not: peft LoRA adapter directories (what
``ragkit tune generator`` writes), token log-probabilities (``supports_logprobs``: the LLM
reranker's P(yes) and query likelihood), bf16 and GPUs through torch. It runs the GGUF's
weights dequantised to fp32 (converted once); ``ragkit.llm.llama_cpp`` runs the GGUF itself,
several times faster on a CPU.
"""

from __future__ import annotations

from typing import Any, Iterator

from ragkit.defaults import DEFAULT_LLM_MODEL
from ragkit.llm.base import LLM, LLMError, Message, StopFilter, apply_stop, check_conversations
from ragkit.precision import check_precision
from ragkit.registry import register

__all__ = ["TransformersLLM"]


@register("llm", "transformers")
class TransformersLLM(LLM):
    """A local causal LM through transformers, batched with left padding.

    Args:
        model: model reference for ``ragkit.models.load_causal_lm`` (bundled name, local dir,
            peft adapter dir, or hub id when online).
        device: ``"cpu"``, ``"cuda"`` …; ``None`` picks cuda when available.
        precision: weights' dtype: ``"fp32"`` (default), ``"bf16"`` or ``"auto"`` (``ragkit.precision``).
        temperature: 0 means greedy decoding (deterministic); > 0 samples, seeded by ``seed``.
        seed: torch seed set (in a forked RNG state) before each sampled batch.
        max_new_tokens: default generation budget per prompt.
        batch_size: prompts per ``generate`` call (prompts are grouped by length first).

    Raises:
        ValueError: a negative temperature, a batch size below 1, or an unknown precision.
    """

    supports_logprobs = True
    supports_json_schema = True

    def __init__(
        self,
        model: str = DEFAULT_LLM_MODEL,
        device: str | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        max_new_tokens: int = 256,
        batch_size: int = 8,
        precision: str = "fp32",
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
        self.precision = check_precision(precision)
        self._loaded: tuple[Any, Any] | None = None
        self._token_table: Any = None  # lm-format-enforcer's table of the tokenizer, built on first chat_json

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from ragkit.models import load_causal_lm

            self._loaded = load_causal_lm(self.model, self.device, self.precision)
        return self._loaded

    def warm_up(self) -> None:
        """Load the model now (otherwise it loads on first use)."""
        self._load()

    @property
    def context_window(self) -> int:
        model, _ = self._load()
        return int(getattr(model.config, "max_position_embeddings", 2048))

    def count_tokens(self, text: str) -> int:
        _, tok = self._load()
        return len(tok(text, add_special_tokens=False)["input_ids"])

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut to its first ``max_tokens`` tokens (decoded back to text)."""
        _, tok = self._load()
        ids = tok.encode(text, add_special_tokens=False)
        return text if len(ids) <= max_tokens else tok.decode(ids[:max_tokens])

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
        # Rendered to text, then tokenized together so the batch is left-padded (the template
        # already holds the special tokens, so none are added again).
        return self._generate(self._render(conversations), max_new_tokens, stop, add_special_tokens=False)

    def chat_json(
        self, conversations: list[list[Message]], schema: dict, max_new_tokens: int | None = None
    ) -> list[str]:
        """``chat`` decoding only tokens that keep the reply valid JSON for ``schema`` (lm-format-enforcer)."""
        from ragkit.llm.structured import TokenTable, prefix_allowed_tokens

        texts = self._render(conversations)
        if self._token_table is None:
            self._token_table = TokenTable(self._load()[1])
        return self._generate(texts, max_new_tokens, None, add_special_tokens=False,
                              prefix_fn=prefix_allowed_tokens(self._token_table, schema))

    def _render(self, conversations: list[list[Message]]) -> list[str]:
        check_conversations(conversations)
        _, tok = self._load()
        if not getattr(tok, "chat_template", None):
            raise LLMError(
                f"model {self.model!r} has no chat template; use complete() with a raw prompt "
                "or an instruction-tuned model"
            )
        return [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]

    def stream_chat(
        self, conversation: list[Message], max_new_tokens: int | None = None, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Yield the reply's text as tokens are decoded (greedy or seeded, as ``chat``).

        Raises:
            LLMError: generation failed; ValueError: the prompt does not fit the context window.
        """
        import threading

        import torch
        from transformers import TextIteratorStreamer

        model, tok = self._load()
        text = self._render([conversation])[0]
        budget = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        enc = tok([text], add_special_tokens=False, return_tensors="pt").to(model.device)
        self._check_fits([enc["input_ids"].shape[1]], budget)
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        kwargs = self._gen_kwargs(budget, stop) | dict(enc) | {"streamer": streamer}
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
                    if self.temperature > 0:
                        torch.manual_seed(self.seed)
                    with torch.inference_mode():
                        model.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        cut = StopFilter(stop)
        first = True
        for piece in streamer:
            shown = cut.feed(piece.lstrip() if first else piece)
            first = first and not shown
            if shown:
                yield shown
        worker.join()
        if failure:
            raise LLMError(f"generation with {self.model!r} failed: {failure[0]}") from failure[0]
        tail = cut.flush().rstrip()
        if tail:
            yield tail

    # -- token log-probabilities ---------------------------------------------------------
    def _row_logprobs(self, rows: list[list[int]], keep: list[int], batch_size: int | None) -> list[Any]:
        """Log-softmax over the vocabulary at the last ``keep[i] + 1`` positions of each row.

        Rows are grouped by length and left-padded; position ids are recomputed so padding does
        not shift them. Returns one ``(keep[i] + 1, vocab)`` tensor per row, in input order.
        """
        import torch

        model, tok = self._load()
        size = batch_size or self.batch_size
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out: list[Any] = [None] * len(rows)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            width = max(len(rows[i]) for i in idx)
            ids = torch.tensor([[pad] * (width - len(rows[i])) + rows[i] for i in idx], device=model.device)
            mask = torch.tensor([[0] * (width - len(rows[i])) + [1] * len(rows[i]) for i in idx], device=model.device)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            last = 1 + max(keep[i] for i in idx)
            try:
                with torch.inference_mode():
                    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=last).logits
            except (RuntimeError, ValueError) as exc:
                raise LLMError(f"scoring with {self.model!r} failed: {exc}") from exc
            logp = torch.log_softmax(logits.float(), dim=-1)
            for b, i in enumerate(idx):
                out[i] = logp[b, last - 1 - keep[i] :]
        return out

    def _prompt_ids(self, conversations: list[list[Message]]) -> list[list[int]]:
        _, tok = self._load()
        return [tok.encode(t, add_special_tokens=False) for t in self._render(conversations)]

    def choice_logprobs(
        self, conversations: list[list[Message]], choices: list[list[str]], batch_size: int | None = None
    ) -> list[list[float]]:
        import torch

        _, tok = self._load()
        groups = [sorted({tok.encode(w, add_special_tokens=False)[0] for w in forms}) for forms in choices]
        rows = self._prompt_ids(conversations)
        dists = self._row_logprobs(rows, [0] * len(rows), batch_size)
        return [[float(torch.logsumexp(d[-1][g], 0)) for g in groups] for d in dists]

    def continuation_logprobs(
        self, conversations: list[list[Message]], continuations: list[str], batch_size: int | None = None
    ) -> list[list[float]]:
        if len(conversations) != len(continuations):
            raise ValueError(f"got {len(conversations)} conversations but {len(continuations)} continuations")
        _, tok = self._load()
        targets = [tok.encode(c, add_special_tokens=False) for c in continuations]
        rows = [p + t for p, t in zip(self._prompt_ids(conversations), targets)]
        dists = self._row_logprobs(rows, [len(t) for t in targets], batch_size)
        out = []
        for d, t in zip(dists, targets):
            # d[j] predicts the token after position -(len(t) + 1) + j: the continuation's j-th token
            out.append([float(d[j, tok_id]) for j, tok_id in enumerate(t)])
        return out

    def _check_fits(self, lengths: list[int], budget: int) -> None:
        window = self.context_window
        for i, n in enumerate(lengths):
            if n + budget > window:
                raise ValueError(
                    f"prompt {i} has {n} tokens; with max_new_tokens={budget} it exceeds the "
                    f"model's context window ({window}); shorten the prompt or the contexts"
                )

    def _gen_kwargs(self, budget: int, stop: list[str] | None) -> dict[str, Any]:
        _, tok = self._load()
        gen_kwargs: dict[str, Any] = {"max_new_tokens": budget, "pad_token_id": tok.pad_token_id}
        if self.temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=self.temperature, top_p=1.0, top_k=0)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop and [s for s in stop if s]:
            gen_kwargs.update(stop_strings=[s for s in stop if s], tokenizer=tok)
        return gen_kwargs

    def _generate(
        self, texts: list[str], max_new_tokens: int | None, stop: list[str] | None, add_special_tokens: bool,
        prefix_fn: Any = None,
    ) -> list[str]:
        import torch

        if not texts:
            return []
        model, tok = self._load()
        budget = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        lengths = [len(ids) for ids in tok(texts, add_special_tokens=add_special_tokens)["input_ids"]]
        self._check_fits(lengths, budget)
        # Group prompts of similar length (less padding); outputs go back in input order.
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        outputs: list[str] = [""] * len(texts)
        sample = self.temperature > 0
        gen_kwargs = self._gen_kwargs(budget, stop)
        if prefix_fn is not None:
            gen_kwargs["prefix_allowed_tokens_fn"] = prefix_fn
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
