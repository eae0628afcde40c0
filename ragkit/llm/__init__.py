"""One LLM protocol, batch-first and deterministic by default, with four backends.

``LLM.complete(prompts)`` continues raw prompts; ``LLM.chat(conversations)`` answers
``[{"role": ..., "content": ...}, ...]`` message lists. Both return one string per input, with
special tokens stripped and cut at the first stop string. Backends:

- ``transformers``: a local causal LM (default ``smollm2-135m``, offline), batched with left
  padding; greedy when ``temperature == 0``, seeded sampling otherwise.
- ``llama-cpp``: the same bundled GGUF run by llama.cpp (``llama-cpp-python``, the ``llama``
  extra): several times faster on a CPU, streaming; no LoRA adapters, no log-probabilities.
- ``openai``: any OpenAI-compatible HTTP server (vLLM, llama.cpp server, Ollama …), with
  retries and backoff on timeouts, connection errors, 429 and 5xx.
- ``fake``: canned outputs for deterministic tests (like DSPy's ``DummyLM``).

Example:
    >>> llm = build("llm", {"type": "fake", "responses": {"capital": "Paris"}})
    >>> llm.complete(["What is the capital of France?"])
    ['Paris']
"""

from ragkit.llm.base import LLM, LLMError, LogprobsUnsupported, Message, StopFilter, apply_stop
from ragkit.llm.fake import FakeLLM
from ragkit.llm.llama_cpp import LlamaCppLLM
from ragkit.llm.local import TransformersLLM
from ragkit.llm.openai_compat import OpenAICompatibleLLM

__all__ = ["LLM", "LLMError", "LogprobsUnsupported", "Message", "StopFilter", "TransformersLLM", "LlamaCppLLM", "OpenAICompatibleLLM", "FakeLLM", "apply_stop"]
