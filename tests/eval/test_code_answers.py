"""Code answer metrics: identifiers stay tokens, the gold symbol is found as a whole identifier."""

from __future__ import annotations

import doctest

import pytest

import ragkit.eval.code_answers as code_answers
from ragkit.eval.answers import token_f1
from ragkit.eval.code_answers import code_token_f1, code_tokens, names_symbol


def test_identifiers_are_tokens_where_squad_fuses_them():
    right = "stop_after_attempt(max_attempt_number)"
    assert token_f1(right, "stop_after_attempt(max_attempt_number)") == 1.0
    assert token_f1("stop_after_attempt(3)", "stop_after_attempt(max_attempt_number)") == 0.0  # SQuAD: one fused token each
    assert code_token_f1("stop_after_attempt(3)", right) == pytest.approx(2 * 0.5 * 0.5 / 1.0)
    assert code_tokens("sys.maxsize / 2") == ["sys", "maxsize", "2"]
    assert code_token_f1("sys.maxsize / 2", ["512", "sys.maxsize/2"]) == 1.0  # the best gold
    with pytest.raises(ValueError, match="no gold answer"):
        code_token_f1("x", [])


def test_names_symbol_wants_the_whole_identifier():
    assert names_symbol("Use tenacity.stop_after_attempt(5).", "stop_after_attempt") == 1.0
    assert names_symbol("Call err.reraise()", "RetryError.reraise") == 1.0
    assert names_symbol("stop_after_attempts is not it", "stop_after_attempt") == 0.0
    assert names_symbol("MO(+2) is the second Monday", "MO, TU, WE") == 1.0
    assert names_symbol("", "x") == 0.0


def test_docstring_examples():
    assert doctest.testmod(code_answers).failed == 0
