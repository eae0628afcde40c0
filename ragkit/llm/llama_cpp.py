"""A local GGUF model through llama.cpp (``llama-cpp-python``): the bundled SmolLM2-135M file as shipped.

Which backend does what:

- ``llama-cpp`` (this one): runs the GGUF itself (Q4_1 weights, no fp32 conversion, loads in
  ~0.3 s), several times faster than transformers on a CPU (``benchmarks/generate.py``);
  streaming; one sequence at a time per instance (calls are serialised by a lock, so one object
  can be shared by threads). No LoRA adapter directories, no token log-probabilities
  (``supports_logprobs`` is False: the LLM reranker's P(yes) and query likelihood need
  ``transformers``).
- ``transformers`` (``ragkit.llm.local``): peft LoRA adapters (``ragkit tune generator``),
  token log-probabilities, bf16, GPUs, batched generation.

The prompt is the same as the transformers backend's, token for token: the chat template stored
in the GGUF (the one transformers reads from it too) rendered with Jinja2 and tokenized with
special tokens parsed and no BOS added (``tests/llm/test_llama_cpp.py`` checks this). Greedy
when ``temperature == 0``; seeded sampling (no top-k / top-p / min-p cut, no repeat penalty)
otherwise. The answers are not identical to transformers fp32's: the weights are the 4-bit ones.

Install: ``pip install 'ragkit[llama]'`` (or ``uv pip install llama-cpp-python``); it builds
llama.cpp from source (cmake + a C++ compiler; ~8 minutes on 2 cores, cached by uv afterwards).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Iterator

from ragkit.defaults import DEFAULT_LLM_MODEL
from ragkit.llm.base import LLM, LLMError, Message, StopFilter, apply_stop, check_conversations
from ragkit.registry import register

__all__ = ["LlamaCppLLM"]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@register("llm", "llama-cpp")
class LlamaCppLLM(LLM):
    """A GGUF model run by llama.cpp.

    Args:
        model: a bundled model that ships as GGUF (``"smollm2-135m"``) or a ``.gguf`` file path
            (``ragkit.models.gguf_path``).
        n_ctx: context length; 0 takes the model's trained length (8192 for SmolLM2).
        n_threads: CPU threads; ``None`` uses every core this process may run on.
        temperature: 0 means greedy decoding (deterministic); > 0 samples, seeded by ``seed``.
        seed: sampler seed.
        max_new_tokens: default generation budget per prompt.

    Raises:
        ValueError: a negative temperature, ``n_ctx`` or ``n_threads``.
    """

    supports_json_schema = True

    def __init__(
        self,
        model: str = DEFAULT_LLM_MODEL,
        n_ctx: int = 0,
        n_threads: int | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        max_new_tokens: int = 256,
    ):
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if n_ctx < 0:
            raise ValueError(f"n_ctx must be >= 0 (0: the model's own), got {n_ctx}")
        if n_threads is not None and n_threads < 1:
            raise ValueError(f"n_threads must be >= 1, got {n_threads}")
        self.model = model
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.temperature = temperature
        self.seed = seed
        self.max_new_tokens = max_new_tokens
        self._llama: Any = None
        self._template: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._llama is None:
            from ragkit.models import load_gguf

            self._llama = load_gguf(self.model, n_ctx=self.n_ctx, n_threads=self.n_threads or _cpu_count(), seed=self.seed)
        return self._llama

    def warm_up(self) -> None:
        """Load the model now (otherwise it loads on first use)."""
        self._load()

    @property
    def context_window(self) -> int:
        return int(self._load().n_ctx())

    def _tokens(self, text: str, special: bool = False) -> list[int]:
        return self._load().tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def count_tokens(self, text: str) -> int:
        return len(self._tokens(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut to its first ``max_tokens`` tokens (decoded back to text)."""
        ids = self._tokens(text)
        if len(ids) <= max_tokens:
            return text
        return self._load().detokenize(ids[:max_tokens]).decode("utf-8", errors="ignore")

    def render(self, conversation: list[Message]) -> str:
        """The prompt text for ``conversation``: the GGUF's chat template with the generation prompt.

        Raises:
            LLMError: the GGUF has no chat template.
        """
        if self._template is None:
            llama = self._load()
            source = llama.metadata.get("tokenizer.chat_template")
            if not source:
                raise LLMError(f"model {self.model!r} has no chat template; use complete() with a raw prompt")
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            # transformers renders chat templates with these settings
            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            self._template = env.from_string(source)
        llama = self._load()
        special = {
            "bos_token": llama.detokenize([llama.token_bos()], special=True).decode("utf-8", errors="ignore"),
            "eos_token": llama.detokenize([llama.token_eos()], special=True).decode("utf-8", errors="ignore"),
        }
        return self._template.render(messages=conversation, add_generation_prompt=True, **special)

    def _check_fits(self, ids: list[int], budget: int, i: int) -> None:
        window = self.context_window
        if len(ids) + budget > window:
            raise ValueError(
                f"prompt {i} has {len(ids)} tokens; with max_new_tokens={budget} it exceeds the "
                f"model's context window ({window}); shorten the prompt or the contexts"
            )

    def _run(self, ids: list[int], budget: int, stop: list[str] | None, stream: bool, grammar: Any = None) -> Any:
        kwargs: dict[str, Any] = {
            "max_tokens": budget,
            "temperature": self.temperature,
            "top_k": 0 if self.temperature > 0 else 1,
            "top_p": 1.0,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "seed": self.seed,
            "stop": [s for s in stop or () if s] or None,
            "stream": stream,
            "grammar": grammar,
        }
        try:
            return self._load().create_completion(ids, **kwargs)
        except (RuntimeError, ValueError) as exc:
            raise LLMError(f"generation with {self.model!r} (llama.cpp) failed: {exc}") from exc

    def _one(self, ids: list[int], max_new_tokens: int | None, stop: list[str] | None, i: int,
             grammar: Any = None) -> str:
        budget = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        self._check_fits(ids, budget, i)
        with self._lock:
            out = self._run(ids, budget, stop, stream=False, grammar=grammar)
        return apply_stop(out["choices"][0]["text"], stop).strip()

    def complete(
        self, prompts: list[str], max_new_tokens: int | None = None, stop: list[str] | None = None
    ) -> list[str]:
        return [self._one(self._tokens(p), max_new_tokens, stop, i) for i, p in enumerate(prompts)]

    def chat(
        self,
        conversations: list[list[Message]],
        max_new_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> list[str]:
        check_conversations(conversations)
        return [self._one(self._tokens(self.render(c), special=True), max_new_tokens, stop, i)
                for i, c in enumerate(conversations)]

    def chat_json(
        self, conversations: list[list[Message]], schema: dict, max_new_tokens: int | None = None
    ) -> list[str]:
        """``chat`` under a GBNF grammar built from ``schema`` (llama.cpp's JSON-schema converter)."""
        from ragkit.llm.structured import llama_grammar

        check_conversations(conversations)
        grammar = llama_grammar(schema)
        return [self._one(self._tokens(self.render(c), special=True), max_new_tokens, None, i, grammar=grammar)
                for i, c in enumerate(conversations)]

    def stream_chat(
        self, conversation: list[Message], max_new_tokens: int | None = None, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Yield the reply's text as llama.cpp decodes it (joined: ``chat([conversation])[0]``).

        Raises:
            LLMError: generation failed; ValueError: the prompt does not fit the context window.
        """
        check_conversations([conversation])
        ids = self._tokens(self.render(conversation), special=True)
        budget = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        self._check_fits(ids, budget, 0)
        cut = StopFilter(stop)
        first = True
        with self._lock:
            for chunk in self._run(ids, budget, stop, stream=True):
                piece = chunk["choices"][0]["text"]
                shown = cut.feed(piece.lstrip() if first else piece)
                first = first and not shown
                if shown:
                    yield shown
                if cut.done:
                    break
        tail = cut.flush().rstrip()
        if tail:
            yield tail
