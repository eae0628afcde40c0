"""Answer metrics: exact match, token F1, ROUGE-L, embedding similarity, citation precision.

Every text metric compares a predicted answer with one or more gold answers and takes the best
match (as SQuAD does with several references). Texts are normalised the SQuAD way before
comparison: lower-cased, punctuation and the articles a/an/the removed, whitespace collapsed.

- ``exact_match``: 1.0 when the normalised texts are equal.
- ``token_f1``: harmonic mean of token precision and recall (bag of normalised tokens).
- ``rouge_l``: F-measure of the longest common subsequence of normalised tokens.
- ``embedding_similarity``: cosine of MiniLM sentence embeddings (0..1 for these models in
  practice; negative values are kept).
- ``citation_precision``: fraction of an answer's cited chunks that hold the answer: a cited
  chunk counts when it is a gold chunk (by id, or its text is a gold passage) or its text
  contains a gold answer (normalised). ``None`` when the answer cites nothing.
- ``gold_in_context``: 1.0 when a gold chunk is among the chunks the generator was given
  (retrieval hit at the pipeline's k); ``None`` for closed-book answers.

``score_answers`` compares answer texts without their citation markers (``[1]``), so RAG and
closed-book answers are scored alike, and returns the house result shape ``{"aggregate": {...}, "per_query": [...]}``;
a metric that is undefined for a question (``None``) is left out of its mean, and the number of
questions that defined it is reported as ``n_<metric>``.

References: Rajpurkar et al., 2016, "SQuAD: 100,000+ Questions for Machine Comprehension of
Text" (EM / F1 and their normalisation); Lin, 2004, "ROUGE: A Package for Automatic Evaluation
of Summaries" (ROUGE-L); Gao et al., 2023, "Enabling Large Language Models to Generate Text
with Citations" (citation precision).
"""

from __future__ import annotations

import collections
import re
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.types import Answer

__all__ = [
    "Gold",
    "METRICS",
    "DEFAULT_METRICS",
    "normalize_answer",
    "exact_match",
    "token_f1",
    "bag_f1",
    "rouge_l",
    "embedding_similarity",
    "citation_precision",
    "gold_in_context",
    "is_idk",
    "strip_citations",
    "score_answers",
    "aggregate",
]

METRICS = ("exact_match", "token_f1", "rouge_l", "semantic_similarity", "citation_precision", "gold_in_context")
DEFAULT_METRICS = METRICS

_PUNCT = set(string.punctuation)
_CITATION_MARK = re.compile(r"\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(slots=True)
class Gold:
    """The reference for one question.

    Attributes:
        question: the question.
        answers: gold answer(s); a metric takes the best match over them.
        chunk_ids: ids of the chunks that hold the answer (may be empty).
        contexts: texts of the passages that hold the answer (may be empty).
    """

    question: str
    answers: list[str]
    chunk_ids: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.answers, str):
            self.answers = [self.answers]
        self.answers = [a for a in self.answers if a and a.strip()]


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces.

    Args:
        text: any text.

    Returns:
        The normalised text (``"The  X2-5K!"`` -> ``"x25k"``).
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def strip_citations(text: str) -> str:
    """``text`` without citation markers (``[1]``, ``[1, 3]``), which are not part of the answer."""
    return _CITATION_MARK.sub("", text).strip()


def _best(prediction: str, golds: Sequence[str] | str, fn: Callable[[str, str], float]) -> float:
    golds = [golds] if isinstance(golds, str) else list(golds)
    if not golds:
        raise ValueError("no gold answer to compare with; give each question a non-empty answer")
    return max(fn(prediction, g) for g in golds)


def _em(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def bag_f1(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """F1 of two token bags (multisets); 1.0 when both are empty, 0.0 when only one is."""
    if not predicted or not gold:
        return float(list(predicted) == list(gold))
    common = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _f1(prediction: str, gold: str) -> float:
    return bag_f1(normalize_answer(prediction).split(), normalize_answer(gold).split())


def _lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, one row at a time)."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        prev_diag = 0
        for j, y in enumerate(b, 1):
            prev_row = row[j]
            row[j] = prev_diag + 1 if x == y else max(row[j], row[j - 1])
            prev_diag = prev_row
    return row[-1]


def _rouge_l(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    lcs = _lcs(p, g)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(g)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, golds: Sequence[str] | str) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0.

    Raises:
        ValueError: no gold answer.
    """
    return _best(prediction, golds, _em)


def token_f1(prediction: str, golds: Sequence[str] | str) -> float:
    """SQuAD token F1 against the best-matching gold answer (1.0 when both normalise to empty).

    Raises:
        ValueError: no gold answer.
    """
    return _best(prediction, golds, _f1)


def rouge_l(prediction: str, golds: Sequence[str] | str) -> float:
    """ROUGE-L F-measure (beta = 1) on normalised tokens, against the best-matching gold answer.

    Raises:
        ValueError: no gold answer.
    """
    return _best(prediction, golds, _rouge_l)


def embedding_similarity(
    predictions: Sequence[str], golds: Sequence[Sequence[str] | str], embed: Callable[[list[str]], Any] | None = None
) -> list[float]:
    """Cosine similarity of each prediction with its best gold answer, from sentence embeddings.

    Args:
        predictions: predicted answers.
        golds: per prediction, its gold answer(s).
        embed: ``texts -> (n, d) array``; default MiniLM (``ragkit.models.load_embedder``).

    Returns:
        One similarity per prediction (an empty prediction scores 0.0).

    Raises:
        ValueError: the lists differ in length, or a question has no gold answer.
    """
    import numpy as np

    if len(predictions) != len(golds):
        raise ValueError(f"got {len(predictions)} predictions but {len(golds)} gold lists")
    gold_lists = [[g] if isinstance(g, str) else list(g) for g in golds]
    if any(not g for g in gold_lists):
        raise ValueError("a question has no gold answer; give each question a non-empty answer")
    if not predictions:
        return []
    embed = embed or _minilm
    texts = list(predictions) + [g for gs in gold_lists for g in gs]
    vectors = np.asarray(embed(texts), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms == 0, 1.0, norms)
    out, start = [], len(predictions)
    for i, gs in enumerate(gold_lists):
        sims = vectors[start : start + len(gs)] @ vectors[i]
        start += len(gs)
        out.append(0.0 if not predictions[i].strip() else float(sims.max()))
    return out


def _minilm(texts: list[str]) -> Any:
    from ragkit.models import load_embedder

    return load_embedder(DEFAULT_EMBEDDER).encode(texts, normalize_embeddings=True, show_progress_bar=False)


def _holds(text: str, chunk_id: str, gold: Gold) -> bool:
    if chunk_id in gold.chunk_ids:
        return True
    norm = normalize_answer(text)
    if any(norm == normalize_answer(c) for c in gold.contexts):
        return True
    return any(n and f" {n} " in f" {norm} " for n in (normalize_answer(a) for a in gold.answers))


def _chunk_texts(answer: Answer) -> dict[str, str]:
    return {h.chunk_id: h.chunk.text for h in answer.hits if h.chunk is not None}


def citation_precision(answer: Answer, gold: Gold) -> float | None:
    """Fraction of the answer's cited chunks that hold the gold answer (``None``: no citation).

    A cited chunk counts when its id is a gold chunk id, its text is a gold passage, or its
    (normalised) text contains a (normalised) gold answer as a whole-word span. Chunk texts
    come from ``answer.hits``.
    """
    cited = list(dict.fromkeys(c.chunk_id for c in answer.citations))
    if not cited:
        return None
    texts = _chunk_texts(answer)
    return sum(_holds(texts.get(cid, ""), cid, gold) for cid in cited) / len(cited)


def gold_in_context(answer: Answer, gold: Gold) -> float | None:
    """1.0 when a chunk given to the generator holds the answer (as ``citation_precision``
    decides), 0.0 when none does, ``None`` for a closed-book answer."""
    if answer.mode != "rag":
        return None
    return float(any(_holds(h.chunk.text if h.chunk else "", h.chunk_id, gold) for h in answer.hits))


def is_idk(answer: Answer) -> bool:
    """Whether the answer is the generator's "I don't know." (decided by it or by the model)."""
    from ragkit.prompts import says_idk

    return "idk_reason" in answer.metadata or says_idk(answer.text)


def score_answers(
    answers: Sequence[Answer],
    golds: Sequence[Gold],
    metrics: Iterable[str] = DEFAULT_METRICS,
    embed: Callable[[list[str]], Any] | None = None,
) -> dict[str, Any]:
    """Score answers against golds with the named metrics.

    Args:
        answers: one ``Answer`` per gold, in the same order.
        golds: the references.
        metrics: names from ``METRICS`` (``semantic_similarity`` is the embedding similarity).
        embed: encoder for ``semantic_similarity`` (default MiniLM).

    Returns:
        ``{"aggregate": {metric: mean, "n_<metric>": count, "idk_rate": ..., "n": ...},
        "per_query": [{"question": ..., metric: value or None, "idk": bool}, ...]}``.

    Raises:
        ValueError: an unknown metric, lists of different lengths, or a gold without answers.
    """
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown answer metric(s) {unknown}; choose from {list(METRICS)}")
    if len(answers) != len(golds):
        raise ValueError(f"got {len(answers)} answers but {len(golds)} golds; pass one answer per gold")
    for g in golds:
        if not g.answers:
            raise ValueError(f"question {g.question!r} has no gold answer; give it a non-empty answer")
    rows: list[dict[str, Any]] = [{"question": g.question, "idk": is_idk(a)} for a, g in zip(answers, golds)]
    per_text = {"exact_match": exact_match, "token_f1": token_f1, "rouge_l": rouge_l}
    texts = [strip_citations(a.text) for a in answers]
    for m in metrics:
        if m in per_text:
            for row, text, g in zip(rows, texts, golds):
                row[m] = per_text[m](text, g.answers)
        elif m == "semantic_similarity":
            sims = embedding_similarity(texts, [g.answers for g in golds], embed)
            for row, s in zip(rows, sims):
                row[m] = s
        elif m == "citation_precision":
            for row, a, g in zip(rows, answers, golds):
                row[m] = citation_precision(a, g)
        elif m == "gold_in_context":
            for row, a, g in zip(rows, answers, golds):
                row[m] = gold_in_context(a, g)
    return {"aggregate": aggregate(rows, metrics), "per_query": rows}


def aggregate(rows: Sequence[dict[str, Any]], metrics: Iterable[str]) -> dict[str, Any]:
    """Means of per-question metric values (``None`` skipped), their counts, the IDK rate and ``n``."""
    out: dict[str, Any] = {}
    for m in metrics:
        values = [r[m] for r in rows if r.get(m) is not None]
        out[m] = sum(values) / len(values) if values else None
        out[f"n_{m}"] = len(values)
    out["idk_rate"] = sum(bool(r.get("idk")) for r in rows) / len(rows) if rows else None
    out["n"] = len(rows)
    return out
