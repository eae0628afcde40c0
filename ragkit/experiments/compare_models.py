"""The tuned models of ``ragkit compare``: train them (or reuse given / earlier ones), with their costs.

Each tuning is set in the config as training settings (the tuner's constructor arguments), as
``{"model": DIR}`` to reuse a model trained elsewhere, or (generator only) ``{"llm": CONFIG}`` to
use any ragkit LLM as the "tuned" one. A model trained by an earlier run into the same output
directory is reused when its ``ragkit-tuning.json`` has the same training-data hash and
hyper-parameters, so re-running a comparison does not retrain.

- generator: LoRA SFT of the base LLM (``ragkit.tuning.generator.GeneratorTuner``; RAG-mode
  distractors are drawn from the whole corpus);
- retriever: fine-tuned embedder (``ragkit.tuning.retriever.RetrieverTuner``) and a copy of
  the index re-embedded with it (``<out>/index-tuned-retriever``);
- reranker: a cross-encoder trained on BM25 hard negatives
  (``ragkit.tuning.negatives.mine_hard_negatives`` + ``ragkit.tuning.reranker.RerankerTuner``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ragkit.defaults import DEFAULT_LLM_MODEL
from ragkit.eval.costs import measure
from ragkit.experiments.compare_config import CompareConfig
from ragkit.indexes.atomic import atomic_write_text
from ragkit.tuning.data import QAPair, data_hash

__all__ = ["Tuned", "prepare_tuning"]

_COST_FILE = "compare-cost.json"


@dataclass
class Tuned:
    """A tuned model ready for the systems that use it.

    Attributes:
        kind: ``generator``, ``retriever`` or ``reranker``.
        model: the model directory (``None`` for a generator given as an LLM config).
        llm: generator only: the LLM config of the tuned model.
        index: retriever only: the index re-embedded with the tuned embedder.
        source: ``trained`` (this run), ``cached`` (an earlier run's identical training) or
            ``given`` (from the config).
        record: the model's ``ragkit-tuning.json`` (empty when there is none).
        cost: training cost (``seconds``, ``peak_rss_mb`` …; retriever: plus ``index_seconds``).
    """

    kind: str
    model: str | None = None
    llm: dict[str, Any] | None = None
    index: str | None = None
    source: str = "trained"
    record: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)

    @property
    def train_seconds(self) -> float:
        """Seconds this tuning took to train (plus re-indexing, for the retriever)."""
        return float(self.cost.get("seconds") or 0.0) + float(self.cost.get("index_seconds") or 0.0)

    def to_dict(self) -> dict[str, Any]:
        record = {k: v for k, v in self.record.items() if k not in ("hyper_parameters",)}
        return {"kind": self.kind, "model": self.model, "llm": self.llm, "index": self.index, "source": self.source,
                "record": record, "hyper_parameters": self.record.get("hyper_parameters"), "cost": self.cost,
                "train_seconds": round(self.train_seconds, 2)}


def _record(model_dir: Path) -> dict[str, Any]:
    from ragkit.tuning.run import TUNING_FILE

    path = model_dir / TUNING_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _cached(model_dir: Path, tuner: Any, pairs: list[QAPair]) -> dict[str, Any] | None:
    """The earlier run's record if ``model_dir`` holds this exact training, else ``None``."""
    record = _record(model_dir)
    if not record or not (model_dir / _COST_FILE).is_file():
        return None
    same = record.get("data_hash") == data_hash(pairs) and record.get("hyper_parameters") == tuner.to_config()
    return record if same else None


def _train(kind: str, tuner: Any, pairs: list[QAPair], out_dir: Path, fit: Callable[[], Any],
           log: Callable[[str], None]) -> Tuned:
    cached = _cached(out_dir, tuner, pairs)
    if cached is not None:
        log(f"{kind}: reusing the identical training in {out_dir}")
        cost = json.loads((out_dir / _COST_FILE).read_text(encoding="utf-8"))
        return Tuned(kind, model=str(out_dir), source="cached", record=cached, cost=cost)
    log(f"{kind}: training on {len(pairs)} pairs -> {out_dir}")
    with measure() as cost:
        result = fit()
    tuned = Tuned(kind, model=str(out_dir), source="trained", record=result.record, cost=cost.to_dict())
    atomic_write_text(out_dir / _COST_FILE, json.dumps(tuned.cost, indent=2))
    return tuned


def _settings(cfg: CompareConfig, settings: dict[str, Any]) -> dict[str, Any]:
    return {"seed": cfg.seed, **settings}


def tune_generator(cfg: CompareConfig, train: list[QAPair], store: Any, out: Path, log: Callable[[str], None]) -> Tuned:
    """The tuned generator: LoRA-trained from ``cfg.llm``, or given as ``model`` / ``llm``.

    Raises:
        ValueError: training asked for with a base LLM that is not a local transformers model.
    """
    settings = dict(cfg.tuning["generator"] or {})
    if "llm" in settings:
        return Tuned("generator", llm=dict(settings["llm"]), source="given")
    if "model" in settings:
        model = str(cfg.path(settings["model"]))
        return Tuned("generator", model=model, llm={**cfg.llm, "model": model}, source="given", record=_record(Path(model)))
    if cfg.llm.get("type", "transformers") != "transformers":
        raise ValueError(
            f"LoRA training needs a local transformers base model, but llm is {cfg.llm!r}; set llm.type to "
            "'transformers', or give tuning.generator.model (an adapter dir) or tuning.generator.llm"
        )
    from ragkit.tuning.generator import GeneratorTuner

    tuner = GeneratorTuner(base=cfg.llm.get("model", DEFAULT_LLM_MODEL), **_settings(cfg, settings))
    out_dir = out / "models" / "generator"
    pool = [c.text for c in store]
    tuned = _train("generator", tuner, train, out_dir, lambda: tuner.fit(train, out_dir, pool=pool), log)
    tuned.llm = {**cfg.llm, "model": str(out_dir)}
    return tuned


def tune_retriever(cfg: CompareConfig, train: list[QAPair], store: Any, out: Path, log: Callable[[str], None]) -> Tuned:
    """The tuned embedder (trained or given) and the index re-embedded with it."""
    from ragkit.indexes.index import Index

    settings = dict(cfg.tuning["retriever"] or {})
    if "model" in settings:
        model = str(cfg.path(settings["model"]))
        tuned = Tuned("retriever", model=model, source="given", record=_record(Path(model)))
    else:
        from ragkit.tuning.retriever import RetrieverTuner

        tuner = RetrieverTuner(base=cfg.embedder, **_settings(cfg, settings))
        out_dir = out / "models" / "retriever"
        tuned = _train("retriever", tuner, train, out_dir, lambda: tuner.fit(train, out_dir), log)
    index_dir = out / "index-tuned-retriever"
    log(f"retriever: embedding the corpus with the tuned model -> {index_dir}")
    with measure() as cost:
        Index.create(index_dir, list(store), embedder=tuned.model, rebuild=tuned.source == "trained", show_progress=False)
    tuned.index = str(index_dir)
    tuned.cost = {**tuned.cost, "index_seconds": round(cost.seconds, 3)}
    return tuned


def tune_reranker(cfg: CompareConfig, train: list[QAPair], store: Any, out: Path, log: Callable[[str], None]) -> Tuned:
    """The cross-encoder reranker: trained on BM25 hard negatives from the corpus, or given."""
    settings = dict(cfg.tuning["reranker"] or {})
    if "model" in settings:
        model = str(cfg.path(settings["model"]))
        return Tuned("reranker", model=model, source="given", record=_record(Path(model)))
    from ragkit.tuning.negatives import mine_hard_negatives
    from ragkit.tuning.reranker import RerankerTuner

    tuner = RerankerTuner(base=cfg.embedder, **_settings(cfg, settings))
    mined = mine_hard_negatives(train, store, n=tuner.negatives, method="bm25")
    mined = [p for p in mined if p.positive and p.negatives]
    out_dir = out / "models" / "reranker"
    return _train("reranker", tuner, mined, out_dir, lambda: tuner.fit(mined, out_dir), log)


_TUNERS = {"generator": tune_generator, "retriever": tune_retriever, "reranker": tune_reranker}


def prepare_tuning(kind: str, cfg: CompareConfig, train: list[QAPair], store: Any, out: Path,
                   log: Callable[[str], None] = lambda _m: None) -> Tuned:
    """Train or load the ``kind`` tuning (``generator``, ``retriever`` or ``reranker``).

    Raises:
        ValueError: the config skips this tuning (``null``), or cannot train it.
    """
    if cfg.tuning.get(kind) is None:
        raise ValueError(f"tuning.{kind} is null in the config; a system that needs it cannot run")
    return _TUNERS[kind](cfg, train, store, out, log)
