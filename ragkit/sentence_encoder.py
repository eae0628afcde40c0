"""A sentence-transformers bi-encoder run through plain transformers: Transformer → Pooling → Normalize.

``import sentence_transformers`` pulls in about 4,500 modules (sklearn, pandas, datasets, peft …)
and costs 7–18 s here, while encoding with MiniLM needs only the transformer, a pooling step and
an L2 normalisation. ``SentenceEncoder`` reads a sentence-transformers model directory
(``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json``,
``config_sentence_transformers.json``) and reproduces its embeddings with ``AutoModel``: same
whitespace stripping, lower-casing, truncation length, pooling, normalisation and prompts
(``tests/test_sentence_encoder.py`` checks equality with sentence-transformers within 1e-5 on
real texts). A directory with modules this class does not implement (``Dense``, custom modules)
is refused with an error that names them: load it with
``ragkit.models.load_sentence_transformer`` instead. A plain transformers directory (no
``modules.json``) gets sentence-transformers' own default: mean pooling, no normalisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ragkit.precision import autocast, check_precision

__all__ = ["SentenceEncoder", "POOLING_MODES", "read_st_config"]

POOLING_MODES = ("mean", "cls", "max")
# sentence-transformers module classes by name (their module path moved between versions:
# ``sentence_transformers.models.Pooling``, ``…sentence_transformer.modules.pooling.Pooling``)
_SUPPORTED = {"Transformer": "transformer", "Pooling": "pooling", "Normalize": "normalize"}


def _kind(module_type: str) -> str | None:
    if not module_type.startswith("sentence_transformers."):
        return None
    return _SUPPORTED.get(module_type.rsplit(".", 1)[-1])


_POOL_KEYS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max"}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_st_config(path: str | Path) -> dict[str, Any]:
    """What encoding with the sentence-transformers model in ``path`` involves.

    Args:
        path: a local model directory.

    Returns:
        ``{"pooling": "mean"|"cls"|"max", "normalize": bool, "max_seq_length": int|None,
        "do_lower_case": bool, "prompts": {name: text}}``.

    Raises:
        ValueError: the directory uses modules or pooling modes this encoder does not implement.
    """
    path = Path(path)
    modules = json.loads((path / "modules.json").read_text(encoding="utf-8")) if (path / "modules.json").is_file() else None
    pooling, normalize = "mean", False
    bert_cfg = _read_json(path / "sentence_bert_config.json")
    if modules is not None:
        unknown = [m.get("type") for m in modules if _kind(m.get("type", "")) is None]
        if unknown:
            raise ValueError(
                f"{path} uses the sentence-transformers module(s) {unknown}, which ragkit's "
                "transformers encoder does not implement; load it with "
                "ragkit.models.load_sentence_transformer (sentence-transformers) instead"
            )
        kinds = [_kind(m["type"]) for m in modules]
        for m, kind in zip(modules, kinds):
            if kind == "pooling":
                cfg = _read_json(path / m.get("path", "") / "config.json")
                chosen = [mode for key, mode in _POOL_KEYS.items() if cfg.get(key)]
                extra = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v and k not in _POOL_KEYS]
                if cfg.get("pooling_mode") in POOLING_MODES and not chosen:
                    chosen = [cfg["pooling_mode"]]
                if len(chosen) != 1 or extra or cfg.get("include_prompt") is False:
                    raise ValueError(
                        f"{path}: pooling {cfg} is not one of {', '.join(POOLING_MODES)} alone; load it "
                        "with ragkit.models.load_sentence_transformer instead"
                    )
                pooling = chosen[0]
        if kinds[:1] != ["transformer"] or "pooling" not in kinds:
            raise ValueError(f"{path}: modules {kinds} are not Transformer → Pooling (→ Normalize)")
        normalize = "normalize" in kinds
    if bert_cfg.get("transformer_task", "feature-extraction") != "feature-extraction":
        raise ValueError(f"{path}: transformer_task {bert_cfg['transformer_task']!r} is not feature extraction")
    st_cfg = _read_json(path / "config_sentence_transformers.json")
    # sentence-transformers >= 6 keeps the length in the tokenizer's model_max_length
    max_len = bert_cfg.get("max_seq_length") or _read_json(path / "tokenizer_config.json").get("model_max_length")
    return {
        "pooling": pooling,
        "normalize": normalize,
        "max_seq_length": int(max_len) if max_len and max_len < 1_000_000 else None,
        "do_lower_case": bool(bert_cfg.get("do_lower_case", False)),
        "prompts": dict(st_cfg.get("prompts") or {}),
    }


class SentenceEncoder:
    """Sentence embeddings from a local sentence-transformers directory, without sentence-transformers.

    Built by ``ragkit.models.load_embedder``; holds the loaded model (no process-wide cache).

    Args:
        path: local model directory (``ragkit.models.resolve`` output).
        device: torch device string (``"cpu"``, ``"cuda"``).
        precision: ``"auto"``, ``"fp32"`` or ``"bf16"`` (``ragkit.precision``; autocast).

    Raises:
        ValueError: modules this encoder does not implement, or an unknown precision.
    """

    def __init__(self, path: str | Path, device: str = "cpu", precision: str = "fp32"):
        from transformers import AutoModel, AutoTokenizer

        self.path = str(path)
        self.device = device
        self.precision = check_precision(precision)
        cfg = read_st_config(path)
        self.pooling: str = cfg["pooling"]
        self.normalize: bool = cfg["normalize"]
        self.do_lower_case: bool = cfg["do_lower_case"]
        self.prompts: dict[str, str] = cfg["prompts"]
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path).to(device).eval()
        limits = [n for n in (cfg["max_seq_length"], getattr(self.model.config, "max_position_embeddings", None)) if n]
        self.max_seq_length: int = int(min(limits)) if limits else 512

    @property
    def dimension(self) -> int:
        """Size of one embedding (the transformer's hidden size)."""
        return int(self.model.config.hidden_size)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        normalize_embeddings: bool | None = None,
        prompt_name: str | None = None,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """Embed ``texts``; shape ``(len(texts), dimension)``, float32.

        Args:
            texts: the texts (stripped of surrounding whitespace, as sentence-transformers does).
            batch_size: texts per forward pass (texts are sorted by length first).
            normalize_embeddings: L2-normalise; ``None`` follows the model (its Normalize module).
            prompt_name: prepend the model's prompt of this name (``"query"``, ``"document"``)
                when it defines one; an unknown name adds nothing.
            show_progress_bar: show a tqdm bar over batches.

        Returns:
            The embeddings, in input order.
        """
        import torch

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
            enc = self.tokenizer(
                [cleaned[i] for i in idx], padding=True, truncation="longest_first",
                max_length=self.max_seq_length, return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode(), autocast(self.precision, torch.device(self.device).type):
                tokens = self.model(**enc).last_hidden_state
            vectors = self._pool(tokens.float(), enc["attention_mask"])
            if normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
            out[idx] = vectors.cpu().numpy()
        return out

    def _pool(self, tokens: Any, mask: Any) -> Any:
        import torch

        if self.pooling == "cls":
            return tokens[:, 0]
        m = mask.unsqueeze(-1).to(tokens.dtype)
        if self.pooling == "max":
            return torch.where(m > 0, tokens, torch.finfo(tokens.dtype).min).max(dim=1).values
        return (tokens * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
