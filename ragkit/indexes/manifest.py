"""``manifest.json``: what an index directory holds and how it was built.

Keys: ``ragkit_version``, ``format`` (bumped on incompatible layout changes), ``created``,
``updated``, ``chunker`` (settings), ``counts``, and per-index sections that the index
modules add (``bm25``, ``dense`` with embedder id and dimension).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ragkit.version import __version__
from ragkit.indexes.atomic import atomic_write_text

__all__ = ["FORMAT", "MANIFEST", "IndexFormatError", "read_manifest", "write_manifest", "new_manifest", "read_index_config"]

FORMAT = 1
MANIFEST = "manifest.json"


class IndexFormatError(ValueError):
    """The directory is not a ragkit index, or one this version cannot read."""


def new_manifest() -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return {"ragkit_version": __version__, "format": FORMAT, "created": now, "updated": now}


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """Read and check ``manifest.json``.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        IndexFormatError: no manifest, or a format this ragkit cannot read.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"index directory {directory} does not exist; create it with `ragkit ingest PATH --out {directory}`"
        )
    path = directory / MANIFEST
    if not path.is_file():
        raise IndexFormatError(
            f"{directory} has no {MANIFEST}: it is not a ragkit index (build one with `ragkit ingest`)"
        )
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise IndexFormatError(
            f"{directory} was written by ragkit {manifest.get('ragkit_version')} in index format "
            f"{manifest.get('format')}; this ragkit {__version__} reads format {FORMAT}. "
            f"Rebuild it with `ragkit ingest` and `ragkit index`."
        )
    return manifest


def write_manifest(directory: str | Path, manifest: dict[str, Any]) -> None:
    manifest = dict(manifest)
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest["ragkit_version"] = __version__
    atomic_write_text(Path(directory) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))


def read_index_config(directory: Path, name: str, what: str, fmt: int, drop: tuple[str, ...]) -> dict[str, Any]:
    """The constructor parameters stored in one index's config file ``directory / name``.

    Args:
        directory: the index's directory.
        name: its config file (``ragkit_bm25.json``, ``ragkit_dense.json``).
        what: the index kind for messages (``"BM25"``, ``"dense"``).
        fmt: the format version this ragkit reads.
        drop: keys that are not constructor parameters.

    Raises:
        FileNotFoundError: ``directory`` holds no such index.
        ValueError: it was written in another format version.
    """
    if not (directory / name).is_file():
        raise FileNotFoundError(f"{directory} holds no {what} index; build one with `ragkit index`")
    config = json.loads((directory / name).read_text(encoding="utf-8"))
    if config.get("format") != fmt:
        raise ValueError(
            f"{what} index {directory} has format {config.get('format')}, this ragkit reads "
            f"{fmt}; rebuild it with `ragkit index --rebuild`"
        )
    return {k: v for k, v in config.items() if k not in ("format", *drop)}
