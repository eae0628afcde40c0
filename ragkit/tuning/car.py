"""CAR: rewrite ambiguous training queries with an LLM that sees their relevant document.

At training time only, each ambiguous query is rewritten by an LLM given the query *and* its
relevant (positive) document, so the rewrite states the information need the document answers.
The reranker then trains on the rewrites; at inference it scores the users' original queries
(no LLM in the serving path).

Ambiguity detection (``is_ambiguous``), a cheap lexical stand-in for the paper's selection of
ambiguous queries: a query is ambiguous when it is *short* (at most ``max_words`` content words:
too little to say what is wanted) or has *low lexical overlap* with its positive (less than
``min_overlap`` of its content words occur in the document: the ranker cannot learn the match
from shared words). Rewrites are kept only when usable (``valid_rewrite``): one line, 3 to
``max_rewrite_words`` words, not a copy of a sentence of the document, and not identical to the
original; otherwise the original query is kept.

References: Anand et al., 2023, "Context Aware Query Rewriting for Text Rankers using LLM"
(arXiv:2308.16753).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ragkit.grounding import content_words
from ragkit.tuning.data import QAPair

__all__ = ["CAR_PROMPT", "is_ambiguous", "valid_rewrite", "car_rewrite"]

CAR_PROMPT = (
    "A search query is ambiguous. Rewrite it as one clear, specific search query for the "
    "information that the document below gives. Keep the query's topic, use the document's "
    "words, and reply with the rewritten query only.\n\n"
    "Document: {document}\n\nQuery: {query}\n\nRewritten query:"
)
_LEAD = re.compile(r"^\s*(?:rewritten query|query|rewrite)\s*:\s*", re.IGNORECASE)


def is_ambiguous(query: str, positive: str, max_words: int = 4, min_overlap: float = 0.5) -> bool:
    """True when ``query`` is short or shares few content words with its relevant document.

    Args:
        query: the training query.
        positive: its relevant document.
        max_words: queries with at most this many content words are ambiguous.
        min_overlap: queries with less than this fraction of content words in ``positive``
            are ambiguous.
    """
    words = content_words(query)
    if len(words) <= max_words:
        return True
    return len(words & content_words(positive)) / len(words) < min_overlap


def valid_rewrite(rewrite: str, query: str, document: str, max_rewrite_words: int = 40) -> bool:
    """Whether an LLM rewrite can replace ``query`` (see the module docstring)."""
    text = rewrite.strip()
    if not text or "\n" in text:
        return False
    n = len(text.split())
    if n < 3 or n > max_rewrite_words:
        return False
    if text.lower().rstrip("?. ") == query.lower().strip().rstrip("?. "):
        return False
    return not (n >= 8 and text.lower().rstrip(". ") in document.lower())


def car_rewrite(
    pairs: list[QAPair],
    llm: Any,
    max_words: int = 4,
    min_overlap: float = 0.5,
    max_rewrite_words: int = 40,
    max_document_words: int = 200,
    keep_original: bool = False,
    batch_size: int = 16,
    progress: Any = None,
) -> tuple[list[QAPair], dict[str, int]]:
    """Rewrite the ambiguous queries of ``pairs`` with ``llm``, using each pair's positive as context.

    Args:
        pairs: training pairs (``contexts[0]`` is the relevant document; pairs without one
            are kept as they are).
        llm: a ragkit LLM (``chat``).
        max_words / min_overlap: ambiguity thresholds (``is_ambiguous``).
        max_rewrite_words: longest accepted rewrite.
        max_document_words: the document is cut to this many words in the prompt.
        keep_original: also keep the original pair next to its rewrite (default: replace it).
        batch_size: prompts per LLM call.
        progress: optional callback ``(done, total)``.

    Returns:
        (pairs with rewritten questions — ``metadata["original_question"]`` holds the original —
        in input order, stats ``{"pairs", "ambiguous", "rewritten", "rejected"}``).
    """
    todo = [i for i, p in enumerate(pairs) if p.positive and is_ambiguous(p.question, p.positive, max_words, min_overlap)]
    rewrites: dict[int, str] = {}
    rejected = 0
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        prompts = [
            [{"role": "user", "content": CAR_PROMPT.format(
                document=" ".join(pairs[i].positive.split()[:max_document_words]), query=pairs[i].question)}]
            for i in idx
        ]
        for i, reply in zip(idx, llm.chat(prompts, max_new_tokens=64)):
            text = _LEAD.sub("", reply.strip().splitlines()[0] if reply.strip() else "").strip().strip('"').strip()
            if valid_rewrite(text, pairs[i].question, pairs[i].positive, max_rewrite_words):
                rewrites[i] = text
            else:
                rejected += 1
        if progress is not None:
            progress(min(start + batch_size, len(todo)), len(todo))
    out: list[QAPair] = []
    for i, p in enumerate(pairs):
        if i in rewrites:
            if keep_original:
                out.append(p)
            meta = dict(p.metadata, original_question=p.question, rewrite="car")
            out.append(replace(p, question=rewrites[i], metadata=meta, contexts=list(p.contexts), negatives=list(p.negatives)))
        else:
            out.append(p)
    return out, {"pairs": len(pairs), "ambiguous": len(todo), "rewritten": len(rewrites), "rejected": rejected}
