"""Pipeline: question → (rewrite) → retrieve → (rerank) → generate, with per-stage timings.

A pipeline is built from a spec (see ``ragkit.config``): the index directory plus one
registry config per stage. ``from_config(c).to_config() == c``. Building it loads nothing;
models load on the first call. The same API answers closed-book (no retrieval), which the
RAG-vs-fine-tuning comparison needs.

Example:
    >>> p = Pipeline.from_config({"index": "runs/demo", "retriever": "hybrid"})  # doctest: +SKIP
    >>> p.ask(["What is the maximum DC input voltage of the X2-5K?"])[0].text  # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Any

from ragkit.config import validate_spec
from ragkit.registry import build
from ragkit.types import Answer, Hit

__all__ = ["Pipeline", "MODES"]

MODES = ("rag", "closed-book")


def _with_index(config: str | dict[str, Any], index: str | None) -> dict[str, Any]:
    """A stage config with ``index`` filled in when the stage takes one and the spec omits it."""
    config = {"type": config} if isinstance(config, str) else dict(config)
    if index is not None and "index" not in config:
        import inspect

        from ragkit.registry import get

        kind = "retriever"
        if "index" in inspect.signature(get(kind, config["type"]).__init__).parameters:
            config["index"] = index
    return config


class Pipeline:
    """A configured RAG pipeline over one index directory.

    Args:
        index: index directory (``ragkit ingest`` + ``ragkit index``); ``None`` for closed-book only.
        retriever: retriever config (``"bm25"``, ``"dense"``, ``"hybrid"`` or a dict);
            its ``index`` defaults to the pipeline's.
        rewriter: optional query rewriter config (``ragkit.rewriters``).
        reranker: optional reranker config (``ragkit.rerankers``).
        generator: generator config; default ``{"type": "llm"}`` (SmolLM2-135M, offline).
        k: passages given to the generator.
        rerank_k: passages retrieved for the reranker to reorder (default ``4 * k``).
    """

    def __init__(
        self,
        index: str | None = None,
        retriever: str | dict[str, Any] | None = "hybrid",
        rewriter: str | dict[str, Any] | None = None,
        reranker: str | dict[str, Any] | None = None,
        generator: str | dict[str, Any] | None = None,
        k: int = 4,
        rerank_k: int | None = None,
    ):
        self.index = None if index is None else str(index)
        self.retriever = retriever
        self.rewriter = rewriter
        self.reranker = reranker
        self.generator = generator
        self.k = k
        self.rerank_k = rerank_k
        self._built: dict[str, Any] = {}

    # -- config ------------------------------------------------------------------------
    @classmethod
    def from_config(cls, spec: dict[str, Any]) -> Pipeline:
        """Build from a spec dict (as loaded by ``ragkit.config.load_spec``); loads nothing."""
        return cls(**validate_spec(dict(spec)))

    def to_config(self) -> dict[str, Any]:
        """The spec that rebuilds this pipeline (``None`` stages omitted)."""
        names = ("index", "retriever", "rewriter", "reranker", "generator", "k", "rerank_k")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    # -- components, built on first use ------------------------------------------------
    def component(self, stage: str) -> Any:
        """The built component of ``stage`` (``retriever``, ``rewriter``, ``reranker``, ``generator``)."""
        if stage not in self._built:
            config = getattr(self, stage)
            if stage == "generator" and config is None:
                config = {"type": "llm"}
            if config is None:
                return None
            if stage == "retriever":
                if self.index is None:
                    raise ValueError("this pipeline has no index: pass index=DIR, or use mode='closed-book'")
                config = _with_index(config, self.index)
            self._built[stage] = build(stage, config)
        return self._built[stage]

    # -- verbs -------------------------------------------------------------------------
    def retrieve(self, questions: list[str], k: int | None = None) -> tuple[list[list[Hit]], dict[str, float]]:
        """Rewrite, retrieve and rerank; returns the top-``k`` hits per question and stage timings."""
        k = k or self.k
        timings: dict[str, float] = {}
        rewriter, reranker = self.component("rewriter"), self.component("reranker")
        depth = (self.rerank_k or 4 * k) if reranker is not None else k
        t0 = time.perf_counter()
        if rewriter is not None:
            from ragkit.rewriters.base import rewrite_and_retrieve

            hits = rewrite_and_retrieve(rewriter, self.component("retriever"), questions, depth, timings)
        else:
            hits = self.component("retriever").retrieve(questions, depth)
            timings["retrieve"] = time.perf_counter() - t0
        if reranker is not None:
            t1 = time.perf_counter()
            hits = reranker.rerank(questions, hits, k)
            timings["rerank"] = time.perf_counter() - t1
        return [h[:k] for h in hits], timings

    def ask(self, questions: list[str], mode: str = "rag", k: int | None = None) -> list[Answer]:
        """Answer questions with citations (``mode="rag"``) or from the model alone (``"closed-book"``).

        Raises:
            ValueError: an empty question or an unknown mode.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if isinstance(questions, str):
            raise ValueError("ask takes a list of questions; wrap a single question in a list")
        for q in questions:
            if not q or not q.strip():
                raise ValueError("a question is empty; ask something")
        timings: dict[str, float] = {}
        contexts = None
        if mode == "rag":
            contexts, timings = self.retrieve(questions, k)
        answers = self.component("generator").generate(questions, contexts)
        share = {stage: seconds / max(1, len(questions)) for stage, seconds in timings.items()}
        for answer in answers:
            answer.timings = {**share, **answer.timings}
            answer.timings["total"] = sum(answer.timings.values())
        return answers
