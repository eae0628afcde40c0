"""Structure-respecting chunking with a token budget and overlap, measured with a real tokenizer.

Text is split at paragraph breaks first, then sentences, then words, and pieces are packed
greedily up to ``max_tokens``; consecutive chunks share about ``overlap_tokens`` of text.
Code is split on line boundaries (``split_lines``) so every chunk maps to a line range.
Token counts come from the embedder's tokenizer (default: MiniLM's WordPiece), loaded from
its ``tokenizer.json`` with the fast ``tokenizers`` library (no torch import).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from ragkit.registry import Component

__all__ = ["Chunker"]

_PARA = re.compile(r"\n\s*\n")
_SENT = re.compile(r"(?<=[.!?;:])\s+(?=[A-Z0-9(\"'\[])")
_WORD = re.compile(r"\S+\s*")


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

    # -- prose -------------------------------------------------------------------------
    def _pieces(self, text: str, start: int, end: int, level: int = 0) -> list[tuple[int, int]]:
        """Cut [start, end) into spans no longer than the budget, at the coarsest boundary."""
        splitters = (_PARA, _SENT, _WORD)
        if self.count(text[start:end]) <= self.max_tokens or level == len(splitters):
            if level == len(splitters):  # one word longer than the budget: cut by characters
                step = max(1, (end - start) * self.max_tokens // max(1, self.count(text[start:end])))
                return [(s, min(s + step, end)) for s in range(start, end, step)]
            return [(start, end)]
        spans, cursor = [], start
        segment = text[start:end]
        for m in splitters[level].finditer(segment):
            cut = start + m.end() if level == 2 else start + m.start()
            if cut > cursor:
                spans.append((cursor, cut))
            cursor = cut if level == 2 else start + m.end()
        if cursor < end:
            spans.append((cursor, end))
        out: list[tuple[int, int]] = []
        for s, e in spans:
            out.extend(self._pieces(text, s, e, level + 1))
        return out

    def split(self, text: str) -> list[tuple[int, int]]:
        """Character spans ``(start, end)`` of the chunks of ``text``, in order.

        Paragraphs and sentences are kept whole when they fit; chunks overlap by whole
        sentences/paragraphs of about ``overlap_tokens`` tokens.
        """
        if not text.strip():
            return []
        pieces = [(s, e) for s, e in self._pieces(text, 0, len(text)) if text[s:e].strip()]
        sizes = self.count_many([text[s:e] for s, e in pieces])
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
