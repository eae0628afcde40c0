"""Pointwise LLM reranker: yes/no relevance judgements, or query likelihood for small models.

``method="yes-no"`` asks "is this passage relevant to the query? yes or no" for each hit. With a
backend that gives token log-probabilities (``LLM.supports_logprobs``: transformers) the score is ``P(yes)`` from the next-token distribution at the start of
the answer, normalised over the yes/no tokens (``yes``/``Yes`` vs ``no``/``No``), so each passage
gets a graded score from one forward pass and no generation; two short worked examples precede
the question (``few_shot``), which a 135M model needs to answer in the format at all. Other
backends (an OpenAI-compatible server, the fake LLM) answer in text, parsed as yes = 1, no = 0,
anything else = 0.5.

``method="query-likelihood"`` (UPR) scores a passage by the mean log-probability of the query's
tokens given a prompt that asks for a question about the passage; it needs a backend with token
log-probabilities, and works much better than yes/no judgements with very small models (SmolLM2-135M is
near chance at yes/no; see ``benchmarks/scifact_rewrite.py``).

If the LLM call fails the hits keep their first-stage order (with a ``RerankWarning``), so search
still answers.

References: Nogueira, Jiang & Lin 2020, "Document Ranking with a Pretrained Sequence-to-Sequence
Model" (monoT5: relevance as the probability of a "true" token); Liang et al. 2022, "Holistic
Evaluation of Language Models" (pointwise yes/no ranking); Sachan et al. 2022, "Improving Passage
Retrieval with Zero-Shot Question Generation" (UPR: query likelihood).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

from ragkit.registry import register
from ragkit.rerankers.base import Reranker, check_batch, hit_text, ranked
from ragkit.types import Hit

__all__ = ["LLMReranker", "RerankWarning", "METHODS", "SYSTEM", "PROMPT", "QL_PROMPT", "FEW_SHOT", "parse_yes_no"]

METHODS = ("yes-no", "query-likelihood")
SYSTEM = "You judge whether a passage is relevant to a search query. Answer with one word: yes or no."
PROMPT = "Query: {query}\nPassage: {passage}\nIs the passage relevant to the query? Answer yes or no."
QL_PROMPT = "Passage: {passage}\nPlease write a question based on this passage."
# (query, passage, answer): one relevant, one not, so the model sees both answers.
FEW_SHOT = (
    ("Where do cats sleep?", "Cats sleep on sofas and in sunny spots.", "Yes"),
    ("Where do cats sleep?", "The train leaves at nine from platform two.", "No"),
)
_YES = ("yes", "Yes", " yes", " Yes")
_NO = ("no", "No", " no", " No")


class RerankWarning(UserWarning):
    """A reranker could not score and kept the first-stage order."""


def parse_yes_no(text: str) -> float:
    """1.0 for a reply starting with yes, 0.0 for no, 0.5 for anything else."""
    m = re.match(r"\W*(yes|no)\b", text.strip().lower())
    return 0.5 if m is None else 1.0 if m.group(1) == "yes" else 0.0


@register("reranker", "llm")
class LLMReranker(Reranker):
    """Rerank by an LLM's relevance judgement of each (query, passage) pair.

    Args:
        llm: LLM config (default: the bundled SmolLM2-135M-Instruct via transformers).
        method: ``"yes-no"`` (P(yes), or the parsed text answer for remote backends) or
            ``"query-likelihood"`` (UPR; transformers backends only).
        prompt: user message with ``{query}`` and ``{passage}`` (``None``: ``PROMPT``), or for
            query likelihood with ``{passage}`` only (``None``: ``QL_PROMPT``).
        system: system message for yes/no (``None``: none).
        few_shot: put the ``FEW_SHOT`` examples before each yes/no question.
        max_passage_tokens: passages are cut to this many tokens (transformers) or about four
            characters per token (other backends).
        batch_size: prompts per forward pass (transformers).

    Raises:
        ValueError: an unknown method, or a prompt without its placeholders.
    """

    cli_arg = "llm"

    def __init__(
        self,
        llm: str | dict[str, Any] = "transformers",
        method: str = "yes-no",
        prompt: str | None = None,
        system: str | None = SYSTEM,
        few_shot: bool = True,
        max_passage_tokens: int = 256,
        batch_size: int = 16,
    ):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        needed = ("{passage}",) if method == "query-likelihood" else ("{query}", "{passage}")
        if prompt is not None and not all(p in prompt for p in needed):
            raise ValueError(f"the {method} prompt must contain {' and '.join(needed)}")
        self.llm = llm
        self.method = method
        self.prompt = prompt
        self.system = system
        self.few_shot = few_shot
        self.max_passage_tokens = max_passage_tokens
        self.batch_size = batch_size
        self._llm: Any = None

    def _model(self) -> Any:
        if self._llm is None:
            from ragkit.registry import build

            self._llm = build("llm", self.llm)
        return self._llm

    def use_llm(self, llm: Any) -> None:
        """Use an already built LLM object (shared with a generator, or a test double)."""
        self._llm = llm

    def _messages(self, query: str, passage: str) -> list[dict[str, str]]:
        if self.method == "query-likelihood":
            return [{"role": "user", "content": (self.prompt or QL_PROMPT).format(passage=passage)}]
        prompt = self.prompt or PROMPT
        messages = [{"role": "system", "content": self.system}] if self.system else []
        for q, p, answer in FEW_SHOT if self.few_shot else ():
            messages += [{"role": "user", "content": prompt.format(query=q, passage=p)},
                         {"role": "assistant", "content": answer}]
        return messages + [{"role": "user", "content": prompt.format(query=query, passage=passage)}]

    # -- scoring -------------------------------------------------------------------------
    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """Relevance of each (query, passage) pair: P(yes), a parsed answer, or a mean log-probability.

        A backend with token log-probabilities (``llm.supports_logprobs``) scores yes/no from the
        next-token distribution and query likelihood from the query's tokens; any other backend
        answers yes/no in text.

        Raises:
            LLMError: the LLM call failed (``rerank`` catches this and keeps the first-stage order).
            ValueError: query likelihood with a backend that gives no token probabilities.
        """
        if not pairs:
            return []
        llm = self._model()
        if self.method == "query-likelihood" and not llm.supports_logprobs:
            raise ValueError(
                f"query-likelihood reranking needs token probabilities, which {type(llm).__name__} does "
                "not give (supports_logprobs is False); use the transformers backend, or method='yes-no'"
            )
        convs = [self._messages(q, llm.truncate(p, self.max_passage_tokens)) for q, p in pairs]
        if self.method == "query-likelihood":
            per_token = llm.continuation_logprobs(convs, [q for q, _ in pairs], batch_size=self.batch_size)
            return [sum(lp) / len(lp) if lp else 0.0 for lp in per_token]
        if llm.supports_logprobs:
            return [1.0 / (1.0 + math.exp(no - yes)) for yes, no in llm.choice_logprobs(convs, [list(_YES), list(_NO)], batch_size=self.batch_size)]
        return [parse_yes_no(r) for r in llm.chat(convs, max_new_tokens=3)]

    def rerank(self, queries: list[str], hits: list[list[Hit]], k: int) -> list[list[Hit]]:
        from ragkit.llm import LLMError

        check_batch(queries, hits)
        pairs = [(q, hit_text(h)) for q, hs in zip(queries, hits) for h in hs]
        try:
            scores = self.score(pairs)
        except (LLMError, TimeoutError, ConnectionError) as exc:
            warnings.warn(
                f"llm reranker: the LLM call failed ({type(exc).__name__}: {exc}); keeping the first-stage order",
                RerankWarning,
                stacklevel=2,
            )
            return [[Hit(h.chunk_id, h.score, r, h.retriever, h.chunk) for r, h in enumerate(hs[:k], start=1)] for hs in hits]
        out, start = [], 0
        for hs in hits:
            out.append(ranked(hs, scores[start : start + len(hs)], k, "llm"))
            start += len(hs)
        return out
