"""Pipeline specs: nested per-stage YAML or TOML files that round-trip without side effects.

A spec names one component per stage; each stage is a registry config
(``{"type": name, **init_args}``) or absent::

    index: runs/demo-index
    rewriter: {type: rm3, fb_docs: 10, fb_terms: 10}
    retriever: {type: hybrid, fusion: rrf}
    reranker: {type: cross-encoder, model: models/my-reranker}
    generator: {type: llm, llm: {type: transformers, model: smollm2-135m}}

Loading only parses and checks names; it builds nothing. Unknown top-level keys are errors
(a typo never silently becomes ``None``).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml

__all__ = ["STAGES", "load_spec", "save_spec", "validate_spec"]

# stage -> registry kind used to build it (None: a plain value, not a component)
STAGES: dict[str, str | None] = {
    "index": None,
    "rewriter": "rewriter",
    "retriever": "retriever",
    "reranker": "reranker",
    "generator": "generator",
    "k": None,
    "rerank_k": None,
}


def validate_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Check a spec's shape (known stages, ``type`` in every component); return it unchanged.

    Raises:
        ValueError: unknown stage or a component config without ``type``.
    """
    unknown = set(spec) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown pipeline stage(s) {sorted(unknown)}; stages are {list(STAGES)}")
    for stage, kind in STAGES.items():
        value = spec.get(stage)
        if kind is None or value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str):
                continue
            if not isinstance(item, dict) or "type" not in item:
                raise ValueError(
                    f"stage {stage!r} needs a name or a table with a 'type' key, got {item!r}"
                )
    return spec


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``), TOML (``.toml``) or JSON spec file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pipeline spec {path} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        spec = yaml.safe_load(text) or {}
    elif suffix == ".toml":
        spec = tomllib.loads(text)
    elif suffix == ".json":
        spec = json.loads(text)
    else:
        raise ValueError(f"pipeline spec {path}: use a .yaml, .toml or .json file")
    if not isinstance(spec, dict):
        raise ValueError(f"pipeline spec {path} must be a mapping of stage -> config")
    return validate_spec(spec)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def save_spec(spec: dict[str, Any], path: str | Path) -> Path:
    """Write a spec as YAML, TOML or JSON (by suffix). TOML has no null: ``None`` values are dropped."""
    path = Path(path)
    validate_spec(spec)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(spec, sort_keys=False)
    elif suffix == ".toml":
        import tomli_w

        text = tomli_w.dumps(_drop_none(spec))
    elif suffix == ".json":
        text = json.dumps(spec, indent=2)
    else:
        raise ValueError(f"pipeline spec {path}: use a .yaml, .toml or .json file")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
