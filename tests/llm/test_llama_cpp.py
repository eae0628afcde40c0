"""LlamaCppLLM with the bundled SmolLM2-135M GGUF: same prompt tokens as transformers, greedy, stop, stream."""

from __future__ import annotations

import pytest

from ragkit.llm import LLMError, LlamaCppLLM, TransformersLLM
from ragkit.models import ModelNotFound, gguf_path
from ragkit.registry import build

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'ragkit[llama]'")

CONV = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Count from 1 to 10, separated by commas."}]


@pytest.fixture(scope="module")
def llama() -> LlamaCppLLM:
    return build("llm", {"type": "llama-cpp", "max_new_tokens": 24, "n_threads": 1})


def test_loads_the_shipped_gguf_and_answers(llama):
    assert llama.context_window == 8192
    # (4-bit weights with 8-bit activations: on "What is the capital of France?" the first token
    # differs from transformers fp32's, which answers "Paris"; so the check is a counting prompt)
    full = llama.chat([CONV])[0]
    assert "5" in full and "<|im_end|>" not in full
    assert llama.chat([CONV], stop=["5"])[0] == full[: full.index("5")].strip()
    assert llama.chat([CONV]) == [full]  # greedy: deterministic


def test_prompt_and_token_counts_match_the_transformers_backend(llama):
    smol = TransformersLLM()
    _, tok = smol._load()
    convs = [CONV, [{"role": "user", "content": "Wie spät ist es? 07:40, [1] café — naïve"}]]
    for conv, text in zip(convs, smol._render(convs)):
        assert llama.render(conv) == text
        assert llama._tokens(text, special=True) == tok.encode(text, add_special_tokens=False)
    sample = "The reactor's coolant loop runs at 3,000 kPa; see [2]."
    assert llama.count_tokens(sample) == smol.count_tokens(sample)
    assert llama.truncate(sample, 5) == smol.truncate(sample, 5)


def test_stream_joins_to_the_chat_reply(llama):
    pieces = list(llama.stream_chat(CONV))
    assert len(pieces) > 3
    assert "".join(pieces).strip() == llama.chat([CONV])[0]
    assert "".join(llama.stream_chat(CONV, stop=["5"])).strip() == llama.chat([CONV], stop=["5"])[0]


def test_sampling_is_seeded_and_errors_name_the_fix(llama):
    a = LlamaCppLLM(temperature=1.0, seed=3, n_threads=1).complete(["Once upon a time"], max_new_tokens=8)
    b = LlamaCppLLM(temperature=1.0, seed=3, n_threads=1).complete(["Once upon a time"], max_new_tokens=8)
    assert a == b
    with pytest.raises(ValueError, match="context window"):
        llama.complete(["word"], max_new_tokens=llama.context_window)
    assert llama.supports_logprobs is False
    with pytest.raises(ModelNotFound, match="GGUF"):
        gguf_path("minilm")
    with pytest.raises(ValueError, match="n_threads"):
        LlamaCppLLM(n_threads=0)
    assert isinstance(LLMError("x"), RuntimeError)
