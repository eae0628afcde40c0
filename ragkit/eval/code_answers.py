"""Answer metrics for questions about code, where SQuAD normalisation breaks identifiers.

SQuAD's normalisation deletes punctuation without putting a space in its place, so
``stop_after_attempt(max_attempt)`` becomes one token ``stopafterattemptmaxattempt`` and a
right answer scores token-F1 0. Here tokens are identifiers and words (``\\w+``, lower-cased:
underscores kept, brackets and dots separate), and an answer can be checked for the one thing a
code question is usually about: the gold symbol.

- ``code_token_f1``: token F1 over identifier tokens, against the best-matching gold answer;
- ``names_symbol``: 1.0 when the answer names the gold symbol's last part as a whole identifier
  (``RetryError.reraise`` is named by ``err.reraise()``, not by ``reraised``).
"""

from __future__ import annotations

import re
from typing import Sequence

from ragkit.eval.answers import bag_f1

__all__ = ["code_tokens", "code_token_f1", "names_symbol"]

_TOKEN = re.compile(r"\w+")


def code_tokens(text: str) -> list[str]:
    """Lower-cased identifier / word tokens: ``"f(max_n=2)"`` -> ``["f", "max_n", "2"]``."""
    return _TOKEN.findall(text.lower())


def code_token_f1(prediction: str, golds: Sequence[str] | str) -> float:
    """Token F1 over identifier tokens against the best-matching gold answer.

    >>> code_token_f1("stop_after_attempt(stop_base, max_attempt)", "stop_after_attempt(max_attempt_number)")
    0.4

    Raises:
        ValueError: no gold answer.
    """
    golds = [golds] if isinstance(golds, str) else list(golds)
    if not golds:
        raise ValueError("no gold answer to compare with; give each question a non-empty answer")
    predicted = code_tokens(prediction)
    return max(bag_f1(predicted, code_tokens(g)) for g in golds)


def names_symbol(prediction: str, symbol: str) -> float:
    """1.0 when ``prediction`` names the last part of ``symbol`` as a whole identifier, else 0.0.

    >>> names_symbol("Call err.reraise() to raise it again", "RetryError.reraise")
    1.0
    >>> names_symbol("it is reraised", "RetryError.reraise")
    0.0
    """
    name = symbol.rsplit(".", 1)[-1].split(", ")[0]
    return float(bool(name) and re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", prediction, re.I) is not None)
