"""Pipeline: question → (rewrite) → retrieve → (rerank) → generate, with per-stage timings.

The pipeline is the one composer of the query path: the CLI (``search``, ``ask``, ``serve``),
``eval-retrieval``, the benchmarks, the tuners' before/after evaluation and ``compare`` all build a
``Pipeline`` from a spec (see ``ragkit.config``) and call it. A spec is the index directory plus
one registry config per stage; ``from_config(c).to_config() == c``. Building it loads nothing;
models load on the first call (or ``warm_up()``). The same API answers closed-book (no
retrieval), which the RAG-vs-fine-tuning comparison needs.

Example:
    >>> p = Pipeline.from_config({"index": "runs/demo", "retriever": "hybrid"})  # doctest: +SKIP
    >>> p.ask(["What is the maximum DC input voltage of the X2-5K?"])[0].text  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

from ragkit.config import load_spec, validate_spec
from ragkit.defaults import DEFAULT_K, RERANK_DEPTH_FACTOR
from ragkit.indexes.promoted import pointer_path, read_promoted
from ragkit.registry import build, get
from ragkit.types import Answer, Hit

__all__ = ["Pipeline", "MODES", "AUTO", "default_retriever"]

MODES = ("rag", "closed-book")
AUTO = "auto"
"""The retriever name that means "whichever fits the index" (``default_retriever``)."""


def _with_index(config: str | dict[str, Any], index: str, stage: str = "retriever") -> dict[str, Any]:
    """A stage's config with ``index`` filled in when its component takes one and the spec omits it."""
    config = {"type": config} if isinstance(config, str) else dict(config)
    if "index" not in config and "index" in inspect.signature(get(stage, config["type"]).__init__).parameters:
        config["index"] = index
    return config


def default_retriever(index: str | Path) -> str:
    """The retriever that fits an index: ``hybrid`` with both BM25 and dense indexes, else the one it has.

    Raises:
        FileNotFoundError: not an index directory.
        ValueError: the index has no search index yet (the message says what to run).
    """
    from ragkit.indexes.index import Index

    opened = Index.open(index)
    if opened.has("bm25") and opened.has("dense"):
        return "hybrid"
    if opened.has("dense") or opened.has("bm25"):
        return "dense" if opened.has("dense") else "bm25"
    raise ValueError(f"{index} has no search index yet; build one with `ragkit index {index}`")


class Pipeline:
    """A configured RAG pipeline over one index directory.

    Args:
        index: index directory (``ragkit ingest`` + ``ragkit index``); ``None`` for closed-book only.
        retriever: retriever config (``"bm25"``, ``"dense"``, ``"hybrid"`` or a dict);
            its ``index`` defaults to the pipeline's. ``"auto"`` (the default) is the CLI's
            choice, ``default_retriever(index)``, made when the retriever is first built.
        rewriter: optional query rewriter config (``ragkit.rewriters``).
        reranker: optional reranker config (``ragkit.rerankers``).
        generator: generator config; default ``{"type": "llm"}`` (SmolLM2-135M, offline).
        k: passages given to the generator (and hits returned by ``retrieve``).
        rerank_k: candidates retrieved for the reranker to reorder (default ``4 * k``).
    """

    def __init__(
        self,
        index: str | None = None,
        retriever: str | dict[str, Any] | None = AUTO,
        rewriter: str | dict[str, Any] | None = None,
        reranker: str | dict[str, Any] | None = None,
        generator: str | dict[str, Any] | None = None,
        k: int = DEFAULT_K,
        rerank_k: int | None = None,
    ):
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if rerank_k is not None and rerank_k < 1:
            raise ValueError(f"rerank_k must be at least 1, got {rerank_k}")
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

    @classmethod
    def for_index(
        cls, index: str | Path, spec: str | Path | dict[str, Any] | None = None, k: int | None = None
    ) -> Pipeline:
        """The pipeline the commands use: a spec (file or dict) over ``index``, with defaults that fit it.

        Args:
            index: the index directory (always used, even when the spec names another).
            spec: optional pipeline spec, a file path or a dict.
            k: passages per answer; ``None`` keeps the spec's value (default 4).

        Returns:
            A ``Pipeline``; without a retriever in the spec (or with ``"auto"``) it is
            ``default_retriever(index)``, resolved now; without a reranker, the index's promoted
            reranker if it has one (``ragkit.rerankers.promoted``; a reranker that takes an
            ``index``, like ``promoted``, gets this one when the spec omits it); without a generator,
            the index's promoted generator if it has one (``ragkit.tuning.promote_generator``), else
            the default (SmolLM2-135M).

        Raises:
            FileNotFoundError / ValueError: the index is missing or has no search index; the spec
                is unreadable or invalid; ``k < 1``.
        """
        config: dict[str, Any] = dict(spec) if isinstance(spec, dict) else load_spec(spec) if spec else {}
        config["index"] = str(index)
        if config.get("retriever", AUTO) == AUTO:
            config["retriever"] = default_retriever(index)
        if "reranker" not in config and pointer_path(index, "reranker").exists():
            config["reranker"] = {"type": "promoted", "index": str(index)}  # `ragkit tune reranker` promoted one
        elif isinstance(config.get("reranker"), str) or "type" in (config.get("reranker") or {}):
            config["reranker"] = _with_index(config["reranker"], str(index), "reranker")  # `--rerank promoted`
        if "generator" not in config and pointer_path(index, "generator").exists():  # `ragkit tune generator` promoted one
            config["generator"] = {"type": "llm", "llm": read_promoted(index, "generator")["spec"]}
        if k is not None:
            config["k"] = k
        return cls.from_config(config)

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
                if config == AUTO:
                    config = default_retriever(self.index)
                config = _with_index(config, self.index)
            self._built[stage] = build(stage, config)
        return self._built[stage]

    def use_index(self, index: Any) -> Pipeline:
        """Share an already opened ``ragkit.indexes.index.Index`` (same directory) with the retriever."""
        retriever = self.component("retriever")
        if hasattr(retriever, "use_index"):
            retriever.use_index(index)
        return self

    def warm_up(self, mode: str = "rag") -> None:
        """Load every model the pipeline will use (components that have ``warm_up``), generating nothing."""
        stages = ("rewriter", "retriever", "reranker", "generator") if mode == "rag" else ("generator",)
        for stage in stages:
            component = self.component(stage)
            if component is not None and hasattr(component, "warm_up"):
                component.warm_up()

    def candidate_depth(self, k: int) -> int:
        """How many first-stage hits feed the reranker for ``k`` results (``k`` without a reranker)."""
        if self.reranker is None:
            return k
        return self.rerank_k or RERANK_DEPTH_FACTOR * k

    # -- verbs -------------------------------------------------------------------------
    def retrieve(
        self, questions: list[str], k: int | None = None, feedback: list[list[Hit]] | None = None
    ) -> tuple[list[list[Hit]], dict[str, float]]:
        """Rewrite, retrieve and rerank; the top-``k`` hits per question and stage timings (seconds, all questions).

        Args:
            questions: the questions.
            k: hits per question (default: the pipeline's ``k``).
            feedback: per question, documents a user marked relevant, for a rewriter that reads
                feedback (instead of a first retrieval pass).
        """
        if isinstance(questions, str):
            raise ValueError("retrieve takes a list of questions; wrap a single question in a list")
        k = k or self.k
        timings: dict[str, float] = {}
        retriever = self.component("retriever")
        rewriter, reranker = self.component("rewriter"), self.component("reranker")
        depth = self.candidate_depth(k)
        if rewriter is not None:
            from ragkit.pipeline.rewrite import rewrite_and_retrieve

            hits = rewrite_and_retrieve(rewriter, retriever, questions, depth, timings, feedback)
        else:
            start = time.perf_counter()
            hits = retriever.retrieve(questions, depth)
            timings["retrieve"] = time.perf_counter() - start
        if reranker is not None:
            start = time.perf_counter()
            hits = reranker.rerank(questions, hits, k)
            timings["rerank"] = time.perf_counter() - start
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
