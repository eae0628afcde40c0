"""Query rewriting: the ``Rewrite`` result type, the rewriter protocol and ``rewrite_and_retrieve``.

A rewriter turns each question into a ``Rewrite``: one or more query texts (the first always
begins with the original question), optional per-query fusion weights, or a weighted term query
(RM3, for BM25) or a query vector (Rocchio, for dense retrieval). ``rewrite_and_retrieve`` runs
the whole stage: a first retrieval pass when the rewriter needs feedback documents, the rewrite,
one retrieval per rewritten query (batched), and reciprocal rank fusion when a question has
several queries.

A rewriter never loses the original question: an LLM call that fails (``LLMError``, a timeout, a
server that is down) or returns nothing usable falls back to the original question with a
``RewriteWarning``, so search still answers.

Example:
    >>> from ragkit.registry import build
    >>> rw = build("rewriter", {"type": "multi-query", "llm": {"type": "fake", "default": "cats on mats"}})
    >>> rw.rewrite(["where do cats sit?"])[0].queries
    ['where do cats sit?', 'cats on mats']
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ragkit.indexes import fusion
from ragkit.indexes.tokenize import STOPWORDS_EN
from ragkit.registry import Component
from ragkit.types import Hit

__all__ = [
    "Rewrite",
    "Rewriter",
    "LLMRewriter",
    "RewriteWarning",
    "COMBINES",
    "rewrite_and_retrieve",
    "parse_keywords",
    "parse_lines",
    "feedback_texts",
]

COMBINES = ("fuse", "mean")
_LIST_MARKER = re.compile(r"^\s*(?:\d+\s*[.):]|[-*•·]|\(\d+\))\s*")
_PREAMBLE = re.compile(r"^[^\n]{0,120}:\s*$")
_GOOD_KEYWORD = re.compile(r"^[\w][\w\s'/+.&-]*$", re.UNICODE)


class RewriteWarning(UserWarning):
    """A rewrite fell back to the original query (the LLM failed or said nothing usable)."""


@dataclass(slots=True)
class Rewrite:
    """What a rewriter made of one question.

    Attributes:
        original: the question as asked.
        queries: query texts to retrieve with; ``queries[0]`` begins with ``original``
            (it is the original itself, or the original with expansion terms appended).
        weights: per-query RRF weights (``None``: 1 each); only used with several queries.
        term_weights: a weighted BM25 term query ({analyzed term: weight}), used instead of
            the texts when set (RM3).
        vector: a query embedding, used instead of the texts when set (Rocchio).
        combine: ``"fuse"`` retrieves each query and fuses the runs with RRF; ``"mean"``
            averages the queries' embeddings into one vector when the retriever is dense
            (HyDE), and joins the texts into one query otherwise.
        fallback: True when the rewriter gave up and kept only the original question.
        metadata: what the rewriter produced on the way (keywords, raw LLM outputs …).

    Raises:
        ValueError: no queries, ``queries[0]`` does not begin with ``original``, weights of
            the wrong length, or an unknown ``combine``.
    """

    original: str
    queries: list[str]
    weights: list[float] | None = None
    term_weights: dict[str, float] | None = None
    vector: list[float] | None = None
    combine: str = "fuse"
    fallback: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.queries or not self.queries[0].startswith(self.original):
            raise ValueError(
                f"a Rewrite keeps the original query first: queries[0] must begin with "
                f"{self.original!r}, got {self.queries[:1]!r}"
            )
        if self.weights is not None and len(self.weights) != len(self.queries):
            raise ValueError(f"{len(self.weights)} weights for {len(self.queries)} queries; give one per query")
        if self.combine not in COMBINES:
            raise ValueError(f"unknown combine {self.combine!r}; choose one of {', '.join(COMBINES)}")

    @classmethod
    def keep(cls, original: str, reason: str = "", warn: bool = True) -> Rewrite:
        """The original query alone; with ``reason``, a ``RewriteWarning`` says why."""
        if reason and warn:
            warnings.warn(f"{reason}; searching with the original query {original!r}", RewriteWarning, stacklevel=3)
        return cls(original=original, queries=[original], fallback=bool(reason), metadata={"reason": reason} if reason else {})


class Rewriter(Component):
    """Protocol of query rewriters: ``rewrite(queries, feedback=None) -> list[Rewrite]``.

    Class attributes:
        needs_feedback: the rewriter reads the top documents of a first retrieval pass
            (pseudo-relevance feedback); ``rewrite_and_retrieve`` supplies them.
        cli_arg: the constructor argument that ``--rewrite NAME:ARG`` sets (``None``: none).
    """

    needs_feedback: bool = False
    cli_arg: str | None = None

    @property
    def feedback_depth(self) -> int:
        """How many first-pass documents per question the rewriter reads (``fb_docs``)."""
        return int(getattr(self, "fb_docs", 10))

    def bind(self, retriever: Any) -> None:
        """Check that the rewriter works with ``retriever`` and keep what it needs from it.

        Raises:
            ValueError: the rewriter cannot work with this kind of retriever.
        """

    def rewrite(self, queries: list[str], feedback: list[list[Hit]] | None = None) -> list[Rewrite]:
        """Rewrite each question.

        Args:
            queries: the questions.
            feedback: per question, documents judged (pseudo-)relevant, best first: a first
                retrieval pass, or documents a user marked relevant. ``Hit.chunk`` must be set
                for rewriters that read document text.

        Returns:
            One ``Rewrite`` per question, in order.
        """
        raise NotImplementedError


class LLMRewriter(Rewriter):
    """Base of rewriters that prompt an LLM (``self.llm``: an LLM registry config)."""

    cli_arg = "llm"
    llm: str | dict[str, Any]

    def _model(self) -> Any:
        model = getattr(self, "_llm", None)
        if model is None:
            from ragkit.registry import build

            model = self._llm = build("llm", self.llm)
        return model

    def use_llm(self, llm: Any) -> None:
        """Use an already built LLM object (shared with a generator, or a test double)."""
        self._llm = llm

    def _chat(self, conversations: list[list[dict[str, str]]], max_new_tokens: int) -> list[str] | None:
        """The LLM's replies, or ``None`` (with a ``RewriteWarning``) when the call failed."""
        from ragkit.llm import LLMError

        if not conversations:
            return []
        try:
            replies = self._model().chat(conversations, max_new_tokens=max_new_tokens)
        except (LLMError, TimeoutError, ConnectionError) as exc:
            warnings.warn(
                f"{self.registered_name}: the LLM call failed ({type(exc).__name__}: {exc}); "
                "searching with the original queries",
                RewriteWarning,
                stacklevel=3,
            )
            return None
        if len(replies) != len(conversations):
            warnings.warn(
                f"{self.registered_name}: the LLM returned {len(replies)} replies for "
                f"{len(conversations)} prompts; searching with the original queries",
                RewriteWarning,
                stacklevel=3,
            )
            return None
        return [r if isinstance(r, str) else "" for r in replies]


# -- parsing LLM output --------------------------------------------------------------------
def _items(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.replace("\r", "\n").split("\n")]
    lines = [ln for ln in lines if ln]
    if lines and _PREAMBLE.match(lines[0]) and len(lines) > 1:
        lines = lines[1:]  # "Here are some expansion terms:"
    return lines


def parse_keywords(
    text: str, max_keywords: int = 20, max_words: int = 4, echo: str = ""
) -> list[str]:
    """Keyword phrases from an LLM reply: comma / semicolon / line separated, list markers dropped.

    Args:
        text: the reply.
        max_keywords: keep at most this many (first ones).
        max_words: longer items are sentences, not keywords, and are dropped.
        echo: the prompt's own wording; an item found in it is the model repeating the
            instruction, not a keyword, and is dropped.

    Returns:
        Distinct keyword phrases (case-insensitively), in order; empty for garbage.
    """
    out: list[str] = []
    seen: set[str] = set()
    for line in _items(text):
        line = re.sub(r"^\s*(?:expansion\s+)?(?:terms|keywords)\s*:\s*", "", line, flags=re.IGNORECASE)
        for item in re.split(r"[,;\n]", line):
            item = _LIST_MARKER.sub("", item).strip(" \t\"'`*.!?")
            if not item or not _GOOD_KEYWORD.match(item) or not re.search(r"[^\W\d_]", item):
                continue
            if len(item.split()) > max_words or len(item) > 60:
                continue
            if all(w in STOPWORDS_EN for w in item.lower().split()):
                continue  # "and", "the": no content
            key = item.lower()
            if echo and key in echo.lower():
                continue
            if key not in seen:
                seen.add(key)
                out.append(item)
            if len(out) >= max_keywords:
                return out
    return out


def parse_lines(text: str, max_items: int, min_words: int = 2, max_words: int = 64) -> list[str]:
    """Alternative queries from an LLM reply, one per line (list markers and quotes dropped)."""
    out: list[str] = []
    seen: set[str] = set()
    for line in _items(text):
        line = _LIST_MARKER.sub("", line).strip(" \t\"'`*")
        words = line.split()
        if not (min_words <= len(words) <= max_words) or not re.search(r"[^\W\d_]", line):
            continue
        if line.lower() not in seen:
            seen.add(line.lower())
            out.append(line)
        if len(out) >= max_items:
            break
    return out


def feedback_texts(hits: Sequence[Hit], n: int, max_chars: int) -> list[str]:
    """The texts of the first ``n`` feedback hits, each cut to ``max_chars`` at a word boundary.

    Raises:
        ValueError: a hit carries no chunk text.
    """
    texts = []
    for hit in list(hits)[:n]:
        if hit.chunk is None:
            raise ValueError(
                f"feedback hit {hit.chunk_id} has no chunk text; pass hits from a retriever "
                "(which fills Hit.chunk)"
            )
        text = " ".join(hit.chunk.text.split())
        if len(text) > max_chars:
            text = text[:max_chars].rsplit(" ", 1)[0] + " …"
        texts.append(text)
    return texts


# -- the rewrite stage ---------------------------------------------------------------------
def _add(timings: dict[str, float], stage: str, start: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def _need(retriever: Any, method: str, what: str) -> Any:
    fn = getattr(retriever, method, None)
    if fn is None:
        raise ValueError(
            f"a rewrite with {what} needs a retriever with {method}() ({'bm25' if method == 'retrieve_terms' else 'dense'}); "
            f"{type(retriever).__name__} has none: configure that retriever, or another rewriter"
        )
    return fn


def _retrieve_all(
    retriever: Any, rewrites: list[Rewrite], depth: int, first: list[list[Hit]] | None
) -> list[list[list[Hit]]]:
    """Per rewrite, one run per query (vector, terms, or each text), batched by kind."""
    runs: list[list[list[Hit]] | None] = [None] * len(rewrites)
    texts: list[tuple[int, int, str]] = []  # (rewrite, slot, text)
    slots: list[list[list[Hit] | None]] = [[] for _ in rewrites]
    terms: list[int] = []
    vectors: list[int] = []
    means: list[int] = []
    dense = hasattr(retriever, "embed_queries") and hasattr(retriever, "retrieve_vectors")
    for i, rw in enumerate(rewrites):
        if rw.vector is not None:
            vectors.append(i)
        elif rw.term_weights is not None:
            terms.append(i)
        elif rw.combine == "mean" and len(rw.queries) > 1 and dense:
            means.append(i)
        else:
            queries = rw.queries if rw.combine == "fuse" else [" ".join(rw.queries)]
            slots[i] = [None] * len(queries)
            for j, q in enumerate(queries):
                if first is not None and q == rw.original:
                    slots[i][j] = first[i][:depth]  # the first pass already ran this query
                else:
                    texts.append((i, j, q))
    if texts:
        hits = retriever.retrieve([t for _, _, t in texts], depth)
        for (i, j, _), h in zip(texts, hits):
            slots[i][j] = h
    if terms:
        retrieve_terms = _need(retriever, "retrieve_terms", "term weights (rm3)")
        for i, h in zip(terms, retrieve_terms([rewrites[i].term_weights for i in terms], depth)):
            runs[i] = [h]
    if vectors:
        retrieve_vectors = _need(retriever, "retrieve_vectors", "a query vector (rocchio)")
        matrix = np.asarray([rewrites[i].vector for i in vectors], dtype=np.float32)
        for i, h in zip(vectors, retrieve_vectors(matrix, depth)):
            runs[i] = [h]
    if means:
        flat = [q for i in means for q in rewrites[i].queries]
        emb = np.asarray(retriever.embed_queries(flat), dtype=np.float32)
        rows, start = [], 0
        for i in means:
            n = len(rewrites[i].queries)
            v = emb[start : start + n].mean(axis=0)
            rows.append(v / max(float(np.linalg.norm(v)), 1e-12))
            start += n
        for i, h in zip(means, retriever.retrieve_vectors(np.stack(rows), depth)):
            runs[i] = [h]
    for i, s in enumerate(slots):
        if runs[i] is None:
            runs[i] = [h if h is not None else [] for h in s]
    return runs  # type: ignore[return-value]


def rewrite_and_retrieve(
    rewriter: Rewriter,
    retriever: Any,
    questions: list[str],
    depth: int,
    timings: dict[str, float] | None = None,
    feedback: list[list[Hit]] | None = None,
) -> list[list[Hit]]:
    """Rewrite questions, retrieve for every rewritten query, fuse per question.

    Args:
        rewriter: a ``Rewriter``.
        retriever: a retriever (``retrieve(queries, k)``; RM3 also needs ``retrieve_terms``,
            Rocchio and HyDE's vector averaging ``embed_queries`` / ``retrieve_vectors``).
        questions: the questions.
        depth: hits kept per question.
        timings: if given, seconds are added under ``"retrieve"`` (all retrieval passes),
            ``"rewrite"`` and ``"fuse"``.
        feedback: relevant documents per question (e.g. marked by a user) for rewriters that
            need feedback; ``None`` runs a first retrieval pass and uses its top
            ``rewriter.feedback_depth`` hits (pseudo-relevance feedback).

    Returns:
        Per question, up to ``depth`` hits, best first (fused runs have ``retriever="rrf"``).

    Raises:
        ValueError: the rewriter cannot work with this retriever, or ``feedback`` has the
            wrong length.
    """
    timings = {} if timings is None else timings
    if feedback is not None and len(feedback) != len(questions):
        raise ValueError(f"feedback has {len(feedback)} lists for {len(questions)} questions; give one per question")
    rewriter.bind(retriever)
    first = None
    if feedback is None and rewriter.needs_feedback:
        start = time.perf_counter()
        first = retriever.retrieve(questions, max(depth, rewriter.feedback_depth))
        feedback = [hits[: rewriter.feedback_depth] for hits in first]
        _add(timings, "retrieve", start)
    start = time.perf_counter()
    rewrites = rewriter.rewrite(list(questions), feedback)
    _add(timings, "rewrite", start)
    if len(rewrites) != len(questions):
        raise ValueError(f"{rewriter.registered_name} returned {len(rewrites)} rewrites for {len(questions)} questions")
    start = time.perf_counter()
    runs = _retrieve_all(retriever, rewrites, depth, first)
    _add(timings, "retrieve", start)
    start = time.perf_counter()
    rrf_k = int(getattr(rewriter, "rrf_k", 60))
    out = []
    for rw, question_runs in zip(rewrites, runs):
        if len(question_runs) == 1:
            out.append(question_runs[0][:depth])
        else:
            out.append(fusion.rrf(question_runs, k=rrf_k, weights=rw.weights, limit=depth))
    _add(timings, "fuse", start)
    return out
