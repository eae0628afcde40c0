"""The LLM protocol: ``complete(prompts)`` and ``chat(conversations)``, batch-first, one string per input.

Optional capabilities, declared by class attributes so callers never test a backend's type:

- ``supports_logprobs``: ``choice_logprobs`` (next-token probability of answer choices) and
  ``continuation_logprobs`` (per-token log-probabilities of a given reply) — what the LLM
  reranker's P(yes) and query-likelihood scores need. Backends without them raise
  ``LogprobsUnsupported``.
- ``stream_chat`` yields a reply in pieces as it is generated; the default yields the whole
  reply once, so every backend can be streamed from.
- ``supports_json_schema``: ``chat_json`` constrains decoding to a JSON schema
  (``ragkit.llm.structured``), so the reply parses; without it ``chat_json`` is plain ``chat``
  and the caller's validation catches what does not parse.
"""

from __future__ import annotations

from typing import ClassVar, Iterator

from ragkit.registry import Component

__all__ = ["LLM", "LLMError", "LogprobsUnsupported", "Message", "StopFilter", "apply_stop", "check_conversations"]

Message = dict[str, str]



class LLMError(RuntimeError):
    """An LLM call failed (after any retries); the message says what was tried and what to check."""


class LogprobsUnsupported(NotImplementedError):
    """This backend gives no token log-probabilities (``LLM.supports_logprobs`` is False)."""


class StopFilter:
    """Cut a streamed reply at the first stop string, holding back text that may start one.

    ``feed(piece)`` returns the text that is safe to show now; ``done`` turns True once a stop
    string appeared (stop generating); ``text`` is everything shown, equal to
    ``apply_stop(full_reply, stop)``.

    Args:
        stop: stop strings (``None`` or empty: everything passes).
    """

    def __init__(self, stop: list[str] | None):
        self.stop = [s for s in stop or () if s]
        self.text = ""
        self.done = False
        self._held = ""

    def feed(self, piece: str) -> str:
        """The part of ``piece`` (plus text held back before) that can be shown now."""
        if self.done:
            return ""
        buf = self._held + piece
        cut = apply_stop(buf, self.stop)
        if len(cut) < len(buf):
            self.done, self._held = True, ""
            self.text += cut
            return cut
        hold = 0  # longest suffix of buf that is a proper prefix of a stop string
        for s in self.stop:
            for n in range(min(len(s) - 1, len(buf)), 0, -1):
                if buf.endswith(s[:n]):
                    hold = max(hold, n)
                    break
        out, self._held = buf[: len(buf) - hold], buf[len(buf) - hold :]
        self.text += out
        return out

    def flush(self) -> str:
        """Text still held back once generation ended without a stop string."""
        out, self._held = ("" if self.done else self._held), ""
        self.text += out
        return out


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
    """Protocol of every LLM backend: batch-first ``complete`` and ``chat``, plus token counting.

    Backends that can score tokens set ``supports_logprobs = True`` and implement
    ``choice_logprobs`` and ``continuation_logprobs``.
    """

    supports_logprobs: ClassVar[bool] = False
    supports_json_schema: ClassVar[bool] = False

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

    def chat_json(
        self, conversations: list[list[Message]], schema: dict, max_new_tokens: int | None = None
    ) -> list[str]:
        """Answer each conversation with a JSON document meant to be valid for ``schema``.

        Backends with ``supports_json_schema`` decode under the schema's constraint, so a reply
        always parses unless ``max_new_tokens`` cut it short; this default is plain ``chat``.
        Callers validate the reply either way.

        Args:
            conversations: one message list per output.
            schema: a JSON schema (e.g. ``PydanticModel.model_json_schema()``).
            max_new_tokens: generation budget per conversation; ``None`` uses the default.
        """
        return self.chat(conversations, max_new_tokens=max_new_tokens)

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes in this model's input (an estimate for remote models)."""
        raise NotImplementedError

    @property
    def context_window(self) -> int:
        """Maximum number of tokens (prompt + generation) the model accepts."""
        raise NotImplementedError

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut to at most ``max_tokens`` tokens (here: about 4 characters a token, at a word end).

        Backends with a tokenizer override this with an exact cut.
        """
        budget = max_tokens * 4
        return text if len(text) <= budget else text[:budget].rsplit(" ", 1)[0]

    def stream_chat(
        self, conversation: list[Message], max_new_tokens: int | None = None, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Yield the reply to one conversation in pieces as it is generated.

        The pieces joined equal ``chat([conversation], max_new_tokens, stop)[0]`` up to
        surrounding whitespace. This default generates the whole reply and yields it once.

        Raises:
            LLMError / ValueError: as ``chat``.
        """
        yield self.chat([conversation], max_new_tokens=max_new_tokens, stop=stop)[0]

    def choice_logprobs(
        self, conversations: list[list[Message]], choices: list[list[str]], batch_size: int | None = None
    ) -> list[list[float]]:
        """Log-probability of each answer choice as the first token of the assistant's reply.

        A choice is a group of surface forms (``["yes", "Yes", " yes"]``); its log-probability
        is that of the set of distinct first tokens of its forms (each token counted once).

        Args:
            conversations: one message list per row (the reply starts after the generation prompt).
            choices: the same choice groups for every conversation.
            batch_size: rows per forward pass; ``None`` uses the backend's.

        Returns:
            Per conversation, one log-probability per choice, in order.

        Raises:
            LogprobsUnsupported: the backend gives no token probabilities.
        """
        raise LogprobsUnsupported(f"{type(self).__name__} gives no token log-probabilities")

    def continuation_logprobs(
        self, conversations: list[list[Message]], continuations: list[str], batch_size: int | None = None
    ) -> list[list[float]]:
        """Log-probability of each token of ``continuations[i]`` as the start of reply ``i``.

        Args:
            conversations: one message list per row.
            continuations: one text per conversation, tokenized without special tokens.
            batch_size: rows per forward pass; ``None`` uses the backend's.

        Returns:
            Per conversation, the log-probabilities of its continuation's tokens (empty for an
            empty continuation).

        Raises:
            LogprobsUnsupported: the backend gives no token probabilities.
            ValueError: the lists differ in length.
        """
        raise LogprobsUnsupported(f"{type(self).__name__} gives no token log-probabilities")


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
