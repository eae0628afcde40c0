"""The intermediate-reasoning answer format: name the relevant passages, quote evidence, then answer.

Jin et al., 2024, "Long-Context LLMs Meet RAG: Overcoming Challenges for Long Inputs in RAG",
fine-tune the generator to first identify the relevant retrieved passages and only then answer
("RAG-specific tuning with intermediate reasoning"). ragkit's fixed, line-based form of it::

    Relevant: [2]
    Evidence: "the exact span copied from passage 2"
    Answer: The answer in one sentence [2].

- ``Relevant``: one or more passage numbers ``[n]`` (``[1][3]`` or ``[1, 3]``);
- ``Evidence``: a short span copied verbatim (whitespace collapsed) from a relevant passage,
  in double quotes; for training it is the gold passage's sentence with the most answer words
  (``evidence_span``), cut to at most ``MAX_EVIDENCE_WORDS`` words;
- ``Answer``: the final answer with its citation(s), what the user is shown.

``build_target`` writes it (training targets, ``ragkit.tuning.generator`` mode
``rag-reasoning``), ``parse`` reads it back (``None`` when malformed), ``check`` verifies a
parsed reply against the passages the model was given (numbers in range, the evidence occurs
in a named passage), and ``reasoning_messages`` is the RAG chat with the instruction and
few-shot examples in this format. ``tuned_mode`` reads the mode a tuned model dir was trained in,
so the generator switches to this format by itself for a ``rag-reasoning`` adapter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ragkit import prompts

__all__ = [
    "MAX_EVIDENCE_WORDS", "REASONING_SYSTEM", "Reasoning", "build_target", "check", "evidence_span", "normalise",
    "parse", "read_reply", "reasoning_messages", "tuned_mode",
]

MAX_EVIDENCE_WORDS = 24

REASONING_SYSTEM = (
    "Answer the question using only the numbered contexts. First write 'Relevant:' and the "
    "numbers [n] of the contexts that answer it, then 'Evidence:' and a short quote copied "
    "exactly from one of them, then 'Answer:' and one short sentence citing the context as [n]. "
    "If the contexts do not contain the answer, reply exactly: I don't know."
)

_NUMS = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_LINES = re.compile(
    r"^\s*relevant\s*:\s*(?P<rel>[^\n]*)\n+\s*evidence\s*:\s*(?P<ev>[^\n]*)\n+\s*answer\s*:\s*(?P<ans>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_QUOTED = re.compile(r'^\s*["\u201c](?P<span>.*)["\u201d]\s*$', re.DOTALL)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Reasoning:
    """One parsed reasoning reply: the passages named, the quoted evidence, the final answer."""

    relevant: tuple[int, ...]
    evidence: str
    answer: str

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (kept in ``Answer.metadata["reasoning"]``)."""
        return {"relevant": list(self.relevant), "evidence": self.evidence, "answer": self.answer}


def normalise(text: str) -> str:
    """Lower-cased, whitespace-collapsed text (how evidence is matched against passages)."""
    return " ".join(text.replace("\u2019", "'").lower().split())


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def evidence_span(passage: str, answer: str, max_words: int = MAX_EVIDENCE_WORDS) -> str:
    """The passage's sentence sharing the most words with ``answer``, at most ``max_words`` long.

    Deterministic: ties go to the earlier sentence; a longer sentence is cut to its window of
    ``max_words`` words with the most answer words (the earliest such window).
    """
    answer_words = _words(answer)
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(passage) if s.strip()]
    if not sentences:
        return ""
    best = max(sentences, key=lambda s: (len(_words(s) & answer_words), -sentences.index(s)))
    tokens = best.split()
    if len(tokens) <= max_words:
        return best
    scores = [len(_words(" ".join(tokens[i : i + max_words])) & answer_words) for i in range(len(tokens) - max_words + 1)]
    start = scores.index(max(scores))
    return " ".join(tokens[start : start + max_words])


def build_target(relevant: list[int], evidence: str, answer: str) -> str:
    """The reasoning reply for training: ``Relevant: [n]`` / ``Evidence: "…"`` / ``Answer: … [n]``.

    The answer gets the citation of the first relevant passage unless it already cites one.

    Raises:
        ValueError: no relevant passage, or an empty answer.
    """
    if not relevant or not answer.strip():
        raise ValueError("a reasoning target needs at least one relevant passage number and an answer")
    answer = " ".join(answer.split())
    if not _NUMS.search(answer):
        answer = f"{answer} [{relevant[0]}]"
    rel = "".join(f"[{n}]" for n in relevant)
    return f'Relevant: {rel}\nEvidence: "{" ".join(evidence.split())}"\nAnswer: {answer}'


def parse(text: str) -> Reasoning | None:
    """The ``Reasoning`` in a model reply, or ``None`` when it is not in the format.

    Malformed: a missing or out-of-order ``Relevant`` / ``Evidence`` / ``Answer`` line, no
    passage number on the ``Relevant`` line, unquoted or empty evidence, or an empty answer.
    """
    m = _LINES.match(text.strip())
    if m is None:
        return None
    numbers = [int(n) for group in _NUMS.findall(m["rel"]) for n in re.split(r"[,;]", group)]
    quoted = _QUOTED.match(m["ev"])
    answer = m["ans"].strip()
    if not numbers or quoted is None or not quoted["span"].strip() or not answer:
        return None
    return Reasoning(relevant=tuple(dict.fromkeys(numbers)), evidence=quoted["span"].strip(), answer=answer)


def check(reasoning: Reasoning, passages: list[str]) -> dict[str, object]:
    """Check a parsed reply against the ``passages`` the model saw (``passages[n - 1]`` is ``[n]``).

    Returns:
        ``{"out_of_range": [n not in 1..len(passages)], "evidence_in": [named passages that
        contain the evidence, whitespace/case-normalised], "evidence_elsewhere": [other passages
        that contain it], "flags": [...]}``; flags are ``"passage_out_of_range"`` and
        ``"evidence_not_in_cited_passage"`` (found in no named passage; ``evidence_elsewhere``
        tells whether it was copied from another one or invented).
    """
    span = normalise(reasoning.evidence)
    texts = [normalise(p) for p in passages]
    out_of_range = [n for n in reasoning.relevant if not 1 <= n <= len(passages)]
    named = [n for n in reasoning.relevant if n not in out_of_range]
    evidence_in = [n for n in named if span in texts[n - 1]]
    elsewhere = [n for n, t in enumerate(texts, 1) if n not in named and span in t]
    flags = []
    if out_of_range:
        flags.append("passage_out_of_range")
    if not evidence_in:
        flags.append("evidence_not_in_cited_passage")
    return {"out_of_range": out_of_range, "evidence_in": evidence_in, "evidence_elsewhere": elsewhere, "flags": flags}


def read_reply(text: str, passages: list[str]) -> tuple[str, list[int] | None, dict[str, object]]:
    """Read a generator reply to the numbered ``passages``: (answer text, stated passages, notes).

    Well-formed: the answer line, the stated passages (``Relevant`` numbers, then any other number
    the answer cites; out-of-range ones included, the caller keeps those it can map) and notes
    ``{"reasoning": parsed + check, "reasoning_flags": check flags}``. Malformed: the whole reply,
    ``None`` (read it as a plain cited answer) and ``{"reasoning": {"raw": text},
    "reasoning_flags": ["malformed"]}``; a plain "I don't know" is not flagged.
    """
    parsed = parse(text)
    if parsed is None:
        return text, None, ({} if prompts.says_idk(text) else {"reasoning": {"raw": text}, "reasoning_flags": ["malformed"]})
    result = check(parsed, passages)
    cited = [int(n) for group in _NUMS.findall(parsed.answer) for n in re.split(r"[,;]", group)]
    stated = list(parsed.relevant) + [n for n in dict.fromkeys(cited) if n not in parsed.relevant]
    notes = {"reasoning": {**parsed.to_dict(), **{k: v for k, v in result.items() if k != "flags"}},
             "reasoning_flags": result["flags"]}
    return parsed.answer, stated, notes


# The same worked examples as ``prompts.FEW_SHOT``, answered in the reasoning format.
_FEW_SHOT: list[tuple[str, str, str]] = [
    (contexts, question, build_target([cite], evidence, answer))
    for (contexts, question, answer), cite, evidence in zip(
        prompts.FEW_SHOT, (2, 1), ("Our cat Miso is eight years old", "The ferry to Vela departs at 09:30 from pier 2.")
    )
]


def reasoning_messages(question: str, contexts: str) -> list[dict[str, str]]:
    """The RAG chat of ``prompts.rag_messages`` with the reasoning instruction and examples."""
    messages = prompts.rag_messages(question, contexts)
    messages[0] = {"role": "system", "content": REASONING_SYSTEM}
    for i, (_, _, target) in enumerate(_FEW_SHOT):
        messages[2 + 2 * i] = {"role": "assistant", "content": target}
    return messages


def tuned_mode(model: object) -> str | None:
    """The ``mode`` recorded in a tuned model dir's ``ragkit-tuning.json`` (``None``: not a tuned dir).

    ``model`` is the LLM's model reference (a dir path, or a name that is not a dir).
    """
    if not isinstance(model, (str, Path)):
        return None
    record = Path(model) / "ragkit-tuning.json"
    try:
        return json.loads(record.read_text(encoding="utf-8")).get("mode") if record.is_file() else None
    except (OSError, ValueError):
        return None
