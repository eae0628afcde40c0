"""Plain data types that flow between ragkit stages: Chunk, Query, Hit, Citation, Answer.

Every type is a slotted dataclass with a ``to_dict`` / ``from_dict`` round trip, so runs,
feedback logs and reports can be stored as JSON without custom encoders.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["Chunk", "Query", "Hit", "Citation", "Answer", "chunk_id"]


def chunk_id(source: str, span: str, text: str) -> str:
    """Content hash of a chunk: the same (source, span, text) always gets the same id.

    Args:
        source: the file the chunk comes from (a path relative to the ingest root).
        span: where in the file, e.g. ``"p3"`` or ``"L10-24"``.
        text: the chunk's text.

    Returns:
        A 16-hex-digit id (64 bits of SHA-256), stable across runs and machines.
    """
    h = hashlib.sha256()
    for part in (source, span, text):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


class _DictMixin:
    """``to_dict`` / ``from_dict`` for the dataclasses below (unknown keys are an error)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return _build(cls, data)


def _build(cls, data: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(
            f"{cls.__name__}.from_dict got unknown keys {sorted(unknown)}; "
            f"expected some of {sorted(names)}"
        )
    return cls(**data)


@dataclass(slots=True)
class Chunk(_DictMixin):
    """A retrievable piece of a document, with its provenance in real fields.

    Attributes:
        text: the text that is embedded, indexed and shown to the generator.
        source: file path, relative to the ingest root (forward slashes).
        kind: what the chunk is: ``"text"``, ``"pdf"``, ``"function"``, ``"class"``,
            ``"method"``, ``"module"``, ``"window"`` (line-window fallback), ``"table"``.
        language: programming language for code (``"python"``, ``"rust"`` …), else ``None``.
        page: 1-based PDF page number, else ``None``.
        start_line / end_line: 1-based inclusive line range in the source file (code, text).
        start_col / end_col: only for a chunk that begins or ends inside a line (a line longer
            than the chunk budget is split): the text runs from 0-based column ``start_col`` of
            ``start_line`` to just before column ``end_col`` of ``end_line``; else ``None``.
        symbol: qualified name of a code symbol (``"Class.method"``), else ``None``.
        heading: section path, outermost first (``["2 Methods", "2.1 Data"]``).
        metadata: anything else (decorators, docstring, parse warnings …); JSON-able.
        id: content hash of (source, span, text); computed when left empty.
    """

    text: str
    source: str
    kind: str = "text"
    language: str | None = None
    page: int | None = None
    start_line: int | None = None
    end_line: int | None = None
    start_col: int | None = None
    end_col: int | None = None
    symbol: str | None = None
    heading: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = chunk_id(self.source, self.span, self.text)

    @property
    def span(self) -> str:
        """Where the chunk sits in its source: ``p3``, ``L10-24``, ``p3:L1-5``, ``L7-7:c0-812`` or ``""``."""
        parts = []
        if self.page is not None:
            parts.append(f"p{self.page}")
        if self.start_line is not None:
            parts.append(f"L{self.start_line}-{self.end_line}")
        if self.start_col is not None:
            parts.append(f"c{self.start_col}-{self.end_col}")
        return ":".join(parts)

    @property
    def location(self) -> str:
        """Human-readable provenance, e.g. ``docs/guide.pdf p3`` or ``src/app.py:10-24 (main)``."""
        loc = self.source
        if self.page is not None:
            loc += f" p{self.page}"
        if self.start_line is not None:
            loc += f":{self.start_line}-{self.end_line}"
        if self.symbol:
            loc += f" ({self.symbol})"
        elif self.heading:
            loc += f" § {self.heading[-1]}"
        return loc


@dataclass(slots=True)
class Query(_DictMixin):
    """A question or search query; ``id`` links it to qrels in evaluation."""

    text: str
    id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]


@dataclass(slots=True)
class Hit(_DictMixin):
    """One retrieved chunk for one query, with the score of the stage that produced it."""

    chunk_id: str
    score: float
    rank: int = 0
    retriever: str = ""
    chunk: Chunk | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hit:
        data = dict(data)
        if isinstance(data.get("chunk"), dict):
            data["chunk"] = Chunk.from_dict(data["chunk"])
        return _build(cls, data)


@dataclass(slots=True)
class Citation(_DictMixin):
    """A numbered source ``[n]`` in an answer, mapped to the chunk it refers to."""

    number: int
    chunk_id: str
    source: str
    page: int | None = None
    start_line: int | None = None
    end_line: int | None = None
    start_col: int | None = None
    end_col: int | None = None
    symbol: str | None = None
    heading: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Answer(_DictMixin):
    """A generated answer with its citations, the hits it was given and per-stage timings."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "rag"
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        data = dict(data)
        data["citations"] = [
            c if isinstance(c, Citation) else Citation.from_dict(c)
            for c in data.get("citations", [])
        ]
        data["hits"] = [h if isinstance(h, Hit) else Hit.from_dict(h) for h in data.get("hits", [])]
        return _build(cls, data)
