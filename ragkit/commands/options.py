"""Command-line options that become a pipeline spec: ``--spec``, ``--rewrite``, ``--rerank``.

``--rewrite NAME[:ARG]`` / ``--rerank NAME[:ARG]`` are parsed by ``ragkit.config.parse_component``
(the one parser of component options)::

    --rewrite rm3                       {"type": "rm3"}
    --rewrite rm3:fb_docs=5,fb_terms=20 {"type": "rm3", "fb_docs": 5, "fb_terms": 20}
    --rerank cross-encoder:runs/ce      {"type": "cross-encoder", "model": "runs/ce"}
    --rewrite hyde:smollm2-135m         {"type": "hyde", "llm": {"type": "transformers", "model": "smollm2-135m"}}

The options overlay the spec file's stages, so ``ragkit search``, ``ask``, ``serve`` and
``eval-retrieval`` run the same ``Pipeline`` from the same spec language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

__all__ = ["pipeline_spec", "RerankOpt", "RERANK_HELP"]

RERANK_HELP = ("Reranker NAME[:ARG], e.g. cross-encoder:DIR, bi-encoder:model=DIR,first_stage_weight=0.3, llm, "
               "reorder, promoted (the index's promoted reranker, followed without restart).")
RerankOpt = Annotated[Optional[str], typer.Option(help=RERANK_HELP)]


def pipeline_spec(
    spec: Path | None = None,
    retriever: str | dict[str, Any] | None = None,
    rewrite: str | None = None,
    rerank: str | None = None,
    rerank_k: int | None = None,
    k: int | None = None,
) -> dict[str, Any]:
    """A pipeline spec: the ``spec`` file (if any) with the command-line stages overlaid.

    Args:
        spec: a YAML/TOML/JSON pipeline spec file.
        retriever: a retriever config from ``--mode`` / ``--fusion`` / filters (overlays the spec's).
        rewrite: ``--rewrite NAME[:ARG]``.
        rerank: ``--rerank NAME[:ARG]``.
        rerank_k: candidates the reranker sees (``--rerank-depth``).
        k: hits / passages per question.

    Returns:
        The spec, without ``index`` (the command sets it).

    Raises:
        KeyError / ValueError: an unknown component, a bad option string or spec file.
    """
    from ragkit.config import load_spec, overlay, parse_component

    config: dict[str, Any] = load_spec(spec) if spec is not None else {}
    changes: dict[str, Any] = {
        "retriever": retriever,
        "rewriter": parse_component("rewriter", rewrite) if rewrite else None,
        "reranker": parse_component("reranker", rerank) if rerank else None,
        "rerank_k": rerank_k,
        "k": k,
    }
    return overlay(config, {key: value for key, value in changes.items() if value is not None})
