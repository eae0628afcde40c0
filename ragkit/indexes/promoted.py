"""The models an index serves with: a small registry under ``INDEX/models/``.

A tuned model is first written completely into its own generation directory
``models/<kind>/<generation>/``; only then does the pointer ``models/<kind>.json`` move to it,
with one atomic ``os.replace``. A reader (``ragkit serve``, ``ragkit search``) therefore sees
the previous model or the new one, never half of one. Every decision, promoted or not, is
appended to ``models/<kind>-history.jsonl`` with its reason and held-out figures.

The pointer::

    {"kind": "reranker", "generation": "g20261203T061500-1a2b3c4d",
     "spec": {"type": "bi-encoder", "model": "models/reranker/g…", "first_stage_weight": 0.3},
     "promoted_at": "2026-12-03T06:15:00+00:00", "metrics": {...}}
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ragkit.indexes.atomic import atomic_write_text

__all__ = ["MODELS_DIR", "KINDS", "pointer_path", "read_promoted", "install_model", "write_promoted", "log_decision"]

MODELS_DIR = "models"
KINDS = ("reranker", "retriever", "generator")


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    return kind


def pointer_path(index: str | Path, kind: str) -> Path:
    """Where the pointer of ``kind`` lives (it may not exist)."""
    return Path(index) / MODELS_DIR / f"{_check_kind(kind)}.json"


def read_promoted(index: str | Path, kind: str) -> dict[str, Any] | None:
    """The promoted model of ``kind`` (the pointer's content), or ``None`` if none was promoted.

    Raises:
        ValueError: the pointer is not valid JSON or names a missing model directory.
    """
    path = pointer_path(index, kind)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); delete it to serve without a promoted {kind}") from exc
    model = record.get("spec", {}).get("model")
    if model and not Path(model).is_absolute():  # stored relative: the index may move or change generation
        model = record["spec"]["model"] = str(Path(index) / model)
    if model and not Path(model).exists():
        raise ValueError(f"{path} points at {model}, which does not exist; delete the pointer or promote again")
    return record


def install_model(index: str | Path, kind: str, trained: str | Path) -> Path:
    """Move a fully written model directory into the registry as a new generation.

    Args:
        index: the index directory.
        kind: ``"reranker"``, ``"retriever"`` or ``"generator"``.
        trained: the model directory (on the same file system: it is renamed, not copied,
            when possible).

    Returns:
        The generation directory now holding the model.
    """
    trained = Path(trained)
    if not trained.is_dir():
        raise FileNotFoundError(f"no model directory at {trained}")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    tag = hashlib.blake2b(f"{trained.resolve()}{time.time_ns()}".encode(), digest_size=4).hexdigest()
    target = Path(index) / MODELS_DIR / _check_kind(kind) / f"g{stamp}-{tag}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(trained, target)
    except OSError:  # another file system: copy beside, then rename into place
        staging = target.with_name(f".{target.name}.tmp")
        shutil.copytree(trained, staging)
        os.rename(staging, target)
    return target


def write_promoted(index: str | Path, kind: str, generation: Path, spec: dict[str, Any],
                   metrics: dict[str, Any]) -> dict[str, Any]:
    """Point ``kind`` at ``generation`` (atomically) and return the new pointer record.

    A ``spec["model"]`` inside the index directory is stored relative to it, so the pointer
    survives the index moving or switching generation (``ragkit.indexes.generations``).
    """
    model = spec.get("model")
    if model:
        try:
            spec = {**spec, "model": str(Path(model).relative_to(Path(index)))}
        except ValueError:
            pass  # a model outside the index stays absolute
    record = {
        "kind": kind,
        "generation": Path(generation).name,
        "spec": spec,
        "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metrics": metrics,
    }
    atomic_write_text(pointer_path(index, kind), json.dumps(record, indent=1, sort_keys=True))
    return record


def log_decision(index: str | Path, kind: str, decision: dict[str, Any]) -> None:
    """Append one promotion decision (promoted or kept, with its reason) to the kind's history."""
    path = Path(index) / MODELS_DIR / f"{_check_kind(kind)}-history.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **decision}, sort_keys=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
