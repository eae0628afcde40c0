"""ragkit: retrieval-augmented generation where every stage can be tuned and measured.

The Python API (``docs/api.md``) is re-exported here from ``ragkit.api``, lazily, so that
``import ragkit`` stays fast and imports no model library:

    >>> import ragkit
    >>> sorted(ragkit.__all__)[:4]
    ['DEMO_CORPUS', 'Index', 'Pipeline', '__version__']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragkit.version import __version__

__all__ = [
    "__version__",
    "ingest_files",
    "Index",
    "Pipeline",
    "default_retriever",
    "tune_retriever",
    "tune_reranker",
    "tune_generator",
    "tune_prf",
    "evaluate",
    "compare",
    "DEMO_CORPUS",
]

if TYPE_CHECKING:
    from ragkit.api import (
        DEMO_CORPUS,
        Index,
        Pipeline,
        compare,
        default_retriever,
        evaluate,
        ingest_files,
        tune_generator,
        tune_prf,
        tune_reranker,
        tune_retriever,
    )


def __getattr__(name: str) -> Any:
    """Re-export ``ragkit.api``'s names on first access (PEP 562)."""
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("ragkit.api"), name)
    raise AttributeError(f"module 'ragkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
