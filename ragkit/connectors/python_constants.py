"""Module-level assignments of a Python file as named definitions (constants, config blocks).

Without these, ``DEFAULT_POOLSIZE = 10`` or a ``SETTINGS = {...}`` block would sit in an
unnamed ``kind="module"`` chunk mixed with the import list. Each top-level ``Assign`` /
``AnnAssign`` whose targets are plain names becomes a ``Definition`` (``kind="constant"`` when
every target is UPPER_CASE, else ``"variable"``; ``symbol`` = the target names joined by
``", "``), so it gets a chunk of its own with exact line provenance. Consecutive one-line
assignments stay separate chunks: each is found by its own name. ``__all__`` and other dunder
names (``__version__`` excepted) stay module code: they list names, they do not define them.

A ``#`` comment block right above an assignment (Sphinx's ``#:`` doc comments included) is part of
its chunk, and its text is the definition's ``metadata["docstring"]`` (with ``docstring_lines``),
as for a tree-sitter doc comment.
"""

from __future__ import annotations

import ast
from typing import Any

from ragkit.connectors.python_comments import leading_comment
from ragkit.connectors.symbols import Definition

__all__ = ["python_assignments"]

_KEEP_DUNDER = frozenset({"__version__"})


def _names(node: ast.stmt) -> list[str] | None:
    """The target names of an assignment statement, or ``None`` when it is not one to name."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign):
        targets = [node.target]
    else:
        return None
    names: list[str] = []
    for target in targets:
        elts = target.elts if isinstance(target, ast.Tuple) else [target]
        for elt in elts:
            if not isinstance(elt, ast.Name):
                return None  # obj.attr = … / d[k] = …: module code, not a definition
            names.append(elt.id)
    if not names or any(n.startswith("__") and n not in _KEEP_DUNDER for n in names):
        return None
    return names


def python_assignments(body: list[ast.stmt], lines: list[str]) -> list[Definition]:
    """Named definitions for the module-level assignments in ``body`` (a module's statements).

    Args:
        body: ``ast.Module.body``.
        lines: the file's lines, for the ``signature`` (the statement's first line).

    Returns:
        One ``Definition`` per assignment, in line order.
    """
    defs = []
    for node in body:
        names = _names(node)
        if names is None:
            continue
        kind = "constant" if all(n.upper() == n for n in names) else "variable"
        metadata: dict[str, Any] = {"signature": lines[node.lineno - 1].strip()}
        start = node.lineno
        comment = leading_comment(lines, start)
        if comment is not None:
            start = comment[0]
            metadata["docstring"] = comment[1]
            metadata["docstring_lines"] = [start, node.lineno - 1]
        defs.append(
            Definition(
                kind=kind,
                symbol=", ".join(dict.fromkeys(names)),
                start=start,
                end=node.end_lineno or node.lineno,
                metadata=metadata,
            )
        )
    return defs
