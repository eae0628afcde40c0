"""TransformersLLM with the real bundled SmolLM2-135M: greedy, batching, chat, stop strings, sampling."""

from __future__ import annotations

import pytest

from ragkit.llm import TransformersLLM


# -- TransformersLLM with the bundled SmolLM2-135M -----------------------------------------


@pytest.fixture(scope="module")
def one_thread():
    """Run the real model on one torch thread: on this 2-core, shared machine two threads spin
    against other processes and run ~5x slower; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def smol(one_thread) -> TransformersLLM:
    return TransformersLLM(max_new_tokens=12)


PROMPTS = ["The capital of France is", "Once upon a time, in a small village,", "1, 2, 3, 4,"]


@pytest.fixture(scope="module")
def greedy(smol) -> list[str]:
    return smol.complete(PROMPTS)


def test_transformers_greedy_is_deterministic(smol, greedy):
    assert all(greedy), greedy
    assert smol.complete(PROMPTS) == greedy


def test_transformers_batched_equals_one_by_one(greedy):
    one_by_one = TransformersLLM(batch_size=1, max_new_tokens=12)
    assert [one_by_one.complete([p])[0] for p in PROMPTS] == greedy


def test_transformers_chat_answers_and_stop_strings_cut(smol):
    conv = [[{"role": "user", "content": "Count from 1 to 10, separated by commas."}]]
    full = smol.chat(conv, max_new_tokens=24)[0]
    assert "5" in full, full
    stopped = smol.chat(conv, max_new_tokens=24, stop=["5"])[0]
    assert stopped == full[: full.index("5")].strip()
    capital = smol.chat([[{"role": "user", "content": "What is the capital of France?"}]], max_new_tokens=10)
    assert "Paris" in capital[0]
    assert "<|im_end|>" not in full and "<|im_start|>" not in full


def test_transformers_sampling_is_seeded(smol):
    a = TransformersLLM(temperature=1.0, seed=3).complete(PROMPTS[:2], max_new_tokens=8)
    b = TransformersLLM(temperature=1.0, seed=3).complete(PROMPTS[:2], max_new_tokens=8)
    c = TransformersLLM(temperature=1.0, seed=4).complete(PROMPTS[:2], max_new_tokens=8)
    assert a == b
    assert a != c  # another seed samples another continuation


def test_transformers_counts_tokens_and_rejects_overlong_prompt(smol):
    assert 0 < smol.count_tokens("hello world") <= 3
    assert smol.context_window >= 2048
    with pytest.raises(ValueError, match="context window"):
        smol.complete(["word " * 20], max_new_tokens=smol.context_window)


def test_transformers_streams_the_same_reply_as_chat(smol):
    conv = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
    pieces = list(smol.stream_chat(conv, max_new_tokens=24))
    assert len(pieces) > 3  # token by token, not one block
    assert "".join(pieces).strip() == smol.chat([conv], max_new_tokens=24)[0]
    stopped = "".join(smol.stream_chat(conv, max_new_tokens=24, stop=["5"]))
    assert stopped.strip() == smol.chat([conv], max_new_tokens=24, stop=["5"])[0]


def test_transformers_logprobs_agree_with_each_other_and_batching(smol):
    import math

    convs = [[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
             [{"role": "user", "content": "Is the sky green? Answer yes or no."}]]
    assert smol.supports_logprobs
    [paris, london], _ = smol.choice_logprobs(convs, [["Paris"], ["London"]], batch_size=2)
    assert paris > london + math.log(10)  # the model knows this one
    per_token = smol.continuation_logprobs(convs, ["Paris", "No"], batch_size=1)
    assert len(per_token[0]) == smol.count_tokens("Paris") and all(lp <= 0 for lp in per_token[0])
    # the first continuation token's log-probability is the single-form choice's
    assert per_token[0][0] == pytest.approx(paris, abs=1e-4)
    together = smol.continuation_logprobs(convs, ["Paris", "No"], batch_size=2)
    assert together[0] == pytest.approx(per_token[0], abs=1e-4) and together[1] == pytest.approx(per_token[1], abs=1e-4)
    assert smol.continuation_logprobs(convs[:1], [""]) == [[]]
    with pytest.raises(ValueError, match="continuations"):
        smol.continuation_logprobs(convs, ["x"])


def test_transformers_truncates_by_tokens_and_loads_bf16_on_request(smol):
    text = "The quick brown fox jumps over the lazy dog. " * 20
    cut = smol.truncate(text, 10)
    assert smol.count_tokens(cut) <= 10 and text.startswith(cut.rstrip())
    assert smol.truncate("short", 10) == "short"
    import torch

    bf16 = TransformersLLM(precision="bf16", max_new_tokens=4)
    model, _ = bf16._load()
    assert model.dtype == torch.bfloat16 and smol._load()[0].dtype == torch.float32
    with pytest.raises(ValueError, match="unknown precision"):
        TransformersLLM(precision="fp8")
