"""Prompt templates for the answer generator: RAG with numbered, cited contexts, and closed-book.

The RAG prompt is a chat: a system instruction, two worked examples (user turn with numbered
contexts + question, assistant turn with a one-sentence cited answer), then the real question.
The examples teach small models (SmolLM2-135M) the answer format and the ``[n]`` citations; both
examples are answerable on purpose: with an "I don't know" example a 135M model refuses almost
every question, so unanswerable questions are caught afterwards from evidence (see
``ragkit.generator``), while larger models still follow the instruction to say "I don't know".
"""

from __future__ import annotations

import re

from ragkit.types import Chunk

__all__ = [
    "IDK", "RAG_SYSTEM", "CLOSED_BOOK_SYSTEM", "FEW_SHOT", "STOP", "location", "context_line", "rag_messages",
    "closed_book_messages", "says_idk",
]

IDK = "I don't know."

RAG_SYSTEM = (
    "Answer the question using only the numbered contexts. Answer in one short sentence with "
    "the words of the context, and cite the context you used as [n]. If the contexts do not "
    "contain the answer, reply exactly: I don't know."
)

CLOSED_BOOK_SYSTEM = (
    "Answer the question concisely, in one short sentence, from your own knowledge. "
    "If you do not know the answer, reply exactly: I don't know."
)

# (contexts block, question, answer). The cited numbers differ ([2], then [1]) so a small model
# does not learn to always cite [1].
FEW_SHOT: list[tuple[str, str, str]] = [
    (
        "[1] (garage.md) The blue van was repaired in March and got new tyres.\n"
        "[2] (pets.md) Our cat Miso is eight years old and sleeps on the sofa.",
        "How old is Miso?",
        "Miso is eight years old [2].",
    ),
    (
        "[1] (ferry.md) The ferry to Vela departs at 09:30 from pier 2.\n"
        "[2] (garage.md) The blue van was repaired in March and got new tyres.",
        "Where does the ferry to Vela depart from?",
        "The ferry to Vela departs from pier 2 [1].",
    ),
]

# Small chat models sometimes run on into a new turn; cut there.
STOP = ["\n\n", "\nQuestion:", "\nContexts:", "<|im_end|>", "<|im_start|>"]


def location(chunk: Chunk) -> str:
    """Provenance shown to the model: ``source p3 / lines 10-24 / symbol or heading``."""
    parts = [chunk.source + (f" p{chunk.page}" if chunk.page is not None else "")]
    if chunk.start_line is not None:
        end = chunk.end_line if chunk.end_line is not None else chunk.start_line
        parts.append(f"lines {chunk.start_line}-{end}")
    if chunk.symbol:
        parts.append(chunk.symbol)
    elif chunk.heading:
        parts.append(chunk.heading[-1])
    return " / ".join(parts)


def context_line(number: int, chunk: Chunk, text: str | None = None) -> str:
    """One numbered context: ``[n] (location) text`` (``text`` overrides the chunk's, e.g. truncated)."""
    body = " ".join((chunk.text if text is None else text).split())
    return f"[{number}] ({location(chunk)}) {body}"


def _user(contexts: str, question: str) -> str:
    # The question comes before and after the contexts (query-aware contextualisation, Liu et
    # al., 2023): with it only after, SmolLM2-135M answered from the wrong context more often.
    q = question.strip()
    return f"Question: {q}\n\nContexts:\n{contexts}\n\nQuestion: {q}"


def rag_messages(question: str, contexts: str) -> list[dict[str, str]]:
    """The RAG chat: system instruction, the few-shot examples, then ``contexts`` + ``question``.

    Args:
        question: the user's question.
        contexts: the numbered context block (``context_line`` lines joined by newlines).

    Returns:
        Chat messages for ``LLM.chat``.
    """
    messages = [{"role": "system", "content": RAG_SYSTEM}]
    for shot_contexts, shot_question, shot_answer in FEW_SHOT:
        messages.append({"role": "user", "content": _user(shot_contexts, shot_question)})
        messages.append({"role": "assistant", "content": shot_answer})
    messages.append({"role": "user", "content": _user(contexts, question)})
    return messages


def closed_book_messages(question: str) -> list[dict[str, str]]:
    """The closed-book chat: a system instruction and the question."""
    return [
        {"role": "system", "content": CLOSED_BOOK_SYSTEM},
        {"role": "user", "content": f"Question: {question.strip()}"},
    ]

_IDK = re.compile(
    r"\bi\s+(?:do\s*n[o']?t|don't|dont)\s+know\b"
    r"|\b(?:contexts?|passages?|texts?|documents?|sources?)\s+(?:do|does)\s*(?:n[o']?t|n't)\s+"
    r"(?:contain|mention|say|provide|include|specify|state|answer)"
    r"|\b(?:no|not\s+enough)\s+information\b"
    r"|\b(?:cannot|can't|can\s+not|unable\s+to)\s+(?:answer|determine|find)\b"
    r"|\bis\s+not\s+(?:mentioned|provided|stated|specified|given)\s+in\b",
    re.IGNORECASE,
)


def says_idk(text: str) -> bool:
    """Whether the model's answer says it does not know (or that the contexts lack the answer)."""
    return not text.strip() or bool(_IDK.search(text.replace("\u2019", "'")))
