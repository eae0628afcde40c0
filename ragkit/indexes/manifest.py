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

__all__ = [
    "FORMAT",
    "MANIFEST",
    "IndexFormatError",
    "read_json",
    "read_manifest",
    "write_manifest",
    "new_manifest",
    "read_index_config",
]

FORMAT = 1
MANIFEST = "manifest.json"


class IndexFormatError(ValueError):
    """The directory is not a ragkit index, or one this version cannot read."""


def new_manifest() -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return {"ragkit_version": __version__, "format": FORMAT, "created": now, "updated": now}


def read_json(path: Path, what: str) -> Any:
    """Parse one JSON file of an index directory, naming the file when it is damaged.

    Args:
        path: the file.
        what: the index it belongs to, for the message (``"index runs/idx"``).

    Raises:
        IndexFormatError: the file is not valid JSON (truncated, overwritten, not ragkit's).
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(
            f"{path} is damaged (not valid JSON: {exc}); {what} cannot be read. Rebuild it with "
            f"`ragkit ingest PATH --out DIR` and `ragkit index DIR`, or restore the file"
        ) from None


def read_manifest(directory: str | Path, name: str | Path | None = None) -> dict[str, Any]:
    """Read and check ``manifest.json``.

    Args:
        directory: the directory holding it (an index generation, or a pre-generation index).
        name: the index path to name in messages (the path users pass); ``directory`` by default.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        IndexFormatError: no manifest, a damaged one, or a format this ragkit cannot read.
    """
    directory = Path(directory)
    name = directory if name is None else name
    if not directory.is_dir():
        raise FileNotFoundError(
            f"index directory {name} does not exist; create it with `ragkit ingest PATH --out {name}`"
        )
    path = directory / MANIFEST
    if not path.is_file():
        raise IndexFormatError(
            f"{name} has no {MANIFEST}: it is not a ragkit index (build one with `ragkit ingest`)"
        )
    manifest = read_json(path, f"index {name}")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        version = manifest.get("ragkit_version") if isinstance(manifest, dict) else None
        raise IndexFormatError(
            f"{name} was written by ragkit {version} in index format "
            f"{found}; this ragkit {__version__} reads format {FORMAT}. "
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
    config = read_json(directory / name, f"the {what} index in {directory}")
    if config.get("format") != fmt:
        raise ValueError(
            f"{what} index {directory} has format {config.get('format')}, this ragkit reads "
            f"{fmt}; rebuild it with `ragkit index --rebuild`"
        )
    return {k: v for k, v in config.items() if k not in ("format", *drop)}
