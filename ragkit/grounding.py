"""Lexical grounding: is an answer supported by the passages it was given?

``check_grounding`` is the check every RAG answer passes before it is shown (``LLMGenerator``):
a context grounds an answer when it holds enough of the answer's new content words and enough
of the question's, and every new number or code identifier of the answer appears in a grounding
context exactly. ``content_words``, ``exact_terms`` and ``parse_citations`` are its vocabulary;
``split_sentences`` / ``dedupe_sentences`` the sentence handling the generator uses to keep a
grounded lead when a small model rambles on.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["check_grounding", "content_words", "exact_terms", "parse_citations", "split_sentences",
           "dedupe_sentences"]

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either few
    for from further had has have having he her here hers herself him himself his how i if in into
    is it its itself just me more most much my myself no nor not now of off on once only or other
    our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up upon us very was we
    were what when where which while who whom whose why will with would yes you your yours
    yourself yourselves many often there's it's i'm don't""".split()
)
# Numbers stay whole (``07:40``, ``3,000``, ``1.25``) so "40" does not match "07:40".
_WORD = re.compile(r"\d+(?:[.,:]\d+)*|\w+(?:'\w+)?", re.UNICODE)
_CITATION = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` minus stopwords, with a plural ``s`` stripped (``reactors``).

    Args:
        text: any text.

    Returns:
        The set of content words; numbers are kept whole (``3,000``, ``07:40``).
    """
    words = set()
    for w in _WORD.findall(text.lower().replace("\u2019", "'")):
        if w.endswith("'s"):
            w = w[:-2]
        if w in _STOPWORDS:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        words.add(w)
    return words


def parse_citations(text: str) -> list[int]:
    """Citation numbers in ``text``, in order of first appearance, without duplicates.

    Args:
        text: model output with ``[1]``, ``[1, 3]`` or ``[1][2]`` markers.

    Returns:
        The numbers as ints (not range-checked).
    """
    seen: list[int] = []
    for group in _CITATION.findall(text):
        for n in re.split(r"\s*[,;]\s*", group):
            if int(n) not in seen:
                seen.append(int(n))
    return seen


def split_sentences(text: str) -> list[str]:
    """``text`` split after ``.``, ``!`` or ``?`` followed by whitespace (empty pieces dropped)."""
    return [x for x in re.split(r"(?<=[.!?])\s+", text) if x.strip()]


def dedupe_sentences(text: str) -> str:
    """Drop repeated sentences (small models loop: "X is Y. X is Y. X is Y.")."""
    seen: set[str] = set()
    kept = []
    for sentence in split_sentences(text):
        key = " ".join(sentence.lower().split())
        if key and key not in seen:
            seen.add(key)
            kept.append(sentence)
    return " ".join(kept)


def _fraction(words: set[str], pool: set[str]) -> float:
    return len(words & pool) / len(words) if words else 1.0


# identifiers: snake_case, camelCase / PascalCase with an inner capital, dotted names, UPPER_CASE
_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b|\b\w*(?:_\w|[a-z][A-Z])\w*\b|\b[A-Z][A-Z0-9]{2,}\b")


def exact_terms(text: str) -> set[str]:
    """The numbers and code identifiers of ``text``, as ``content_words`` spells them.

    These must be matched exactly by the evidence: a changed digit or a made-up name is where a
    model hallucinates, and partial word overlap cannot catch it.
    """
    words = {w for w in content_words(text) if w[0].isdigit()}
    for ident in _IDENTIFIER.findall(text):
        words |= content_words(ident.replace(".", " "))
    return words


def check_grounding(
    question: str,
    answer: str,
    contexts: list[str],
    code: list[bool] | None = None,
    min_support: float = 0.5,
    min_relevance: float = 0.6,
    min_relevance_code: float = 0.0,
    exact_identifiers: bool = True,
) -> dict[str, Any]:
    """Is ``answer`` supported by one of ``contexts``? A lexical attribution check.

    A context grounds the answer when it holds at least ``min_support`` of the answer's new
    content words (not already in the question) and at least ``min_relevance`` of the
    question's content words (``min_relevance_code`` when ``code[i]``). Every new number
    (and, with ``exact_identifiers``, identifier) of the answer must then be in a grounding
    context.

    Returns:
        ``{"grounded": bool, "context": best 0-based index or None, "support", "relevance",
        "grounding": [i, ...], "missing": [exact terms in no grounding context], "new_words",
        "ctx_words"}`` (the last two are word sets, for attributing citations).
    """
    code = code if code is not None else [False] * len(contexts)
    q_words = content_words(question)
    a_text = _CITATION.sub(" ", answer)
    a_words = content_words(a_text)
    new_words = (a_words - q_words) or a_words
    ctx_words = [content_words(c) for c in contexts]
    support = [_fraction(new_words, w) for w in ctx_words]
    relevance = [_fraction(q_words, w) for w in ctx_words]
    floors = [min_relevance_code if c else min_relevance for c in code]
    grounded = [s >= min_support and r >= f for s, r, f in zip(support, relevance, floors)]
    best = max(range(len(ctx_words)), key=lambda i: (grounded[i], support[i] + relevance[i]), default=None)
    exact = {w for w in new_words if w[0].isdigit()}
    if exact_identifiers:
        exact |= exact_terms(a_text) - q_words
    evidence = set().union(*(w for w, g in zip(ctx_words, grounded) if g))
    missing = sorted(exact - evidence) if any(grounded) else []
    return {
        "grounded": any(grounded) and not missing,
        "context": best,
        "support": round(support[best], 3) if best is not None else 0.0,
        "relevance": round(relevance[best], 3) if best is not None else 0.0,
        "grounding": [i for i, g in enumerate(grounded) if g],
        "missing": missing,
        "new_words": new_words,
        "ctx_words": ctx_words,
    }
