"""Filter generated QA pairs: supported answers only, near-duplicates removed, optional diversity.

Rules, applied in order (the reason a pair was dropped is counted in ``FilterReport``):

1. ``empty``: no question or no answer; ``not_question``: the "question" neither ends with
   ``?`` nor starts with a question word (small models emit "Answer: ..." or instructions);
   ``idk``: the answer says it does not know;
   ``echo``: the answer repeats the question; ``length``: question or answer longer than
   ``max_question_words`` / ``max_answer_words``.
2. ``unsupported``: fewer than ``min_support`` of the answer's content words occur in its
   chunk (``support_score``) — the answer must come from its passage, not from the model.
3. ``duplicate``: the question's content words overlap an earlier kept question's with a
   Jaccard similarity of at least ``dedup_threshold``.
4. ``diversity`` (only with ``diverse_k``): k-means over question embeddings, keeping the
   pair nearest each centroid (the diversity selection of Balaguer et al., 2024).

References: Balaguer et al., 2024, "RAG vs Fine-tuning: Pipelines, Tradeoffs, and a Case Study
on Agriculture" (arXiv:2401.08406).
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.grounding import content_words
from ragkit.tuning.data import QAPair

__all__ = ["FilterReport", "looks_like_question", "support_score", "jaccard", "dedup", "kmeans", "kmeans_select", "filter_qa"]

_WORD = re.compile(r"\w+", re.UNICODE)
_QWORDS = frozenset(
    "what which who whom whose when where why how is are was were does do did can could should would will "
    "may might has have had list name describe explain".split()
)
_IDK = re.compile(r"\b(?:i\s+do\s*n[o']?t\s+know|not\s+(?:mentioned|stated|provided)|no\s+information|cannot\s+answer)\b", re.I)


def looks_like_question(text: str) -> bool:
    """True for ``...?`` or text starting with a question word (``How to reset the alarm``)."""
    text = text.strip()
    words = _WORD.findall(text.lower())
    return text.endswith("?") or (bool(words) and words[0] in _QWORDS)


def support_score(answer: str, context: str) -> float:
    """Fraction of the answer's content words found in ``context`` (0 for an empty answer)."""
    words = content_words(answer)
    if not words:
        return 0.0
    return len(words & content_words(context)) / len(words)


def jaccard(a: set[str], b: set[str]) -> float:
    """Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def dedup(pairs: list[QAPair], threshold: float = 0.8) -> tuple[list[QAPair], int]:
    """Drop pairs whose question is a near-duplicate (content-word Jaccard >= threshold) of an earlier one.

    Candidates are found through an inverted index on content words, so only questions that
    share a word are compared.

    Returns:
        (kept pairs in order, number dropped).
    """
    kept: list[QAPair] = []
    kept_tokens: list[set[str]] = []
    index: dict[str, list[int]] = collections.defaultdict(list)
    dropped = 0
    for p in pairs:
        toks = content_words(p.question)
        candidates = {i for w in toks for i in index.get(w, ())}
        if not toks:
            candidates = {i for i, t in enumerate(kept_tokens) if not t}
        if any(jaccard(toks, kept_tokens[i]) >= threshold for i in candidates):
            dropped += 1
            continue
        for w in toks:
            index[w].append(len(kept))
        kept.append(p)
        kept_tokens.append(toks)
    return kept, dropped


def _kmeans_pp(x: Any, k: int, seed: int) -> Any:
    """k-means++ seeding (Arthur & Vassilvitskii 2007), numpy-seeded: ``k`` rows of ``x`` as initial centroids."""
    import numpy as np

    x64 = x.astype(np.float64)
    sq = (x64 * x64).sum(1)
    rng = np.random.default_rng(seed)
    n = len(x64)
    chosen = [int(rng.integers(n))]
    nearest = np.maximum(sq - 2 * x64 @ x64[chosen[0]] + sq[chosen[0]], 0.0)
    for _ in range(1, k):
        probs = nearest / nearest.sum() if nearest.sum() > 0 else np.full(n, 1.0 / n)
        chosen.append(int(rng.choice(n, p=probs)))
        nearest = np.minimum(nearest, np.maximum(sq - 2 * x64 @ x64[chosen[-1]] + sq[chosen[-1]], 0.0))
    return np.ascontiguousarray(x[chosen], dtype=np.float32)


def kmeans(vectors: Any, k: int, seed: int = 0, iterations: int = 25) -> tuple[Any, Any]:
    """k-means: ``(centroids (k, d), assignment (n,))``, Lloyd iterations by ``faiss.Kmeans``.

    Seeded with k-means++ (``faiss`` itself seeds with a random sample, which splits small,
    uneven clusters worse); every vector is used (no subsampling per centroid).

    Args:
        vectors: an (n, d) array-like of embeddings (L2-normalised for cosine clustering), n >= k.
        k: number of clusters.
        seed: random seed for the k-means++ initialisation.
        iterations: Lloyd iterations.
    """
    import faiss
    import numpy as np

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=iterations, seed=seed, max_points_per_centroid=max(len(x), 1),
                      min_points_per_centroid=1, verbose=False)
    km.train(x, init_centroids=_kmeans_pp(x, k, seed))
    _, assign = km.index.search(x, 1)
    return km.centroids.astype(np.float64), assign[:, 0].astype(np.int64)


def kmeans_select(vectors: Any, k: int, seed: int = 0, iterations: int = 25) -> list[int]:
    """Indices of the ``k`` rows nearest the centroids of a k-means (k-means++ init) clustering.

    Args:
        vectors: an (n, d) array-like of embeddings (L2-normalised for cosine clustering).
        k: number of clusters = rows to select; all rows when ``k >= n``.
        seed: random seed for the k-means++ initialisation.
        iterations: Lloyd iterations.

    Returns:
        Sorted row indices, one per non-empty cluster.
    """
    import numpy as np

    x = np.asarray(vectors, dtype=np.float64)
    if k >= len(x):
        return list(range(len(x)))
    c, assign = kmeans(x, k, seed, iterations)
    d = np.maximum((x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None], 0.0)
    chosen = set()
    for j in range(k):
        members = np.where(assign == j)[0]
        if len(members):
            chosen.add(int(members[d[members, j].argmin()]))
    return sorted(chosen)


@dataclass
class FilterReport:
    """How many pairs each rule dropped, and how many were kept."""

    total: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: collections.Counter())

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "kept": self.kept, "dropped": dict(self.dropped)}


def filter_qa(
    pairs: list[QAPair],
    min_support: float = 0.6,
    dedup_threshold: float = 0.8,
    max_question_words: int = 40,
    max_answer_words: int = 80,
    diverse_k: int | None = None,
    embed: Callable[[list[str]], Any] | None = None,
    seed: int = 0,
) -> tuple[list[QAPair], FilterReport]:
    """Keep the QA pairs whose answer is supported by its chunk; drop near-duplicates.

    Args:
        pairs: generated pairs (``contexts[0]`` is the chunk the answer must come from).
        min_support: minimum ``support_score(answer, chunk)``.
        dedup_threshold: question Jaccard at or above which a later pair is a duplicate.
        max_question_words / max_answer_words: length limits.
        diverse_k: keep at most this many pairs, chosen by k-means diversity; ``None`` keeps all.
        embed: ``texts -> (n, d) array`` for the diversity step; default MiniLM
            (``ragkit.models.load_embedder("minilm").encode`` with normalised embeddings).
        seed: k-means seed.

    Returns:
        (kept pairs, report); each kept pair gets ``metadata["support"]``.
    """
    report = FilterReport(total=len(pairs))
    good: list[QAPair] = []
    for p in pairs:
        q, a = p.question.strip(), p.answer.strip()
        if not q or not a:
            report.dropped["empty"] += 1
        elif not looks_like_question(q):
            report.dropped["not_question"] += 1
        elif _IDK.search(a):
            report.dropped["idk"] += 1
        elif content_words(a) <= content_words(q):
            report.dropped["echo"] += 1
        elif len(q.split()) > max_question_words or len(a.split()) > max_answer_words:
            report.dropped["length"] += 1
        else:
            score = support_score(a, p.positive or "")
            if score < min_support:
                report.dropped["unsupported"] += 1
                continue
            p.metadata["support"] = round(score, 4)
            good.append(p)
    good, n_dup = dedup(good, dedup_threshold)
    if n_dup:
        report.dropped["duplicate"] = n_dup
    if diverse_k is not None and len(good) > diverse_k:
        if embed is None:
            from ragkit.models import load_embedder

            model = load_embedder(DEFAULT_EMBEDDER)
            embed = lambda texts: model.encode(texts, normalize_embeddings=True)  # noqa: E731
        keep = kmeans_select(embed([p.question for p in good]), diverse_k, seed=seed)
        report.dropped["diversity"] = len(good) - len(keep)
        good = [good[i] for i in keep]
    report.kept = len(good)
    return good, report
