"""Structure-respecting chunking with a token budget and overlap, measured with a real tokenizer.

Text is split at paragraph breaks first, then sentences, then words, and pieces are packed
greedily up to ``max_tokens``; consecutive chunks share about ``overlap_tokens`` of text.
Code is split on line boundaries (``split_lines``) so every chunk maps to a line range.
Token counts come from the embedder's tokenizer (default: MiniLM's WordPiece), loaded from
its ``tokenizer.json`` with the fast ``tokenizers`` library (no torch import).
"""

from __future__ import annotations

import array
import bisect
import functools
import re
from pathlib import Path
from typing import Sequence

from ragkit.registry import Component

__all__ = ["Chunker", "TokenSpans"]

_PARA = re.compile(r"\n\s*\n")
_SENT = re.compile(r"(?<=[.!?;:])\s+(?=[A-Z0-9(\"'\[])")
_WORD = re.compile(r"\S+\s*")
_NONSPACE = re.compile(r"\S+")
_SEGMENT = 1 << 20  # characters tokenized per call by token_starts


@functools.lru_cache(maxsize=4)
def _load_tokenizer(ref: str):
    from tokenizers import Tokenizer

    from ragkit.models import resolve

    path = Path(resolve(ref)) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer for {ref!r} has no tokenizer.json at {path}")
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


class TokenSpans:
    """Token start offsets of one text, answering "how many tokens in [start, end)?" by bisection.

    Args:
        starts: sorted character offsets where tokens begin (``Chunker.token_starts``; a list or an array).
        length: the text's length in characters.

    Example:
        >>> TokenSpans([0, 2, 4], 5).count(1, 5)
        2
    """

    def __init__(self, starts: Sequence[int], length: int):
        self.starts = starts
        self.length = length

    def count(self, start: int, end: int) -> int:
        """Number of tokens that begin in ``[start, end)``."""
        return bisect.bisect_left(self.starts, end) - bisect.bisect_left(self.starts, start)

    def windows(self, start: int, end: int, size: int) -> list[tuple[int, int]]:
        """``[start, end)`` cut at token starts into consecutive spans of ``size`` tokens.

        Every character of the range is in exactly one span (a range without a token start
        inside it stays one span).
        """
        first = bisect.bisect_left(self.starts, start)
        last = bisect.bisect_left(self.starts, end)
        cuts = self.starts[first + size : last : size]
        bounds = [start, *(c for c in cuts if start < c < end), end]
        return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


class Chunker(Component):
    """Split text or source lines into chunks of at most ``max_tokens`` tokens.

    Args:
        max_tokens: token budget per chunk (MiniLM embeds 256 word pieces; longer is truncated).
        overlap_tokens: about this many tokens of the previous chunk start the next one.
        tokenizer: model whose tokenizer measures length (``minilm``, a model dir), or
            ``"whitespace"`` to count words (no model needed).

    Example:
        >>> Chunker(max_tokens=8, overlap_tokens=0, tokenizer="whitespace").split("a b c")
        [(0, 5)]
    """

    def __init__(self, max_tokens: int = 256, overlap_tokens: int = 32, tokenizer: str = "minilm"):
        if max_tokens < 8:
            raise ValueError(f"max_tokens must be at least 8, got {max_tokens}")
        if not 0 <= overlap_tokens < max_tokens // 2:
            raise ValueError(f"overlap_tokens must be in [0, max_tokens/2), got {overlap_tokens}")
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        """Number of tokens in ``text`` (without special tokens)."""
        if self.tokenizer == "whitespace":
            return len(text.split())
        return len(_load_tokenizer(self.tokenizer).encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: list[str]) -> list[int]:
        """Token counts of several texts in one batched tokenizer call."""
        if self.tokenizer == "whitespace":
            return [len(t.split()) for t in texts]
        encs = _load_tokenizer(self.tokenizer).encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encs]

    def token_starts(self, text: str) -> Sequence[int]:
        """Character offset where each token of ``text`` starts, from one tokenizer call.

        The token count of any span that starts at a word boundary is then two bisections
        (``TokenSpans.count``), so cutting a long text costs one tokenization, not one per piece.
        """
        if self.tokenizer == "whitespace":
            return array.array("q", (m.start() for m in _NONSPACE.finditer(text)))
        tok = _load_tokenizer(self.tokenizer)
        starts = array.array("q")
        lo = 0
        while lo < len(text):  # in segments cut at a space, so memory stays bounded for huge texts
            hi = min(len(text), lo + _SEGMENT)
            if hi < len(text):
                cut = max(text.rfind(" ", lo, hi), text.rfind("\n", lo, hi))
                hi = cut + 1 if cut > lo else hi
            enc = tok.encode(text[lo:hi], add_special_tokens=False)
            starts.extend(lo + start for start, _ in enc.offsets)
            lo = hi
        return starts

    # -- prose -------------------------------------------------------------------------
    def _pieces(self, tokens: TokenSpans, text: str, start: int, end: int, level: int = 0) -> list[tuple[int, int]]:
        """Cut [start, end) into spans no longer than the budget, at the coarsest boundary."""
        splitters = (_PARA, _SENT, _WORD)
        if tokens.count(start, end) <= self.max_tokens:
            return [(start, end)]
        if level == len(splitters):  # one word longer than the budget: cut between its tokens
            return tokens.windows(start, end, self.max_tokens)
        spans, cursor = [], start
        for m in splitters[level].finditer(text, start, end):
            cut = m.end() if level == 2 else m.start()
            if cut > cursor:
                spans.append((cursor, cut))
            cursor = cut if level == 2 else m.end()
        if cursor < end:
            spans.append((cursor, end))
        out: list[tuple[int, int]] = []
        for s, e in spans:
            if level == 2 and tokens.count(s, e) <= self.max_tokens:
                out.append((s, e))  # the common case for words, without a recursive call
            else:
                out.extend(self._pieces(tokens, text, s, e, level + 1))
        return out

    def split(self, text: str) -> list[tuple[int, int]]:
        """Character spans ``(start, end)`` of the chunks of ``text``, in order.

        Paragraphs and sentences are kept whole when they fit; a longer one is cut at
        sentences, then words, then (one word over the budget) between its tokens, so every
        non-space character of ``text`` is in some span. Chunks overlap by whole
        sentences/paragraphs (or words) of about ``overlap_tokens`` tokens. ``text`` is
        tokenized once, so the cost grows linearly with its length.
        """
        if not text.strip():
            return []
        tokens = TokenSpans(self.token_starts(text), len(text))
        pieces = [(s, e) for s, e in self._pieces(tokens, text, 0, len(text)) if text[s:e].strip()]
        sizes = [tokens.count(s, e) for s, e in pieces]
        return self.pack(pieces, sizes)

    def pack(self, pieces: list[tuple[int, int]], sizes: list[int]) -> list[tuple[int, int]]:
        """Group consecutive ``pieces`` (spans with token ``sizes``) into chunks of at most
        ``max_tokens`` (a single oversized piece stays whole), overlapping by whole pieces of up
        to ``overlap_tokens``; returns each chunk's ``(first start, last end)``."""
        chunks: list[tuple[int, int]] = []
        i = 0
        while i < len(pieces):
            j, total = i, 0
            while j < len(pieces) and (j == i or total + sizes[j] <= self.max_tokens):
                total += sizes[j]
                j += 1
            chunks.append((pieces[i][0], pieces[j - 1][1]))
            if j >= len(pieces):
                break
            # step back over whole pieces worth at most overlap_tokens, but always advance
            back, k = 0, j
            while k - 1 > i and back + sizes[k - 1] <= self.overlap_tokens:
                k -= 1
                back += sizes[k]
            i = k
        return chunks

    # -- code --------------------------------------------------------------------------
    def split_lines(self, lines: list[str]) -> list[tuple[int, int]]:
        """Line ranges ``(first, last)`` (0-based, inclusive) covering ``lines`` within the budget.

        Consecutive chunks overlap by whole lines worth about ``overlap_tokens``; a single
        over-long line becomes its own chunk.
        """
        if not lines:
            return []
        sizes = self.count_many([ln if ln.strip() else "" for ln in lines])
        pieces = [(k, k) for k in range(len(lines))]
        return self.pack(pieces, [max(1, s) for s in sizes])
