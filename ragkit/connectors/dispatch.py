"""Pick and build the connector for a file by its extension, across all registered connectors.

``.pdf`` -> ``"pdf"``; ``.txt .md .markdown .rst`` -> ``"text"``; ``.py .pyi`` -> ``"python"``;
JavaScript, TypeScript, Java, Go, Rust, C, C++ -> ``"tree-sitter"``; anything else -> ``"lines"``
(see ``ragkit.connectors.languages.connector_name``). Connectors are built through the
registry, so each connector module is imported only when a file needs it.

Example:
    >>> connector_for("src/lib.rs", {"max_tokens": 128}).to_config()["type"]
    'tree-sitter'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragkit.connectors.base import Connector
from ragkit.connectors.languages import connector_name, language_of
from ragkit.registry import build

__all__ = ["connector_for", "connector_name", "language_of"]


def connector_for(
    path: str | Path,
    chunker: dict[str, Any] | None = None,
    cache: dict[str, Connector] | None = None,
) -> Connector:
    """The connector for ``path``, built with the chunker settings every connector takes.

    Args:
        path: the file to be parsed.
        chunker: constructor arguments for the connector (``max_tokens``, ``overlap_tokens``,
            ``tokenizer``); defaults when ``None``.
        cache: a dict reused across calls (connector name -> instance) so a walk over many
            files builds each connector once; use one cache per ``chunker`` setting.

    Returns:
        A ``Connector`` instance.

    Raises:
        KeyError: the chosen connector is not registered (its module is missing).
        TypeError: ``chunker`` has an argument the connector does not take.
    """
    name = connector_name(path)
    if cache is not None and name in cache:
        return cache[name]
    connector = build("connector", {"type": name, **(chunker or {})})
    if cache is not None:
        cache[name] = connector
    return connector
