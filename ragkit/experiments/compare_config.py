"""The ``ragkit compare`` configuration: corpus, QA source, tunings, systems and metrics (YAML).

A minimal config (every other key has a default; see ``docs/compare.md`` for all of them)::

    name: demo
    corpus: demo                  # files to ingest ("demo": the bundled corpus), or leave out
    index: null                   # an existing index dir (default: <out>/index, built from corpus)
    qa:
      source: generate            # generate | jsonl
      path: null                  # the QA JSONL when source is jsonl
    tuning:                       # each: training settings, {model: DIR} to reuse, or null to skip
      generator: {epochs: 3}
      retriever: {epochs: 1}
      reranker: {epochs: 1}

Relative paths are resolved against the config file's directory. Unknown keys are an error
(a typo must not silently fall back to a default).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragkit.defaults import DEFAULT_EMBEDDER, default_llm

__all__ = ["SystemSpec", "CompareConfig", "DEFAULT_SYSTEMS", "load_config", "resolve_references", "TUNED_PREFIX"]
_QA_DEFAULTS: dict[str, Any] = {
    "source": "generate",
    "path": None,
    "llm": None,  # default: the config's llm
    "questions_per_chunk": 2,
    "max_chunks": None,
    "min_chunk_words": 20,
    "max_new_tokens": 96,
    "filter": {},
    "split": {"by": "question", "test": 0.3, "seed": 0},
    "max_train": None,
    "max_test": None,
}
_RAGAS_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "llm_metrics": False,
    "judge": None,  # default: the config's llm
    "metrics": None,
    "max_samples": None,
    "judge_max_new_tokens": 512,
}
_SIMILARITY_DEFAULTS: dict[str, Any] = {"enabled": True, "method": "resample", "threshold": None, "buckets": 5, "fold": None}
_TUNINGS = ("generator", "retriever", "reranker")
_MODES = ("rag", "closed-book")


TUNED_PREFIX = "tuned:"


def _references(value: Any) -> set[str]:
    """The tunings named by ``tuned:KIND`` strings anywhere in ``value``."""
    if isinstance(value, str):
        return {value[len(TUNED_PREFIX):]} if value.startswith(TUNED_PREFIX) else set()
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def resolve_references(value: Any, tuned: dict[str, Any]) -> Any:
    """``value`` with every ``tuned:KIND`` string replaced by ``tuned[KIND]`` (a model dir, an LLM config, an index dir)."""
    if isinstance(value, str) and value.startswith(TUNED_PREFIX):
        return copy.deepcopy(tuned[value[len(TUNED_PREFIX):]])
    if isinstance(value, dict):
        return {k: resolve_references(v, tuned) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, tuned) for v in value]
    return value


@dataclass(frozen=True)
class SystemSpec:
    """One cell of the comparison: a pipeline-spec overlay on the config's base pipeline.

    The base pipeline is the config's ``index``, ``retriever``, ``generator`` (with ``llm``) and
    ``k``; ``pipeline`` changes any stage with the pipeline-spec language of ``ragkit.config``
    (``ragkit.config.overlay``: a ``None`` removes a stage). A string ``tuned:KIND`` anywhere in
    it stands for what the ``KIND`` tuning produced:

    - ``tuned:generator``: the LoRA-tuned LLM's config (``{generator: {llm: tuned:generator}}``);
    - ``tuned:retriever``: the index re-embedded with the tuned embedder (``{index: tuned:retriever}``);
    - ``tuned:reranker``: the trained cross-encoder's directory
      (``{reranker: {type: cross-encoder, model: tuned:reranker}}``).

    Attributes:
        id: short id (used in file names and tables).
        name: the label shown in the report.
        mode: ``"rag"`` or ``"closed-book"``.
        pipeline: the overlay (``{}``: the base pipeline itself).

    Raises:
        ValueError: an unknown mode or tuning, or a closed-book system that sets retrieval stages.
    """

    id: str
    name: str
    mode: str = "rag"
    pipeline: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ragkit.config import STAGES

        if self.mode not in _MODES:
            raise ValueError(f"system {self.id!r}: mode must be one of {_MODES}, got {self.mode!r}")
        if not isinstance(self.pipeline, dict):
            raise ValueError(f"system {self.id!r}: pipeline must be a mapping of stage -> config, got {self.pipeline!r}")
        unknown = sorted(set(self.pipeline) - set(STAGES))
        if unknown:
            raise ValueError(f"system {self.id!r}: unknown pipeline stage(s) {unknown}; stages are {list(STAGES)}")
        bad = sorted(self.needs - set(_TUNINGS))
        if bad:
            raise ValueError(f"system {self.id!r}: unknown tuning(s) {bad} in 'tuned:'; choose from {list(_TUNINGS)}")
        retrieval = {"index", "retriever", "rewriter", "reranker", "rerank_k"} & set(self.pipeline)
        if self.mode == "closed-book" and retrieval:
            raise ValueError(f"system {self.id!r}: a closed-book system retrieves nothing; drop {sorted(retrieval)}")

    @property
    def needs(self) -> set[str]:
        """The tunings this system uses (``generator``, ``retriever``, ``reranker``)."""
        return _references(self.pipeline)


_TUNED_LLM = {"generator": {"llm": "tuned:generator"}}
DEFAULT_SYSTEMS = (
    SystemSpec("base-closed", "base LLM, closed-book", "closed-book"),
    SystemSpec("base-rag", "base LLM + RAG", "rag"),
    SystemSpec("lora-closed", "LoRA LLM, closed-book", "closed-book", _TUNED_LLM),
    SystemSpec("lora-rag", "LoRA LLM + RAG", "rag", _TUNED_LLM),
    SystemSpec("base-rag-tuned-retriever", "base LLM + RAG, tuned retriever", "rag", {"index": "tuned:retriever"}),
    SystemSpec("base-rag-tuned-reranker", "base LLM + RAG, tuned reranker", "rag",
               {"reranker": {"type": "cross-encoder", "model": "tuned:reranker"}}),
)


def _merge(defaults: dict[str, Any], given: dict[str, Any] | None, where: str) -> dict[str, Any]:
    given = given or {}
    if not isinstance(given, dict):
        raise ValueError(f"{where} must be a mapping, got {given!r}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(defaults)}")
    out = copy.deepcopy(defaults)
    out.update(copy.deepcopy(given))
    return out


@dataclass
class CompareConfig:
    """A parsed and validated compare config (see the module docstring and ``docs/compare.md``).

    Attributes:
        name: run name (report title).
        corpus: files/dirs to ingest into the index (``["demo"]`` = the bundled corpus).
        index: index directory; ``None``: ``<out>/index``.
        qa: QA source, generation, filter and split settings.
        llm: the base LLM config (``ragkit.llm``).
        generator: ``LLMGenerator`` settings (its ``llm`` is filled in per system).
        retriever: the base retriever config (``"hybrid"``, ``"dense"``, ``"bm25"`` or a dict).
        k: passages given to the generator.
        embedder: the index's embedder (base retriever) and the embedding metrics' model.
        tuning: ``{generator|retriever|reranker: settings | {"model": DIR} | None}``.
        systems: the cells to run (pipeline overlays, ``SystemSpec``).
        metrics: answer metrics (``ragkit.eval.answers.METRICS``).
        ragas: ragas settings (``enabled``, ``llm_metrics``, ``judge``, ``metrics``, ``max_samples``).
        similarity_split: interpolation / extrapolation split settings.
        threads: torch CPU threads (``None``: torch's default).
        seed: seed for splits and training.
        base_dir: directory that relative paths are resolved against.
    """

    name: str = "compare"
    corpus: list[str] = field(default_factory=list)
    index: str | None = None
    qa: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(_QA_DEFAULTS))
    llm: dict[str, Any] = field(default_factory=default_llm)
    generator: dict[str, Any] = field(default_factory=dict)
    retriever: str | dict[str, Any] = "hybrid"
    k: int = 4
    embedder: str = DEFAULT_EMBEDDER
    tuning: dict[str, dict[str, Any] | None] = field(default_factory=lambda: {t: {} for t in _TUNINGS})
    systems: list[SystemSpec] = field(default_factory=lambda: list(DEFAULT_SYSTEMS))
    metrics: list[str] | None = None
    ragas: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(_RAGAS_DEFAULTS))
    similarity_split: dict[str, Any] = field(default_factory=lambda: dict(_SIMILARITY_DEFAULTS))
    threads: int | None = None
    seed: int = 0
    base_dir: str = "."

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: str | Path = ".") -> CompareConfig:
        """Validate a config mapping (as loaded from YAML).

        Raises:
            ValueError: an unknown key, a bad value, or a QA source without what it needs.
        """
        from ragkit.eval.answers import METRICS

        data = dict(data or {})
        allowed = {f for f in cls.__dataclass_fields__ if f != "base_dir"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in the compare config; allowed: {sorted(allowed)}")
        cfg = cls(base_dir=str(Path(base_dir).resolve()))
        cfg.name = str(data.get("name", cfg.name))
        corpus = data.get("corpus") or []
        cfg.corpus = [str(c) for c in ([corpus] if isinstance(corpus, str) else corpus)]
        cfg.index = data.get("index")
        cfg.qa = _merge(_QA_DEFAULTS, data.get("qa"), "qa")
        cfg.qa["split"] = _merge(_QA_DEFAULTS["split"], cfg.qa["split"], "qa.split")
        if cfg.qa["source"] not in ("generate", "jsonl"):
            raise ValueError(f"qa.source must be 'generate' or 'jsonl', got {cfg.qa['source']!r}")
        if cfg.qa["source"] == "jsonl" and not cfg.qa["path"]:
            raise ValueError("qa.source is 'jsonl': set qa.path to your QA JSONL file")
        if cfg.qa["split"]["by"] not in ("question", "document", "given"):
            raise ValueError(f"qa.split.by must be question, document or given, got {cfg.qa['split']['by']!r}")
        cfg.llm = dict(data.get("llm") or default_llm())
        cfg.generator = dict(data.get("generator") or {})
        if "llm" in cfg.generator:
            raise ValueError("set the generator's LLM with the top-level 'llm' key, not generator.llm")
        cfg.retriever = data.get("retriever", cfg.retriever)
        cfg.k = int(data.get("k", cfg.k))
        cfg.embedder = str(data.get("embedder", cfg.embedder))
        tuning = data.get("tuning", {t: {} for t in _TUNINGS})
        if not isinstance(tuning, dict):
            raise ValueError(f"tuning must be a mapping of {list(_TUNINGS)}, got {tuning!r}")
        unknown = sorted(set(tuning) - set(_TUNINGS))
        if unknown:
            raise ValueError(f"unknown tuning(s) {unknown}; allowed: {list(_TUNINGS)}")
        cfg.tuning = {t: (dict(tuning[t]) if tuning.get(t) is not None else None) if t in tuning else None for t in _TUNINGS}
        if "systems" in data and data["systems"] is not None:
            cfg.systems = [SystemSpec(**s) for s in data["systems"]]
        ids = [s.id for s in cfg.systems]
        if len(set(ids)) != len(ids):
            raise ValueError(f"system ids must be unique, got {ids}")
        cfg.metrics = list(data["metrics"]) if data.get("metrics") else list(METRICS)
        bad = [m for m in cfg.metrics if m not in METRICS]
        if bad:
            raise ValueError(f"unknown metric(s) {bad}; choose from {list(METRICS)}")
        cfg.ragas = _merge(_RAGAS_DEFAULTS, data.get("ragas"), "ragas")
        cfg.similarity_split = _merge(_SIMILARITY_DEFAULTS, data.get("similarity_split"), "similarity_split")
        if cfg.similarity_split["method"] not in ("resample", "nearest"):
            raise ValueError(f"similarity_split.method must be resample or nearest, got {cfg.similarity_split['method']!r}")
        cfg.threads = data.get("threads")
        cfg.seed = int(data.get("seed", 0))
        return cfg

    def path(self, value: str | Path) -> Path:
        """``value`` resolved against the config's directory (absolute paths are kept)."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    def corpus_paths(self) -> list[Path]:
        """The corpus paths to ingest (``demo`` is the bundled demo corpus)."""
        from ragkit.defaults import DEMO_CORPUS

        return [DEMO_CORPUS if c == "demo" else self.path(c) for c in self.corpus]

    def to_dict(self) -> dict[str, Any]:
        """The resolved config, JSON-able (written next to the outputs)."""
        out = {f: copy.deepcopy(getattr(self, f)) for f in self.__dataclass_fields__}
        out["systems"] = [s.__dict__ for s in self.systems]
        return out


def load_config(path: str | Path) -> CompareConfig:
    """Read and validate a compare config (YAML).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the YAML is not a mapping, or the config is invalid.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"compare config {path} does not exist; see docs/compare.md for the format")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a YAML mapping (name, corpus, qa, tuning ...)")
    return CompareConfig.from_dict(data, base_dir=path.parent)
