"""One LLM protocol, batch-first and deterministic by default, with three backends.

``LLM.complete(prompts)`` continues raw prompts; ``LLM.chat(conversations)`` answers
``[{"role": ..., "content": ...}, ...]`` message lists. Both return one string per input, with
special tokens stripped and cut at the first stop string. Backends:

- ``transformers``: a local causal LM (default ``smollm2-135m``, offline), batched with left
  padding; greedy when ``temperature == 0``, seeded sampling otherwise.
- ``openai``: any OpenAI-compatible HTTP server (vLLM, llama.cpp server, Ollama …), with
  retries and backoff on timeouts, connection errors, 429 and 5xx.
- ``fake``: canned outputs for deterministic tests (like DSPy's ``DummyLM``).

Example:
    >>> llm = build("llm", {"type": "fake", "responses": {"capital": "Paris"}})
    >>> llm.complete(["What is the capital of France?"])
    ['Paris']
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

from ragkit.registry import Component, register

__all__ = ["LLM", "LLMError", "TransformersLLM", "OpenAICompatibleLLM", "FakeLLM", "apply_stop"]

Message = dict[str, str]

# Seconds before retry i (0-based) of an HTTP request: _BACKOFF_S * 2**i, capped at _BACKOFF_MAX_S.
_BACKOFF_S = 0.25
_BACKOFF_MAX_S = 8.0


class LLMError(RuntimeError):
    """An LLM call failed (after any retries); the message says what was tried and what to check."""


def apply_stop(text: str, stop: list[str] | None) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string (the stop string is dropped).

    Args:
        text: generated text.
        stop: stop strings; ``None`` or empty leaves ``text`` unchanged (empty strings are ignored).

    Returns:
        The text before the first stop string.
    """
    cut = len(text)
    for s in stop or ():
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


class LLM(Component):
    """Protocol of every LLM backend: batch-first ``complete`` and ``chat``, plus token counting."""

    def complete(
        self, prompts: list[str], max_new_tokens: int | None = None, stop: list[str] | None = None
    ) -> list[str]:
        """Continue each raw prompt.

        Args:
            prompts: one prompt per output.
            max_new_tokens: generation budget per prompt; ``None`` uses the backend's default.
            stop: stop strings; each output is cut before the first one.

        Returns:
            One generated string per prompt, in order.

        Raises:
            LLMError: the backend failed (after retries, for remote backends).
            ValueError: malformed input, or (local backend) a prompt that does not fit the
                context window with ``max_new_tokens``.
        """
        raise NotImplementedError

    def chat(
        self,
        conversations: list[list[Message]],
        max_new_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> list[str]:
        """Answer each conversation (a list of ``{"role", "content"}`` messages) as the assistant.

        Args:
            conversations: one message list per output; roles ``system`` / ``user`` / ``assistant``.
            max_new_tokens: generation budget per conversation; ``None`` uses the default.
            stop: stop strings; each output is cut before the first one.

        Returns:
            One assistant reply per conversation, in order.

        Raises:
            LLMError: the backend failed (after retries, for remote backends).
            ValueError: malformed input, or (local backend) a prompt that does not fit the
                context window with ``max_new_tokens``.
        """
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes in this model's input (an estimate for remote models)."""
        raise NotImplementedError

    @property
    def context_window(self) -> int:
        """Maximum number of tokens (prompt + generation) the model accepts."""
        raise NotImplementedError


def _check_conversations(conversations: list[list[Message]]) -> None:
    for i, conv in enumerate(conversations):
        if not isinstance(conv, list) or not conv:
            raise ValueError(f"conversation {i} must be a non-empty list of messages, got {conv!r}")
        for m in conv:
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                raise ValueError(
                    f"conversation {i} has a message without 'role'/'content': {m!r}; "
                    'pass messages like {"role": "user", "content": "..."}'
                )


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
        _check_conversations(conversations)
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


@register("llm", "openai")
class OpenAICompatibleLLM(LLM):
    """Any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI …) over HTTP.

    One request per prompt, against ``/v1/completions`` (``complete``) and
    ``/v1/chat/completions`` (``chat``). Timeouts, connection errors, 429 and 5xx responses are
    retried with exponential backoff; other 4xx and malformed responses fail at once.

    Args:
        base_url: server root, with or without the trailing ``/v1`` (``http://localhost:8000``).
        model: model name the server expects.
        api_key_env: environment variable holding the API key; unset means no auth header.
        temperature: sampling temperature (0 = greedy where the server supports it).
        seed: sent as ``seed`` (honoured by servers that support it).
        max_new_tokens: default ``max_tokens`` per request.
        timeout: seconds per HTTP request.
        max_retries: retries after the first attempt (so ``max_retries + 1`` attempts at most).
        context_window: the model's context length (servers do not report it uniformly).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        temperature: float = 0.0,
        seed: int = 0,
        max_new_tokens: int = 256,
        timeout: float = 30.0,
        max_retries: int = 2,
        context_window: int = 8192,
    ):
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = base_url
        self.model = model
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.seed = seed
        self.max_new_tokens = max_new_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self._context_window = context_window
        self._client: Any = None

    # The constructor argument is stored under a private name because ``context_window`` is the
    # protocol's property; ``to_config`` reads it back through the property.
    @property
    def context_window(self) -> int:  # type: ignore[override]
        return self._context_window

    def count_tokens(self, text: str) -> int:
        """Approximate: about 4 characters per token (the server's tokenizer is not available)."""
        return math.ceil(len(text) / 4)

    def _url(self, path: str) -> str:
        root = self.base_url.rstrip("/")
        if not root.endswith("/v1"):
            root += "/v1"
        return root + path

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            headers = {"Content-Type": "application/json"}
            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self._client = httpx.Client(timeout=self.timeout, headers=headers)
        return self._client

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = self._url(path)
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(_BACKOFF_S * 2 ** (attempt - 1), _BACKOFF_MAX_S))
            try:
                resp = self._http().post(url, json=payload)
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout} s"
                continue
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__}: {exc})"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            if resp.status_code >= 400:
                raise LLMError(
                    f"POST {url} returned HTTP {resp.status_code}: {resp.text[:300]}; "
                    f"check the model name ({self.model!r}), the API key in ${self.api_key_env} "
                    "and the request"
                )
            try:
                data = resp.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise LLMError(
                    f"POST {url} returned a body that is not JSON ({exc}): {resp.text[:200]!r}; "
                    "is base_url an OpenAI-compatible server?"
                ) from exc
            if not isinstance(data, dict):
                raise LLMError(f"POST {url} returned JSON that is not an object: {str(data)[:200]}")
            return data
        raise LLMError(
            f"POST {url} failed after {self.max_retries + 1} attempt(s): {last}; check that the "
            "server is running and reachable, or raise timeout / max_retries"
        )

    def _payload(self, max_new_tokens: int | None, stop: list[str] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_new_tokens if max_new_tokens is None else max_new_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }
        if stop:
            payload["stop"] = [s for s in stop if s][:4]  # OpenAI accepts at most 4
        return payload

    @staticmethod
    def _choice_text(data: dict[str, Any], url: str, chat: bool) -> str:
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if chat else choice["text"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                f"{url} returned JSON without choices[0].{'message.content' if chat else 'text'}: "
                f"{json.dumps(data)[:200]}"
            ) from exc
        if text is None:
            return ""
        if not isinstance(text, str):
            raise LLMError(f"{url} returned a non-string completion: {text!r}")
        return text

    def complete(
        self, prompts: list[str], max_new_tokens: int | None = None, stop: list[str] | None = None
    ) -> list[str]:
        out = []
        for prompt in prompts:
            payload = self._payload(max_new_tokens, stop) | {"prompt": prompt}
            data = self._post("/completions", payload)
            out.append(apply_stop(self._choice_text(data, self._url("/completions"), False), stop).strip())
        return out

    def chat(
        self,
        conversations: list[list[Message]],
        max_new_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> list[str]:
        _check_conversations(conversations)
        out = []
        for conv in conversations:
            payload = self._payload(max_new_tokens, stop) | {"messages": conv}
            data = self._post("/chat/completions", payload)
            out.append(apply_stop(self._choice_text(data, self._url("/chat/completions"), True), stop).strip())
        return out


@register("llm", "fake")
class FakeLLM(LLM):
    """Canned outputs for deterministic tests (after DSPy's ``DummyLM``).

    Args:
        responses: a list is returned in order, cycling; a dict maps a substring of the prompt
            to its answer (the first matching key, in dict order, wins); ``None`` always answers
            ``default``.
        default: the answer when no dict key matches (or ``responses`` is ``None``).
        fail: raise ``LLMError`` on every call (to test fallbacks).

    Attributes:
        calls: every prompt seen, in order (chat conversations rendered as ``role: content``
            lines). State, not config.
    """

    def __init__(
        self, responses: list[str] | dict[str, str] | None = None, default: str = "", fail: bool = False
    ):
        if isinstance(responses, list) and not responses:
            raise ValueError("responses is an empty list; pass at least one response, or None")
        self.responses = responses
        self.default = default
        self.fail = fail
        self.calls: list[str] = []
        self._next = 0

    @property
    def context_window(self) -> int:
        return 8192

    def count_tokens(self, text: str) -> int:
        """Whitespace tokens."""
        return len(text.split())

    def _answer(self, prompt: str) -> str:
        self.calls.append(prompt)
        if self.fail:
            raise LLMError("FakeLLM(fail=True) always fails")
        if isinstance(self.responses, list):
            text = self.responses[self._next % len(self.responses)]
            self._next += 1
            return text
        if isinstance(self.responses, dict):
            for key, text in self.responses.items():
                if key in prompt:
                    return text
        return self.default

    def _finish(self, text: str, max_new_tokens: int | None, stop: list[str] | None) -> str:
        text = apply_stop(text, stop)
        if max_new_tokens is not None and len(text.split()) > max_new_tokens:
            text = " ".join(text.split()[:max_new_tokens])
        return text.strip()

    def complete(
        self, prompts: list[str], max_new_tokens: int | None = None, stop: list[str] | None = None
    ) -> list[str]:
        return [self._finish(self._answer(p), max_new_tokens, stop) for p in prompts]

    def chat(
        self,
        conversations: list[list[Message]],
        max_new_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> list[str]:
        _check_conversations(conversations)
        rendered = ["\n".join(f"{m['role']}: {m['content']}" for m in conv) for conv in conversations]
        return [self._finish(self._answer(p), max_new_tokens, stop) for p in rendered]
