"""Data-preparation recipes: training records made from a corpus's chunks, for fine-tuning later.

Each recipe is a plain function from ``Chunk`` objects (as produced by the connectors) to a list
of JSON-able dicts, deterministic for the same input:

- ``paragraph_chunks``: the prose chunks as ``{"id", "text", "source"}`` (unsupervised data,
  e.g. for domain-adaptive pre-training or synthetic-question generation);
- ``keyword_paragraph_pairs``: ``{"query": "kw1 kw2 …", "positive": text}`` with the chunk's
  top TF-IDF keywords as a pseudo-query (keyword-query / passage pairs for a retriever);
- ``summary_function_pairs``: ``{"query": docstring summary, "positive": code}`` for functions
  and methods with a docstring (text-to-code pairs, as in CodeSearchNet).

References: Husain et al., 2019, "CodeSearchNet Challenge: Evaluating the State of Semantic
Code Search" (docstring / function pairs); Sparck Jones, 1972, "A statistical interpretation
of term specificity and its application in retrieval" (IDF).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Iterable

from ragkit.types import Chunk

__all__ = [
    "TEXT_KINDS",
    "CODE_KINDS",
    "STOPWORDS",
    "paragraph_chunks",
    "keyword_paragraph_pairs",
    "summary_function_pairs",
    "keywords",
]

# chunk kinds that hold prose (line windows count too when their language is unknown)
TEXT_KINDS = frozenset({"text", "pdf"})
CODE_KINDS = frozenset({"function", "method"})

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each either else
    etc even ever every few for from further get gets got had has have having he her here hers
    herself him himself his how however i if in into is it its itself just least less let like
    many may me might more most much must my myself neither no nor not now of off often on once
    one only or other others our ours ourselves out over own per rather same shall she should
    since so some such than that the their theirs them themselves then there these they this
    those though through thus to too under until up upon us use used uses using very via was we
    were what when where whether which while who whom whose why will with within without would
    yet you your yours yourself yourselves""".split()
)

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def _is_text(chunk: Chunk) -> bool:
    return chunk.kind in TEXT_KINDS or (chunk.kind == "window" and chunk.language is None)


def paragraph_chunks(chunks: Iterable[Chunk]) -> list[dict[str, Any]]:
    """The prose chunks as plain records, for unsupervised or synthetic-query training data.

    Prose chunks are ``kind`` ``"text"`` (text / Markdown files) and ``"pdf"`` (PDF pages),
    plus line windows of files of unknown language; code, tables and empty chunks are left out.

    Args:
        chunks: chunks from any connectors.

    Returns:
        ``[{"id": chunk.id, "text": chunk.text, "source": chunk.source}, …]`` in input order.
    """
    return [
        {"id": c.id, "text": c.text, "source": c.source}
        for c in chunks
        if _is_text(c) and c.text.strip()
    ]


def _terms(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stopwords, possessives or words under 3 letters."""
    out = []
    for word in _WORD.findall(text.lower()):
        word = re.sub(r"['’]s$", "", word)
        if len(word) >= 3 and word not in STOPWORDS:
            out.append(word)
    return out


def keywords(texts: list[str], top_k: int = 5) -> list[list[str]]:
    """The ``top_k`` TF-IDF keywords of each text, scored against the whole list.

    ``tf`` is a term's count over the text's term count; ``idf = ln((1 + N) / (1 + df)) + 1``
    (smoothed, so a term in every text still counts a little). Ties go to the term that
    appears first in the text.

    Args:
        texts: the documents (each one is also part of the collection statistics).
        top_k: keywords per text, best first.

    Returns:
        One list of at most ``top_k`` terms per text (empty when it has no usable words).

    Raises:
        ValueError: ``top_k`` is not positive.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    docs = [_terms(t) for t in texts]
    df = Counter(term for terms in docs for term in set(terms))
    n = len(docs)
    out = []
    for terms in docs:
        counts = Counter(terms)
        first = {}
        for i, term in enumerate(terms):
            first.setdefault(term, i)
        total = max(1, len(terms))
        score = {t: c / total * (math.log((1 + n) / (1 + df[t])) + 1) for t, c in counts.items()}
        out.append(sorted(score, key=lambda t: (-score[t], first[t]))[:top_k])
    return out


def keyword_paragraph_pairs(chunks: Iterable[Chunk], top_k: int = 5) -> list[dict[str, Any]]:
    """(keyword query, paragraph) pairs: each prose chunk's top TF-IDF terms as its query.

    Keywords are scored across the prose chunks given (``paragraph_chunks``), stopwords
    removed, so a query holds the words that set its paragraph apart from the others.

    Args:
        chunks: chunks from any connectors; only prose chunks are used.
        top_k: keywords per query.

    Returns:
        ``[{"query": "kw1 kw2 …", "positive": text, "chunk_id": id}, …]`` in input order;
        chunks with no usable words are left out.

    Raises:
        ValueError: ``top_k`` is not positive.
    """
    paragraphs = paragraph_chunks(chunks)
    ranked = keywords([p["text"] for p in paragraphs], top_k)
    return [
        {"query": " ".join(words), "positive": p["text"], "chunk_id": p["id"]}
        for p, words in zip(paragraphs, ranked)
        if words
    ]


def _summary(docstring: str) -> str:
    """The first line of a docstring that is not blank and not a tag (``@param …``)."""
    for line in docstring.split("\n"):
        line = line.strip()
        if line and not line.startswith(("@", ":")):
            return line
    return ""


def _code_without_docstring(chunk: Chunk) -> str:
    """The chunk's text without the lines of its docstring or doc comment, blank edges trimmed."""
    first, last = chunk.metadata["docstring_lines"]
    kept = [
        line
        for number, line in enumerate(chunk.text.split("\n"), start=chunk.start_line or 1)
        if not first <= number <= last
    ]
    return "\n".join(kept).strip("\n")


def summary_function_pairs(chunks: Iterable[Chunk]) -> list[dict[str, Any]]:
    """(docstring summary, function source) pairs from function and method chunks.

    A chunk qualifies when it is a ``"function"`` or ``"method"`` with a docstring (Python) or
    doc comment (tree-sitter languages) in ``metadata["docstring"]`` whose lines it has to
    itself (``metadata["docstring_lines"]``, set by the code connectors). For a definition cut
    into parts only the first part is used. The positive is the chunk's code with the
    docstring lines removed, so the query cannot be matched by copying.

    Args:
        chunks: chunks from any connectors; only qualifying code chunks are used.

    Returns:
        ``[{"query": summary line, "positive": code, "chunk_id": id, "symbol": symbol}, …]``
        in input order.

    References:
        Husain et al., 2019, "CodeSearchNet Challenge: Evaluating the State of Semantic Code
        Search".
    """
    out = []
    for c in chunks:
        doc = c.metadata.get("docstring")
        if c.kind not in CODE_KINDS or not doc or "docstring_lines" not in c.metadata:
            continue
        if c.metadata.get("part", 0) != 0:
            continue
        summary = _summary(doc)
        code = _code_without_docstring(c)
        if summary and code.strip():
            out.append({"query": summary, "positive": code, "chunk_id": c.id, "symbol": c.symbol})
    return out
