"""ragkit's analyzer: text -> index terms, shared by BM25 and query expansion (RM3).

Steps: Unicode word split (``\\w+``: letters, digits, underscore), lowercase, code identifiers
additionally split on snake_case / camelCase boundaries (``getUserName`` also yields ``get``,
``user``, ``name``), English stopwords dropped (Lucene's 33-word list, as Pyserini and bm25s
use), and Snowball stemming via PyStemmer (``english`` = Porter2).

With these settings BM25 (bm25s ``lucene``, k1=0.9, b=0.4) reproduces Pyserini's flat BM25 on
BEIR SciFact (see ``benchmarks/beir_scifact.py``).

With ``split_identifiers="code"`` (what ``ragkit index`` uses for corpora with code) two more
rules apply: a dotted name is also kept whole (``PoolManager.urlopen`` -> ``poolmanager.urlopen``
besides its parts), and a run-together lowercase part that is no word itself is split into
words of a bundled list (``DEFAULT_POOLSIZE`` -> ``default``, ``poolsize``, ``pool``, ``size``).

Example:
    >>> Analyzer()("Parsing getUserName in snake_case files")
    ['pars', 'getusernam', 'get', 'user', 'name', 'snake_cas', 'snake', 'case', 'file']
    >>> Analyzer(split_identifiers="code")("DEFAULT_POOLSIZE")
    ['default_poolsiz', 'default', 'poolsiz', 'pool', 'size']
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Iterable

import numpy as np

__all__ = ["STOPWORDS_EN", "Analyzer", "corpus_split_identifiers"]

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (also bm25s' "en" list).
STOPWORDS_EN = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)

_WORD = re.compile(r"\w+")
_CODE_WORD = re.compile(r"\w+(?:\.\w+)*")  # dotted names stay one word: Class.method, os.path.join
_SPLIT_MODES = (True, False, "code")
_MIN_PIECE = 3  # shortest word a run-together part is split into
_MIN_COMPOUND = 6  # shortest run-together part that is split
# camelCase boundaries: lower/digit -> upper (getUser, utf8Decoder), and the end of an
# acronym before a capitalised word (HTTPServer -> HTTP Server).
_CAMEL = re.compile(r"[a-z0-9][A-Z]|[A-Z][A-Z][a-z]")
_CAMEL_SPLIT = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def corpus_split_identifiers(chunks: Iterable[Any]) -> bool | str:
    """The identifier splitting a corpus gets unless told otherwise: ``"code"`` when a chunk holds source code."""
    return "code" if any(getattr(c, "language", None) for c in chunks) else True


class Analyzer:
    """Turn text into index terms: word split, lowercase, identifier split, stopwords, stemming.

    Args:
        stemmer: a PyStemmer (Snowball) language such as ``"english"`` or ``"porter"``, or
            ``None`` for no stemming.
        stopwords: ``"en"`` (Lucene's English list), ``None`` for none, or a list of words.
        split_identifiers: also emit the parts of snake_case / camelCase identifiers;
            ``"code"`` adds dotted names kept whole and run-together words split (see above).

    Raises:
        ValueError: an unknown stemmer language or stopword list name.
    """

    def __init__(
        self,
        stemmer: str | None = "english",
        stopwords: str | list[str] | None = "en",
        split_identifiers: bool | str = True,
    ):
        if split_identifiers not in _SPLIT_MODES:
            raise ValueError(f"split_identifiers must be True, False or 'code', got {split_identifiers!r}")
        self.stemmer = stemmer
        self.stopwords = stopwords
        self.split_identifiers = split_identifiers
        if stopwords is None:
            self._stop: frozenset[str] = frozenset()
        elif isinstance(stopwords, str):
            if stopwords != "en":
                raise ValueError(f"unknown stopword list {stopwords!r}; use 'en', None or a list of words")
            self._stop = STOPWORDS_EN
        else:
            self._stop = frozenset(w.lower() for w in stopwords)
        self._stem_word = None
        if stemmer is not None:
            import Stemmer

            try:
                self._stem_word = Stemmer.Stemmer(stemmer).stemWord
            except KeyError:
                raise ValueError(
                    f"unknown stemmer {stemmer!r}; choose one of {sorted(Stemmer.algorithms())} or None"
                ) from None
        self._cache: dict[str, list[str]] = {}  # raw word -> its terms
        self._words: frozenset[str] = _word_list() if split_identifiers == "code" else frozenset()
        self._find = (_CODE_WORD if split_identifiers == "code" else _WORD).findall

    def config(self) -> dict[str, Any]:
        """The settings, as stored in an index manifest."""
        return {
            "stemmer": self.stemmer,
            "stopwords": self.stopwords,
            "split_identifiers": self.split_identifiers,
        }

    def _terms_of(self, word: str) -> list[str]:
        """The terms one raw word contributes (itself, plus identifier parts), analyzed."""
        if "." in word:  # code mode: the dotted name whole (lowercased), then each part
            return [word.lower()] + [t for part in word.split(".") for t in self._terms_of(part)]
        if not word.strip("_"):
            return []
        words = [word.lower()]
        parts = [word]
        if self.split_identifiers and ("_" in word or _CAMEL.search(word)):
            parts = [p for piece in word.split("_") if piece for p in _CAMEL_SPLIT.split(piece)]
            if parts != [word]:
                words.extend(p.lower() for p in parts)
        if self._words:
            for part in parts:
                words.extend(self._compound(part.lower()))
        stem = self._stem_word
        return [stem(w) if stem is not None else w for w in words if w not in self._stop]

    def _compound(self, part: str) -> list[str]:
        """The words of a run-together part (``poolsize`` -> pool, size), or ``[]``.

        Only an alphabetic part of at least ``_MIN_COMPOUND`` letters that is not a word
        itself is split: into the fewest words of the list (at most 3, each at least
        ``_MIN_PIECE`` letters), ties broken by the longest shortest word.
        """
        words = self._words
        n = len(part)
        if n < _MIN_COMPOUND or n > 40 or not part.isalpha() or part in words:
            return []
        best: list[tuple[int, int, list[str]] | None] = [None] * (n + 1)  # (count, -shortest, words)
        best[0] = (0, -n, [])
        for end in range(_MIN_PIECE, n + 1):
            for start in range(0, end - _MIN_PIECE + 1):
                prev = best[start]
                if prev is None or prev[0] >= 3 or part[start:end] not in words:
                    continue
                cand = (prev[0] + 1, max(prev[1], -(end - start)), prev[2] + [part[start:end]])
                if best[end] is None or cand[:2] < best[end][:2]:  # type: ignore[index]
                    best[end] = cand
        found = best[n]
        return found[2] if found is not None and found[0] > 1 else []

    def __call__(self, text: str) -> list[str]:
        """Index terms of ``text``, in order (repeats kept: they are term frequencies)."""
        terms: list[str] = []
        cache = self._cache
        for word in self._find(text):
            found = cache.get(word)
            if found is None:
                found = self._terms_of(word)
                if len(cache) < 2_000_000:
                    cache[word] = found
            terms.extend(found)
        return terms

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        """``[self(t) for t in texts]``."""
        return [self(t) for t in texts]

    def term_ids(self, texts: Iterable[str], vocab: dict[str, int]) -> list[np.ndarray]:
        """Analyze ``texts`` straight into int32 term-id arrays, adding new terms to ``vocab``.

        Equivalent to mapping ``self.many(texts)`` through ``vocab`` but with one lookup per
        word (a per-call cache from raw word to its term ids): the fast path for indexing.
        """
        cache: dict[str, tuple[int, ...]] = {}
        lookup, chain = cache.__getitem__, itertools.chain.from_iterable
        flat: list[int] = []
        ends: list[int] = []
        for text in texts:
            words = self._find(text)
            for word in sorted(set(words).difference(cache)):  # analyze each new word once
                cache[word] = tuple(vocab.setdefault(t, len(vocab)) for t in self._terms_of(word))
            flat.extend(chain(map(lookup, words)))
            ends.append(len(flat))
        return np.split(np.asarray(flat, dtype=np.int32), ends[:-1]) if ends else []


def _word_list() -> frozenset[str]:
    """The bundled word list for splitting run-together identifiers (``words_en.txt``)."""
    from importlib.resources import files

    text = files("ragkit.indexes").joinpath("words_en.txt").read_text(encoding="utf-8")
    return frozenset(w for w in text.split("\n") if w and not w.startswith("#"))
