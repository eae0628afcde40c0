"""The ``#`` comment block that documents a Python definition or assignment.

Python has docstrings for functions and classes only; constants, and often functions too, are
documented by a comment right above them (Sphinx reads ``#:`` comments as attribute docs). The
code connector makes such a block part of the definition's chunk.
"""

from __future__ import annotations

import re

__all__ = ["leading_comment"]

_CODING = re.compile(r"^#.*coding[:=]\s*[-\w.]+")  # PEP 263
_DIVIDER = re.compile(r"([-=#*~_+])\1{3}")


def leading_comment(lines: list[str], start: int) -> tuple[int, str] | None:
    """The ``#`` comment block right above line ``start`` (1-based), as (first line, cleaned text).

    The block is the run of comment-only lines directly above (no blank line) at the same
    indentation as line ``start``. It stops at a section divider (``# -- code ------``, ``####``:
    a comment with a run of four of one punctuation mark), which heads a group of definitions
    rather than documents one; a shebang or PEP 263 coding line is never part of one.

    >>> leading_comment(["X = 1", "# How long to wait, in seconds", "TIMEOUT = 30"], 3)
    (2, 'How long to wait, in seconds')
    >>> leading_comment(["# -- parsing ------", "def parse(s):", "    return s"], 2) is None
    True
    """
    indent = _indent(lines[start - 1])
    first = start
    while first > 1:
        above = lines[first - 2]
        text = above.strip()
        if not text.startswith("#") or _indent(above) != indent:
            break
        if _DIVIDER.search(text) or (first - 1 <= 2 and (text.startswith("#!") or _CODING.match(text))):
            break
        first -= 1
    if first == start:
        return None
    return first, "\n".join(_words(ln) for ln in lines[first - 1 : start - 1]).strip()


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _words(line: str) -> str:
    """A comment line without its ``#`` (or Sphinx ``#:``) marker."""
    body = line.strip()[1:]
    return (body[1:] if body.startswith(":") else body).strip()
