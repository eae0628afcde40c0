"""Canned LLM outputs for deterministic tests (after DSPy's ``DummyLM``)."""

from __future__ import annotations

from typing import Iterator

from ragkit.llm.base import LLM, LLMError, Message, apply_stop, check_conversations
from ragkit.registry import register

__all__ = ["FakeLLM"]


@register("llm", "fake")
class FakeLLM(LLM):
    """Canned outputs for deterministic tests (after DSPy's ``DummyLM``).

    Args:
        responses: a list is returned in order, cycling; a dict maps a substring of the prompt
            to its answer (the first matching key, in dict order, wins); ``None`` always answers
            ``default``.
        default: the answer when no dict key matches (or ``responses`` is ``None``).
        fail: raise ``LLMError`` on every call (to test fallbacks).
        stream_words: ``stream_chat`` yields the reply word by word (to test streaming
            consumers); otherwise in one piece.

    Attributes:
        calls: every prompt seen, in order (chat conversations rendered as ``role: content``
            lines). State, not config.
    """

    def __init__(
        self,
        responses: list[str] | dict[str, str] | None = None,
        default: str = "",
        fail: bool = False,
        stream_words: bool = False,
    ):
        if isinstance(responses, list) and not responses:
            raise ValueError("responses is an empty list; pass at least one response, or None")
        self.responses = responses
        self.default = default
        self.fail = fail
        self.stream_words = stream_words
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
        check_conversations(conversations)
        rendered = ["\n".join(f"{m['role']}: {m['content']}" for m in conv) for conv in conversations]
        return [self._finish(self._answer(p), max_new_tokens, stop) for p in rendered]

    def stream_chat(
        self, conversation: list[Message], max_new_tokens: int | None = None, stop: list[str] | None = None
    ) -> Iterator[str]:
        """The ``chat`` reply, in one piece or (``stream_words``) a piece per word, spaces kept."""
        text = self.chat([conversation], max_new_tokens=max_new_tokens, stop=stop)[0]
        if not self.stream_words:
            yield text
            return
        for i, word in enumerate(text.split(" ")):
            yield word if i == 0 else " " + word
