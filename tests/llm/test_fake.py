"""apply_stop and FakeLLM semantics (canned outputs for deterministic tests)."""

from __future__ import annotations

import pytest

from ragkit.llm import FakeLLM, LLMError, apply_stop
from ragkit.registry import build


# -- apply_stop / FakeLLM ------------------------------------------------------------------


def test_apply_stop_cuts_at_earliest_stop_string():
    assert apply_stop("one two. three\n\nfour", ["\n\n", "."]) == "one two"
    assert apply_stop("no stop here", ["###"]) == "no stop here"
    assert apply_stop("keep", None) == "keep"
    assert apply_stop("keep", [""]) == "keep"


def test_fake_list_cycles_in_order_and_records_calls():
    fake = FakeLLM(responses=["a", "b"])
    assert fake.complete(["p1", "p2", "p3"]) == ["a", "b", "a"]
    assert fake.calls == ["p1", "p2", "p3"]


def test_fake_dict_matches_first_substring_else_default():
    fake = FakeLLM(responses={"capital": "Paris", "France": "Europe"}, default="?")
    assert fake.complete(["the capital of France", "France only", "nothing"]) == ["Paris", "Europe", "?"]


def test_fake_chat_renders_roles_and_applies_stop_and_budget():
    fake = FakeLLM(responses={"user: hello": "one two three four. five"})
    out = fake.chat([[{"role": "system", "content": "s"}, {"role": "user", "content": "hello"}]], stop=["."])
    assert out == ["one two three four"]
    assert fake.calls == ["system: s\nuser: hello"]
    assert fake.chat([[{"role": "user", "content": "hello"}]], max_new_tokens=2) == ["one two"]


def test_fake_fail_raises_llm_error():
    fake = FakeLLM(fail=True)
    with pytest.raises(LLMError):
        fake.complete(["x"])
    assert fake.calls == ["x"]


def test_fake_counts_whitespace_tokens_and_config_excludes_state():
    fake = build("llm", {"type": "fake", "responses": ["x"]})
    assert fake.count_tokens("a b  c\nd") == 4
    fake.complete(["p"])
    assert fake.to_config() == {"type": "fake", "responses": ["x"], "default": "", "fail": False, "stream_words": False}


def test_fake_streams_in_one_piece_or_word_by_word():
    convo = [{"role": "user", "content": "q"}]
    assert list(FakeLLM(default="a b  c").stream_chat(convo)) == ["a b  c"]
    words = list(FakeLLM(default="a b  c", stream_words=True).stream_chat(convo))
    assert words == ["a", " b", " ", " c"] and "".join(words) == "a b  c"


def test_chat_rejects_malformed_messages():
    with pytest.raises(ValueError, match="role"):
        FakeLLM().chat([[{"content": "no role"}]])
    with pytest.raises(ValueError, match="non-empty"):
        FakeLLM().chat([[]])
