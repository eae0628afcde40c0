"""HyDE: retrieve with LLM-written hypothetical documents that answer the query.

The LLM writes ``n_docs`` passages answering the question. With a dense retriever the query
vector is the mean of the question's embedding and the passages' embeddings (re-normalised), as
in the paper; with BM25 or hybrid retrieval the passages are appended to the question as one
query text (the query2doc form). A passage under ``min_words`` words is dropped; when none is
left, or the LLM call fails, the original question is searched (``RewriteWarning``).

With greedy decoding every passage for a question is the same: use ``n_docs > 1`` only with an
LLM that samples (``temperature > 0``); duplicate passages are dropped.

References: Gao, Ma, Lin & Callan 2022, "Precise Zero-Shot Dense Retrieval without Relevance
Labels" (HyDE); Wang, Yang & Wei 2023, "Query2doc: Query Expansion with Large Language Models".
"""

from __future__ import annotations

import warnings
from typing import Any

from ragkit.registry import register
from ragkit.rewriters.base import LLMRewriter, MeanOfTexts, Rewrite, RewriteWarning
from ragkit.types import Hit

__all__ = ["HyDE", "PROMPT"]

PROMPT = "Please write a short passage that answers the question.\nQuestion: {query}"


@register("rewriter", "hyde")
class HyDE(LLMRewriter):
    """Hypothetical document embeddings.

    Args:
        llm: LLM config (default: the bundled SmolLM2-135M-Instruct via transformers).
        n_docs: passages written per question (the paper samples 8).
        prompt: the instruction, with ``{query}``; e.g. "Please write a scientific paper
            passage to support/refute the claim.\\nClaim: {query}" for claim retrieval.
        max_new_tokens: generation budget per passage.
        min_words: shorter passages are treated as failed generations.

    Raises:
        ValueError: ``n_docs < 1`` or a prompt without ``{query}``.
    """

    def __init__(
        self,
        llm: str | dict[str, Any] = "transformers",
        n_docs: int = 1,
        prompt: str = PROMPT,
        max_new_tokens: int = 128,
        min_words: int = 5,
    ):
        if n_docs < 1:
            raise ValueError(f"n_docs must be >= 1, got {n_docs}")
        if "{query}" not in prompt:
            raise ValueError("the HyDE prompt must contain {query}")
        self.llm = llm
        self.n_docs = n_docs
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.min_words = min_words

    def rewrite(
        self, queries: list[str], feedback: list[list[Hit]] | None = None, searcher: Any = None
    ) -> list[Rewrite]:
        """Write hypothetical passages for each question (``feedback`` is not used)."""
        conversations = [
            [{"role": "user", "content": self.prompt.format(query=q)}] for q in queries for _ in range(self.n_docs)
        ]
        replies = self._chat(conversations, self.max_new_tokens)
        if replies is None:
            return [Rewrite.keep(q, "hyde: the LLM failed", warn=False) for q in queries]
        out = []
        for i, query in enumerate(queries):
            passages = []
            for reply in replies[i * self.n_docs : (i + 1) * self.n_docs]:
                text = " ".join(reply.split())
                words = [w for w in text.split() if any(c.isalpha() for c in w)]
                if len(words) >= self.min_words and text not in passages and text != query:
                    passages.append(text)
            if not passages:
                warnings.warn(
                    f"hyde: the LLM wrote no usable passage for {query!r}; searching with the original query",
                    RewriteWarning,
                    stacklevel=2,
                )
                out.append(Rewrite.keep(query, "no usable passage", warn=False))
                continue
            out.append(MeanOfTexts(query, [query, *passages], metadata={"passages": passages}))
        return out
