"""Any OpenAI-compatible HTTP server (vLLM, llama.cpp server, Ollama …), with retries and backoff."""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

from ragkit.llm.base import LLM, LLMError, Message, apply_stop, check_conversations
from ragkit.registry import register

__all__ = ["OpenAICompatibleLLM"]

# Seconds before retry i (0-based) of an HTTP request: _BACKOFF_S * 2**i, capped at _BACKOFF_MAX_S.
_BACKOFF_S = 0.25
_BACKOFF_MAX_S = 8.0


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

    supports_json_schema = True

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
        response_format: dict[str, Any] | None = None,
    ) -> list[str]:
        check_conversations(conversations)
        out = []
        for conv in conversations:
            payload = self._payload(max_new_tokens, stop) | {"messages": conv}
            if response_format is not None:
                payload["response_format"] = response_format
            data = self._post("/chat/completions", payload)
            out.append(apply_stop(self._choice_text(data, self._url("/chat/completions"), True), stop).strip())
        return out

    def chat_json(
        self, conversations: list[list[Message]], schema: dict, max_new_tokens: int | None = None
    ) -> list[str]:
        """``chat`` asking the server for ``response_format: json_schema`` (OpenAI's structured outputs;
        llama.cpp's server, vLLM and Ollama accept it). A server that ignores it answers unconstrained."""
        from ragkit.llm.structured import openai_response_format

        return self.chat(conversations, max_new_tokens, response_format=openai_response_format(schema))
