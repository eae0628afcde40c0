"""Shared CLI options: ``--rewrite NAME[:ARG]`` / ``--rerank NAME[:ARG]`` and the search they run.

``NAME`` is a registered rewriter / reranker; ``ARG`` is either the component's main argument
(its ``cli_arg``: the model directory of ``cross-encoder``, the LLM model of the LLM-based ones)
or ``key=value`` pairs separated by commas, values read as YAML scalars::

    --rewrite rm3                       {"type": "rm3"}
    --rewrite rm3:fb_docs=5,fb_terms=20 {"type": "rm3", "fb_docs": 5, "fb_terms": 20}
    --rerank cross-encoder:runs/ce      {"type": "cross-encoder", "model": "runs/ce"}
    --rewrite hyde:smollm2-135m         {"type": "hyde", "llm": {"type": "transformers", "model": "smollm2-135m"}}
"""

from __future__ import annotations

import time
from typing import Any

from ragkit.types import Hit

__all__ = ["parse_component", "search"]


def _value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_component(kind: str, text: str) -> dict[str, Any]:
    """A registry config from ``NAME``, ``NAME:ARG`` or ``NAME:key=value,key=value``.

    Args:
        kind: ``"rewriter"`` or ``"reranker"``.
        text: the option's value.

    Returns:
        ``{"type": NAME, ...}``, ready for ``ragkit.registry.build``.

    Raises:
        KeyError: no component of that name (the message lists the choices).
        ValueError: an ``ARG`` for a component that takes none, or an empty key.
    """
    from ragkit.registry import get

    name, sep, arg = text.strip().partition(":")
    cls = get(kind, name)
    config: dict[str, Any] = {"type": name}
    if not sep:
        return config
    if "=" in arg:
        for pair in arg.split(","):
            key, _, value = pair.partition("=")
            if not key.strip():
                raise ValueError(f"--{kind[:6]} {text!r}: write key=value pairs separated by commas")
            config[key.strip()] = _value(value.strip())
        return config
    target = getattr(cls, "cli_arg", None)
    if target is None:
        raise ValueError(f"{kind} {name!r} takes no positional argument; give settings as {name}:key=value,...")
    config[target] = {"type": "transformers", "model": arg} if target == "llm" else arg
    return config


def search(
    retriever: Any,
    queries: list[str],
    k: int,
    rewrite: str | None = None,
    rerank: str | None = None,
    rerank_depth: int | None = None,
) -> tuple[list[list[Hit]], dict[str, float]]:
    """Retrieve ``k`` hits per query, with an optional rewriter and reranker given as CLI strings.

    The reranker sees ``rerank_depth`` candidates (default ``4 * k``, as ``Pipeline``).

    Returns:
        Hits per query and the stage timings (``rewrite``, ``retrieve``, ``fuse``, ``rerank``).
    """
    from ragkit.registry import build
    from ragkit.rewriters.base import rewrite_and_retrieve

    rewriter = build("rewriter", parse_component("rewriter", rewrite)) if rewrite else None
    reranker = build("reranker", parse_component("reranker", rerank)) if rerank else None
    depth = (rerank_depth or 4 * k) if reranker is not None else k
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if rewriter is not None:
        hits = rewrite_and_retrieve(rewriter, retriever, queries, depth, timings)
    else:
        hits = retriever.retrieve(queries, depth)
        timings["retrieve"] = time.perf_counter() - start
    if reranker is not None:
        start = time.perf_counter()
        hits = reranker.rerank(queries, hits, k)
        timings["rerank"] = time.perf_counter() - start
    return [h[:k] for h in hits], timings
