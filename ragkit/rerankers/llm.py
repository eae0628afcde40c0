"""Pointwise LLM reranker: yes/no relevance judgements, or query likelihood for small models.

``method="yes-no"`` asks "is this passage relevant to the query? yes or no" for each hit. With a
local transformers model the score is ``P(yes)`` from the next-token distribution at the start of
the answer, normalised over the yes/no tokens (``yes``/``Yes`` vs ``no``/``No``), so each passage
gets a graded score from one forward pass and no generation; two short worked examples precede
the question (``few_shot``), which a 135M model needs to answer in the format at all. Other
backends (an OpenAI-compatible server, the fake LLM) answer in text, parsed as yes = 1, no = 0,
anything else = 0.5.

``method="query-likelihood"`` (UPR) scores a passage by the mean log-probability of the query's
tokens given a prompt that asks for a question about the passage; it needs a local transformers
model, and works much better than yes/no judgements with very small models (SmolLM2-135M is
near chance at yes/no; see ``benchmarks/scifact_rewrite.py``).

If the LLM call fails the hits keep their first-stage order (with a ``RerankWarning``), so search
still answers.

References: Nogueira, Jiang & Lin 2020, "Document Ranking with a Pretrained Sequence-to-Sequence
Model" (monoT5: relevance as the probability of a "true" token); Liang et al. 2022, "Holistic
Evaluation of Language Models" (pointwise yes/no ranking); Sachan et al. 2022, "Improving Passage
Retrieval with Zero-Shot Question Generation" (UPR: query likelihood).
"""

from __future__ import annotations

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

    def _model(self) -> Any:
        model = getattr(self, "_llm", None)
        if model is None:
            from ragkit.registry import build

            model = self._llm = build("llm", self.llm)
        return model

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

        Raises:
            LLMError: the LLM call failed (``rerank`` catches this and keeps the first-stage order).
            ValueError: query likelihood with a backend that gives no token probabilities.
        """
        from ragkit.llm import TransformersLLM

        if not pairs:
            return []
        llm = self._model()
        if isinstance(llm, TransformersLLM):
            return self._score_logits(llm, pairs)
        if self.method == "query-likelihood":
            raise ValueError(
                f"query-likelihood reranking needs token probabilities from a local transformers model, "
                f"not {type(llm).__name__}; use method='yes-no' with this backend"
            )
        budget = self.max_passage_tokens * 4
        convs = [self._messages(q, p if len(p) <= budget else p[:budget].rsplit(" ", 1)[0]) for q, p in pairs]
        return [parse_yes_no(r) for r in llm.chat(convs, max_new_tokens=3)]

    def _score_logits(self, llm: Any, pairs: list[tuple[str, str]]) -> list[float]:
        import torch

        from ragkit.models import load_causal_lm

        model, tok = load_causal_lm(llm.model, llm.device)
        ql = self.method == "query-likelihood"
        yes = sorted({tok.encode(w, add_special_tokens=False)[0] for w in _YES})
        no = sorted({tok.encode(w, add_special_tokens=False)[0] for w in _NO})
        rows: list[list[int]] = []
        targets: list[int] = []  # query tokens at the end of each row (query likelihood)
        for query, passage in pairs:
            ids = tok.encode(passage, add_special_tokens=False)
            if len(ids) > self.max_passage_tokens:
                passage = tok.decode(ids[: self.max_passage_tokens])
            text = tok.apply_chat_template(self._messages(query, passage), add_generation_prompt=True, tokenize=False)
            row = tok.encode(text, add_special_tokens=False)
            if ql:
                q_ids = tok.encode(query, add_special_tokens=False)
                row += q_ids
                targets.append(len(q_ids))
            rows.append(row)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        scores = [0.0] * len(rows)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(rows[i]) for i in idx)
            ids = torch.tensor([[pad] * (width - len(rows[i])) + rows[i] for i in idx], device=model.device)
            mask = torch.tensor([[0] * (width - len(rows[i])) + [1] * len(rows[i]) for i in idx], device=model.device)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            keep = 1 + (max(targets[i] for i in idx) if ql else 0)
            with torch.inference_mode():
                logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
            for b, i in enumerate(idx):
                if ql:
                    n = targets[i]
                    predicted = logp[b, keep - 1 - n : keep - 1]  # positions that predict the query tokens
                    scores[i] = float(predicted.gather(1, ids[b, width - n :, None]).mean()) if n else 0.0
                else:
                    last = logp[b, -1]
                    scores[i] = float(torch.sigmoid(torch.logsumexp(last[yes], 0) - torch.logsumexp(last[no], 0)))
        return scores

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
