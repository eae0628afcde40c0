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

__all__ = ["STAGES", "load_spec", "save_spec", "validate_spec", "parse_component", "overlay"]

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


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_component(kind: str, text: str) -> dict[str, Any]:
    """A registry config from a command-line string: the one parser of every ``--NAME`` component option.

    Forms (``NAME`` a registered component of ``kind``)::

        NAME                         {"type": NAME}
        NAME:key=value,key=value     {"type": NAME, "key": value, ...}   (values read as YAML scalars)
        NAME:ARG                     {"type": NAME, <cli_arg>: ARG}       (the component's main argument)
        NAME:ARG,key=value           both
        {"type": ..., ...}           the JSON config itself

    For ``kind="llm"`` a string that names no backend is a model for the default backend
    (``smollm2-135m`` -> ``{"type": "transformers", "model": "smollm2-135m"}``), and an ``llm``
    argument given as ``NAME:MODEL`` (``hyde:smollm2-135m``) becomes that LLM config.

    Args:
        kind: a registry kind (``"rewriter"``, ``"reranker"``, ``"retriever"``, ``"llm"`` ...).
        text: the option's value.

    Returns:
        A config ready for ``ragkit.registry.build``.

    Raises:
        KeyError: no component of that name (the message lists the choices).
        ValueError: invalid JSON, an ``ARG`` for a component that takes none, or an empty key.
    """
    from ragkit.defaults import default_llm
    from ragkit.registry import available, get

    text = text.strip()
    if text.startswith("{"):
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{kind} config {text!r} is not valid JSON: {exc}") from None
        if not isinstance(config, dict) or "type" not in config:
            raise ValueError(f"a {kind} config in JSON needs a 'type' key, got {text!r}")
        return config
    name, sep, arg = text.partition(":")
    if kind == "llm" and name not in available("llm"):
        return default_llm(text)
    cls = get(kind, name)
    config: dict[str, Any] = {"type": name}
    if not sep:
        return config
    target = getattr(cls, "cli_arg", None)
    if "=" in arg:
        pairs = arg.split(",")
        if "=" not in pairs[0] and target is not None:  # NAME:ARG,key=value
            config[target] = parse_component("llm", pairs[0]) if target == "llm" else pairs[0]
            pairs = pairs[1:]
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not key.strip() or not eq:
                raise ValueError(f"{kind} {text!r}: write key=value pairs separated by commas")
            config[key.strip()] = _scalar(value.strip())
        return config
    if target is None:
        raise ValueError(f"{kind} {name!r} takes no positional argument; give settings as {name}:key=value,...")
    config[target] = parse_component("llm", arg) if target == "llm" else arg
    return config


def overlay(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, recursively for mappings; a ``None`` change removes the key.

    A stage given as a name in either side is a ``{"type": name}`` table, so
    ``overlay({"retriever": "hybrid"}, {"retriever": {"fusion": "weighted"}})`` keeps the type.
    A change of ``type`` replaces the whole table (other settings belong to the old component).
    """
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
            continue
        current = out.get(key)
        if isinstance(current, str) and isinstance(value, dict) and key in STAGES:
            current = {"type": current}
        if isinstance(current, dict) and isinstance(value, dict):
            if "type" in value and value["type"] != current.get("type"):
                out[key] = dict(value)
            else:
                out[key] = overlay(current, value)
        else:
            out[key] = value
    return out
