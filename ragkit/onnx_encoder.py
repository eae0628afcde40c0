"""Sentence embeddings through ONNX Runtime and ``tokenizers``: no torch, no transformers at query time.

A dense or hybrid search has to embed one short query. Importing torch + transformers costs
several seconds here (about 4–8 s on this loaded 2-core machine), ONNX Runtime + tokenizers
about 0.3 s. ``OnnxSentenceEncoder`` runs the same sentence-transformers directory as
``ragkit.sentence_encoder.SentenceEncoder`` — Transformer → Pooling → Normalize, read by
``read_st_config`` — from an ONNX export of its transformer, made once with torch and cached
under ``ragkit.models.cache_dir()/onnx`` (written atomically; keyed by the model directory and
its weight files' sizes and times). Embeddings equal sentence-transformers' within 1e-5
(``tests/test_onnx_encoder.py``). fp32 only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ragkit.sentence_encoder import read_st_config

__all__ = ["OnnxSentenceEncoder", "export_onnx"]

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _cache_key(path: Path) -> str:
    h = hashlib.sha1(str(path.resolve()).encode())
    for f in sorted(path.glob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".json"):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def export_onnx(path: str | Path, cache: str | Path | None = None) -> Path:
    """The ONNX export of the transformer in ``path`` (made once, then read from the cache).

    Args:
        path: a local model directory.
        cache: the directory exports are kept in (``ragkit.models`` passes ``cache_dir()/onnx``;
            default: ``~/.cache/ragkit/onnx``).

    Returns:
        Path of ``model.onnx``; inputs ``input_ids``, ``attention_mask`` (and ``token_type_ids``
        where the model takes them), output ``last_hidden_state``; batch and length dynamic.

    Raises:
        ImportError: the ``onnx`` package (needed to export) is not installed.
    """
    path = Path(path)
    root = Path(cache) if cache is not None else Path.home() / ".cache" / "ragkit" / "onnx"
    target = root / f"{path.name}-{_cache_key(path)}"
    if (target / "model.onnx").is_file():
        return target / "model.onnx"
    try:
        import onnx  # noqa: F401 - torch's exporter needs it
    except ImportError as exc:
        raise ImportError("exporting the embedder to ONNX needs the onnx package: `pip install onnx`") from exc
    import inspect

    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()
    names = [n for n in _INPUTS if n in inspect.signature(model.forward).parameters]

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, args))).last_hidden_state

    ids = torch.tensor([[1, 2, 3, 4], [1, 2, 0, 0]])
    example = {"input_ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": torch.zeros_like(ids)}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        torch.onnx.export(
            LastHidden(model), tuple(example[n] for n in names), str(tmp / "model.onnx"),
            input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17, dynamo=False,
        )
        (tmp / "source.json").write_text(json.dumps({"model": str(path.resolve()), "inputs": names}))
        try:
            tmp.rename(target)
        except OSError:  # another process exported it first: keep theirs
            if not (target / "model.onnx").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / "model.onnx"


def _model_config(path: Path) -> dict:
    """The transformers ``config.json`` of ``path``; for a LoRA adapter dir (``adapter_config.json``), its base's."""
    if not (path / "config.json").is_file() and (path / "adapter_config.json").is_file():
        adapter = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        path = Path(adapter["base_model_name_or_path"])
    return json.loads((path / "config.json").read_text(encoding="utf-8"))


class OnnxSentenceEncoder:
    """``SentenceEncoder``'s interface (``encode``, ``dimension``) on ONNX Runtime, CPU, fp32.

    Args:
        path: local sentence-transformers (or plain transformers) directory with a
            ``tokenizer.json``.
        threads: ONNX Runtime intra-op threads; ``None`` lets it choose.

    Raises:
        ValueError: no ``tokenizer.json``, or modules ``read_st_config`` refuses.
        ImportError: the first export needs the onnx package.
    """

    def __init__(self, path: str | Path, threads: int | None = None, cache: str | Path | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = str(path)
        cfg = read_st_config(path)
        tok_file = Path(path) / "tokenizer.json"
        if not tok_file.is_file():
            raise ValueError(f"{path} has no tokenizer.json (a fast tokenizer); use the torch backend for it")
        self.pooling: str = cfg["pooling"]
        self.normalize: bool = cfg["normalize"]
        self.do_lower_case: bool = cfg["do_lower_case"]
        self.prompts: dict[str, str] = cfg["prompts"]
        model_cfg = _model_config(Path(path))
        self.dimension = int(model_cfg["hidden_size"])
        limits = [n for n in (cfg["max_seq_length"], model_cfg.get("max_position_embeddings")) if n]
        self.max_seq_length = int(min(limits)) if limits else 512
        self.tokenizer = Tokenizer.from_file(str(tok_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_seq_length)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        onnx_path = export_onnx(path, cache)
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self.session.get_inputs()]
        pad = model_cfg.get("pad_token_id")
        self._pad_id = int(pad) if pad is not None else 0

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        normalize_embeddings: bool | None = None,
        prompt_name: str | None = None,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """Embed ``texts`` exactly as ``SentenceEncoder.encode`` does; shape ``(n, dimension)``, float32."""
        prefix = self.prompts.get(prompt_name, "") if prompt_name else ""
        cleaned = [prefix + str(t).strip() for t in texts]
        if self.do_lower_case:
            cleaned = [t.lower() for t in cleaned]
        out = np.zeros((len(cleaned), self.dimension), dtype=np.float32)
        order = sorted(range(len(cleaned)), key=lambda i: -len(cleaned[i]))
        starts = range(0, len(order), batch_size)
        if show_progress_bar:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        normalize = self.normalize if normalize_embeddings is None else normalize_embeddings
        for start in starts:
            idx = order[start : start + batch_size]
            encs = self.tokenizer.encode_batch([cleaned[i] for i in idx])
            width = max(len(e.ids) for e in encs)
            feeds = {
                "input_ids": np.full((len(encs), width), self._pad_id, dtype=np.int64),
                "attention_mask": np.zeros((len(encs), width), dtype=np.int64),
                "token_type_ids": np.zeros((len(encs), width), dtype=np.int64),
            }
            for b, e in enumerate(encs):
                n = len(e.ids)
                feeds["input_ids"][b, :n] = e.ids
                feeds["attention_mask"][b, :n] = 1
                feeds["token_type_ids"][b, :n] = e.type_ids
            (tokens,) = self.session.run(["last_hidden_state"], {k: feeds[k] for k in self._inputs})
            vectors = _pool(tokens.astype(np.float32), feeds["attention_mask"], self.pooling)
            if normalize:
                vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            out[idx] = vectors
        return out


def _pool(tokens: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return tokens[:, 0]
    m = mask[:, :, None].astype(np.float32)
    if mode == "max":
        return np.where(m > 0, tokens, np.finfo(np.float32).min).max(axis=1)
    return (tokens * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
