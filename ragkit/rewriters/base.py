"""Query rewriting: the typed results of a rewrite and the rewriter protocol.

A rewriter turns each question into one ``Rewrite``, whose type says how to retrieve with it:

- ``TextQueries``: one or more query texts (the first always begins with the original
  question), each retrieved and, when there are several, fused with weighted RRF
  (GenQR, multi-query);
- ``MeanOfTexts``: texts whose embeddings are averaged into one query vector (HyDE); a
  retriever without vector search gets the texts joined into one query;
- ``WeightedTerms``: a weighted term query for term search (RM3, for BM25);
- ``QueryVector``: a query embedding for vector search (Rocchio, for dense retrieval).

A rewriter receives what it needs as arguments: the feedback hits, and the retriever it will be
used with (``searcher``), from which it reads through the capability it declares in
``needs`` (``TermSearch`` / ``VectorSearch`` in ``ragkit.retrievers.base``). The pipeline
(``ragkit.pipeline.rewrite``) runs the stage: first pass, rewrite, retrieval, fusion.

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
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

from ragkit.defaults import RRF_K
from ragkit.indexes.tokenize import STOPWORDS_EN
from ragkit.registry import Component
from ragkit.types import Hit

__all__ = [
    "Rewrite",
    "TextQueries",
    "MeanOfTexts",
    "WeightedTerms",
    "QueryVector",
    "Rewriter",
    "LLMRewriter",
    "RewriteWarning",
    "parse_keywords",
    "parse_lines",
    "feedback_texts",
]

_LIST_MARKER = re.compile(r"^\s*(?:\d+\s*[.):]|[-*•·]|\(\d+\))\s*")
_PREAMBLE = re.compile(r"^[^\n]{0,120}:\s*$")
_GOOD_KEYWORD = re.compile(r"^[\w][\w\s'/+.&-]*$", re.UNICODE)


class RewriteWarning(UserWarning):
    """A rewrite fell back to the original query (the LLM failed or said nothing usable)."""


@dataclass(slots=True)
class Rewrite:
    """What a rewriter made of one question (the base of the four typed results).

    Attributes:
        original: the question as asked.
        fallback: True when the rewriter gave up and kept only the original question.
        metadata: what the rewriter produced on the way (keywords, raw LLM outputs …).
    """

    original: str
    fallback: bool = field(default=False, kw_only=True)
    metadata: dict[str, Any] = field(default_factory=dict, kw_only=True)

    @staticmethod
    def keep(original: str, reason: str = "", warn: bool = True) -> TextQueries:
        """The original query alone; with ``reason``, a ``RewriteWarning`` says why."""
        if reason and warn:
            warnings.warn(f"{reason}; searching with the original query {original!r}", RewriteWarning, stacklevel=3)
        return TextQueries(original, [original], fallback=bool(reason), metadata={"reason": reason} if reason else {})


def _check_texts(original: str, queries: list[str]) -> None:
    if not queries or not queries[0].startswith(original):
        raise ValueError(
            f"a Rewrite keeps the original query first: queries[0] must begin with "
            f"{original!r}, got {queries[:1]!r}"
        )


@dataclass(slots=True)
class TextQueries(Rewrite):
    """Query texts, each retrieved; several are fused with weighted reciprocal rank fusion.

    Attributes:
        queries: ``queries[0]`` begins with ``original`` (it is the original itself, or the
            original with expansion terms appended).
        weights: per-query RRF weights (``None``: 1 each).
        rrf_k: the RRF constant.

    Raises:
        ValueError: no queries, ``queries[0]`` does not begin with ``original``, or weights of
            the wrong length.
    """

    queries: list[str]
    weights: list[float] | None = None
    rrf_k: int = RRF_K

    def __post_init__(self) -> None:
        _check_texts(self.original, self.queries)
        if self.weights is not None and len(self.weights) != len(self.queries):
            raise ValueError(f"{len(self.weights)} weights for {len(self.queries)} queries; give one per query")


@dataclass(slots=True)
class MeanOfTexts(Rewrite):
    """Texts whose embeddings are averaged into one query vector (HyDE).

    Attributes:
        queries: the original question first, then e.g. hypothetical passages. A retriever
            without vector search gets them joined into one text query.

    Raises:
        ValueError: no texts, or ``queries[0]`` does not begin with ``original``.
    """

    queries: list[str]

    def __post_init__(self) -> None:
        _check_texts(self.original, self.queries)


@dataclass(slots=True)
class WeightedTerms(Rewrite):
    """A weighted term query ``{analyzed term: weight}`` for term search (RM3)."""

    term_weights: dict[str, float]


@dataclass(slots=True)
class QueryVector(Rewrite):
    """A query embedding for vector search (Rocchio)."""

    vector: list[float]


class Rewriter(Component):
    """Protocol of query rewriters: ``rewrite(queries, feedback=None, searcher=None) -> list[Rewrite]``.

    Class attributes:
        needs: the capability protocol the retriever must have (``TermSearch``,
            ``VectorSearch``), or ``None`` for any retriever.
        needs_feedback: the rewriter reads the top ``fb_docs`` documents of a first retrieval
            pass (pseudo-relevance feedback); the pipeline supplies them. Such a rewriter takes
            ``fb_docs`` in its constructor.
        cli_arg: the constructor argument that ``--rewrite NAME:ARG`` sets (``None``: none).
    """

    needs: ClassVar[type | None] = None
    needs_feedback: bool = False
    cli_arg: str | None = None
    fb_docs: int

    def rewrite(
        self, queries: list[str], feedback: list[list[Hit]] | None = None, searcher: Any = None
    ) -> list[Rewrite]:
        """Rewrite each question.

        Args:
            queries: the questions.
            feedback: per question, documents judged (pseudo-)relevant, best first: a first
                retrieval pass, or documents a user marked relevant. ``Hit.chunk`` must be set
                for rewriters that read document text.
            searcher: the retriever the rewrites are for; rewriters with ``needs`` read from it
                through that capability (term statistics, query and document vectors).

        Returns:
            One ``Rewrite`` per question, in order.
        """
        raise NotImplementedError

    def check_searcher(self, searcher: Any) -> Any:
        """``searcher`` if it has the capability this rewriter needs, else a ``ValueError`` that says what to use."""
        if self.needs is not None and not isinstance(searcher, self.needs):
            raise ValueError(
                f"{self.registered_name} needs a retriever with {self.needs.__name__} "
                f"({'bm25' if self.needs.__name__ == 'TermSearch' else 'dense'}), not {type(searcher).__name__}; "
                "configure that retriever, or another rewriter"
            )
        return searcher


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

    def _chat(self, conversations: list[list[dict[str, str]]], max_new_tokens: int,
              schema: dict[str, Any] | None = None) -> list[str] | None:
        """The LLM's replies, or ``None`` (with a ``RewriteWarning``) when the call failed.

        With ``schema``, the replies are decoded under that JSON schema (``LLM.chat_json``).
        """
        from ragkit.llm import LLMError

        if not conversations:
            return []
        try:
            model = self._model()
            if schema is not None:
                replies = model.chat_json(conversations, schema, max_new_tokens=max_new_tokens)
            else:
                replies = model.chat(conversations, max_new_tokens=max_new_tokens)
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
