"""Which optional extra of ragkit installs a module that a command imports lazily.

The core install (``pip install ragkit``) runs ingest, index, inspect, search, ask, chat and
serve. Commands beyond that import their libraries inside the function that needs them; when
one is missing, the CLI turns the ``ModuleNotFoundError`` into one line naming the extra::

    >>> from ragkit.extras import missing_extra_message
    >>> missing_extra_message(ModuleNotFoundError("No module named 'ragas'", name="ragas"))
    "this needs ragas, from ragkit's 'eval' extra: pip install 'ragkit[eval]'"
    >>> missing_extra_message(ModuleNotFoundError("No module named 'nope'", name="nope")) is None
    True

Commands that need an extra call ``require(extra)`` first, so a missing library is reported before
any work starts rather than after minutes of tuning::

    >>> from ragkit.extras import require
    >>> require("tune") is None  # the full install has every extra
    True

``EXTRA_OF`` and ``NEEDS`` must agree with ``[project.optional-dependencies]`` in pyproject.toml
(a test checks it).
"""

from __future__ import annotations

import importlib.util
from types import MappingProxyType
from typing import Mapping

__all__ = ["EXTRA_OF", "NEEDS", "missing_extra_message", "require"]

# top-level import name -> the extra that installs it (read-only: behaviour never depends on edits at run time)
EXTRA_OF: Mapping[str, str] = MappingProxyType({
    "datasets": "tune",
    "trl": "tune",
    "pytrec_eval": "eval",
    "ragas": "eval",
    "instructor": "eval",
    "langchain_community": "eval",
    "matplotlib": "compare",
    "llama_index": "llama-index",
    "rank_bm25": "bench",
    "bm25s": "bench",
    "numba": "fast",
    "pymilvus": "milvus",
    "milvus_lite": "milvus",
    "ray": "ray",
    "llama_cpp": "llama",
})


# extra -> the modules its commands import (an extra that includes others lists theirs too)
_EVAL = ("pytrec_eval", "ragas", "instructor", "langchain_community")
NEEDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "tune": ("datasets", "pytrec_eval", "trl"),
    "eval": _EVAL,
    "compare": ("datasets", "trl", *_EVAL, "matplotlib"),
    "llama-index": ("llama_index",),
})


def require(extra: str) -> None:
    """Raise ``ModuleNotFoundError`` naming ``extra`` when one of the modules it installs is missing.

    Raises:
        ModuleNotFoundError: e.g. "this command needs ragkit's 'tune' extra (datasets is missing):
            pip install 'ragkit[tune]'".
        KeyError: an extra that ``NEEDS`` does not know.
    """
    for module in NEEDS[extra]:
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"this command needs ragkit's '{extra}' extra ({module} is missing): "
                                      f"pip install 'ragkit[{extra}]'", name=module)


def missing_extra_message(exc: ModuleNotFoundError) -> str | None:
    """One line naming the extra that provides the missing module, or None when no extra does.

    A message that already says how to install (``pip install …``) is kept as it is.
    """
    if "pip install" in str(exc):
        return str(exc)
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return f"this needs {top}, from ragkit's '{extra}' extra: pip install 'ragkit[{extra}]'"
