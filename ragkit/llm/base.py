"""The LLM protocol: ``complete(prompts)`` and ``chat(conversations)``, batch-first, one string per input."""

from __future__ import annotations

from ragkit.registry import Component

__all__ = ["LLM", "LLMError", "Message", "apply_stop", "check_conversations"]

Message = dict[str, str]



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


def check_conversations(conversations: list[list[Message]]) -> None:
    """Raise ``ValueError`` unless each conversation is a non-empty list of role/content messages."""
    for i, conv in enumerate(conversations):
        if not isinstance(conv, list) or not conv:
            raise ValueError(f"conversation {i} must be a non-empty list of messages, got {conv!r}")
        for m in conv:
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                raise ValueError(
                    f"conversation {i} has a message without 'role'/'content': {m!r}; "
                    'pass messages like {"role": "user", "content": "..."}'
                )
