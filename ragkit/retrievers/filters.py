"""Metadata filters for retrievers: path glob, language, kind.

A filter spec is a JSON-able dict, e.g. ``{"path": "src/**/*.py", "language": "python",
"kind": ["function", "method"]}``; each value is one pattern/value or a list (any of them).
A chunk passes when it matches every key given. Path globs use ``/`` separators: ``*`` and
``?`` stay within one path segment, ``**`` spans any number of segments.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable

from ragkit.indexes.store import ChunkStore
from ragkit.types import Chunk

__all__ = ["FILTER_KEYS", "glob_regex", "compile_filters", "allowed_ids"]

FILTER_KEYS = ("path", "language", "kind")


@functools.lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A compiled regex for a path glob (``**`` crosses ``/``, ``*`` and ``?`` do not)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _as_list(key: str, value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"filter {key!r} takes a string or a list of strings, got {value!r}")
    return list(values)


def compile_filters(filters: dict[str, Any] | None) -> Callable[[Chunk], bool] | None:
    """A predicate for ``filters`` (``None`` when there is nothing to filter).

    Raises:
        ValueError: an unknown key or a value that is not a string / list of strings.
    """
    if not filters:
        return None
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise ValueError(f"unknown filter key(s) {unknown}; filters take {', '.join(FILTER_KEYS)}")
    paths = [glob_regex(p) for p in _as_list("path", filters["path"])] if "path" in filters else None
    languages = set(_as_list("language", filters["language"])) if "language" in filters else None
    kinds = set(_as_list("kind", filters["kind"])) if "kind" in filters else None

    def keep(chunk: Chunk) -> bool:
        if paths is not None and not any(p.match(chunk.source) for p in paths):
            return False
        if languages is not None and chunk.language not in languages:
            return False
        return kinds is None or chunk.kind in kinds

    return keep


def allowed_ids(store: ChunkStore, filters: dict[str, Any] | None) -> frozenset[str] | None:
    """The ids of the chunks in ``store`` that pass ``filters`` (``None``: no filtering)."""
    keep = compile_filters(filters)
    if keep is None:
        return None
    return frozenset(c.id for c in store if keep(c))
