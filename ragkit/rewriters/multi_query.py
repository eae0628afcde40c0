"""Multi-query: the LLM rephrases the question several ways; the runs are fused with RRF.

The original question is always the first query (weight ``original_weight``), so a useless
rephrasing can only add candidates, never drop the original ranking. Replies are parsed one
query per line (list markers dropped); lines repeating the question are ignored.

References: Rackauckas 2024, "RAG-Fusion: a New Take on Retrieval-Augmented Generation";
Cormack, Clarke & Büttcher 2009, "Reciprocal Rank Fusion outperforms Condorcet and individual
Rank Learning Methods".
"""

from __future__ import annotations

import warnings
from typing import Any

from ragkit.defaults import RRF_K
from ragkit.registry import register
from ragkit.rewriters.base import LLMRewriter, Rewrite, RewriteWarning, TextQueries, parse_lines
from ragkit.types import Hit

__all__ = ["MultiQuery", "PROMPT"]

PROMPT = (
    "Write {n} different search queries that ask for the same information as the question below, "
    "one per line, without numbering or explanations.\nQuestion: {query}"
)


@register("rewriter", "multi-query")
class MultiQuery(LLMRewriter):
    """Retrieve with the question and ``n_queries`` LLM rephrasings, fused by RRF.

    Args:
        llm: LLM config (default: the bundled SmolLM2-135M-Instruct via transformers).
        n_queries: rephrasings asked for (and kept at most).
        prompt: the instruction, with ``{query}`` and ``{n}``.
        max_new_tokens: generation budget for all rephrasings of one question.
        original_weight: RRF weight of the original question's run (rephrasings weigh 1).
        rrf_k: the reciprocal rank fusion constant.

    Raises:
        ValueError: ``n_queries < 1`` or a prompt without ``{query}``.
    """

    def __init__(
        self,
        llm: str | dict[str, Any] = "transformers",
        n_queries: int = 3,
        prompt: str = PROMPT,
        max_new_tokens: int = 96,
        original_weight: float = 1.0,
        rrf_k: int = RRF_K,
    ):
        if n_queries < 1:
            raise ValueError(f"n_queries must be >= 1, got {n_queries}")
        if "{query}" not in prompt:
            raise ValueError("the multi-query prompt must contain {query}")
        self.llm = llm
        self.n_queries = n_queries
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.original_weight = original_weight
        self.rrf_k = rrf_k

    def rewrite(
        self, queries: list[str], feedback: list[list[Hit]] | None = None, searcher: Any = None
    ) -> list[Rewrite]:
        """Rephrase each question (``feedback`` is not used)."""
        conversations = [
            [{"role": "user", "content": self.prompt.format(query=q, n=self.n_queries)}] for q in queries
        ]
        replies = self._chat(conversations, self.max_new_tokens)
        if replies is None:
            return [Rewrite.keep(q, "multi-query: the LLM failed", warn=False) for q in queries]
        out = []
        for query, reply in zip(queries, replies):
            alternatives = [
                line for line in parse_lines(reply, self.n_queries + 1)
                if line.lower().rstrip("?.! ") != query.lower().rstrip("?.! ")
            ][: self.n_queries]
            if not alternatives:
                warnings.warn(
                    f"multi-query: the LLM wrote no usable rephrasing of {query!r}; searching with the original query",
                    RewriteWarning,
                    stacklevel=2,
                )
                out.append(Rewrite.keep(query, "no usable rephrasing", warn=False))
                continue
            weights = [self.original_weight] + [1.0] * len(alternatives)
            out.append(TextQueries(query, [query, *alternatives], weights=weights, rrf_k=self.rrf_k, metadata={"reply": reply}))
        return out
