"""The LLM protocol's shared pieces: StopFilter for streams, default truncate / stream_chat, capabilities."""

from __future__ import annotations

import pytest

from ragkit.llm import FakeLLM, LogprobsUnsupported, StopFilter, apply_stop


@pytest.mark.parametrize("pieces", [["Hello wor", "ld.###tail"], ["Hello world.#", "##tail"], ["H", "ello world.", "#", "#", "#", "x"]])
def test_stop_filter_streams_exactly_apply_stop(pieces):
    f = StopFilter(["###", "\n\n"])
    shown = [f.feed(p) for p in pieces]
    assert "".join(shown) + f.flush() == apply_stop("".join(pieces), ["###"]) == "Hello world."
    assert f.done and f.text == "Hello world."
    assert not any("#" in s for s in shown)  # a stop string's start is held back, never shown


def test_stop_filter_releases_a_held_prefix_that_was_no_stop():
    f = StopFilter(["###"])
    assert f.feed("a #") == "a "  # "#" may start "###"
    assert f.feed("b") == "#b" and not f.done
    assert f.feed("##") == "" and f.flush() == "##"
    assert StopFilter(None).feed("any ### text") == "any ### text"


def test_defaults_truncate_by_characters_and_stream_once():
    fake = FakeLLM(responses=["one two three"])
    assert fake.truncate("a" * 10, 100) == "a" * 10
    assert fake.truncate("word " * 100, 5) == "word word word word"  # about 4 characters a token, at a word end
    assert list(fake.stream_chat([{"role": "user", "content": "q"}])) == ["one two three"]


def test_backends_without_logprobs_say_so():
    fake = FakeLLM()
    assert fake.supports_logprobs is False
    with pytest.raises(LogprobsUnsupported, match="FakeLLM gives no token log-probabilities"):
        fake.choice_logprobs([[{"role": "user", "content": "q"}]], [["yes"], ["no"]])
    with pytest.raises(NotImplementedError):
        fake.continuation_logprobs([[{"role": "user", "content": "q"}]], ["x"])
