"""A tuning run: train into a temp dir beside the output, record ``ragkit-tuning.json``, swap it in.

Ctrl-C or any exception during training or saving leaves the previous output directory as it
was (``ragkit.indexes.atomic.atomic_dir``). The record holds the base model, a hash of the
training data, the hyper-parameters (the tuner's config), the seed, metrics before and after
and the wall time.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ragkit.indexes.atomic import atomic_dir, atomic_write_text

__all__ = ["TUNING_FILE", "TuningResult", "tuning_run", "read_tuning_record", "set_seed", "trainer_arguments"]

TUNING_FILE = "ragkit-tuning.json"


@dataclass
class TuningResult:
    """What a tuner returns: the output dir and the record written to ``ragkit-tuning.json``."""

    out_dir: str
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics_before(self) -> dict[str, Any]:
        return self.record.get("metrics_before") or {}

    @property
    def metrics_after(self) -> dict[str, Any]:
        return self.record.get("metrics_after") or {}

    @property
    def wall_time_s(self) -> float:
        return float(self.record.get("wall_time_s", 0.0))


@dataclass
class _Run:
    dir: Path
    record: dict[str, Any]


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) for a reproducible run."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def trainer_arguments(tuner: Any, n_examples: int, output_dir: str, device_type: str) -> dict[str, Any]:
    """The training-arguments keywords every sentence-transformers tuner shares.

    Args:
        tuner: a tuner with ``epochs``, ``batch_size``, ``learning_rate``, ``warmup_ratio``,
            ``seed`` and ``progress`` attributes, and optionally ``precision``
            (``ragkit.precision``: bf16 mixed precision where it resolves to bf16).
        n_examples: training examples (sets the logging interval to ~10 logs an epoch).
        output_dir: the trainer's scratch directory (nothing is saved there: ``save_strategy="no"``).
        device_type: the model's device type (``"cpu"`` forces CPU training).
    """
    from ragkit.precision import resolve_precision

    return {
        "output_dir": output_dir,
        "bf16": resolve_precision(getattr(tuner, "precision", "fp32"), device_type) == "bf16",
        "num_train_epochs": tuner.epochs,
        "per_device_train_batch_size": tuner.batch_size,
        "learning_rate": tuner.learning_rate,
        # transformers 5 reads a warmup_steps below 1 as a fraction of the steps (get_warmup_steps);
        # its warmup_ratio argument is deprecated. Checked in tests/tuning/test_run.py.
        "warmup_steps": tuner.warmup_ratio,
        "save_strategy": "no",
        "report_to": [],
        "logging_steps": max(1, n_examples // tuner.batch_size // 10),
        "seed": tuner.seed,
        "data_seed": tuner.seed,
        "disable_tqdm": not tuner.progress,
        "use_cpu": device_type == "cpu",
    }


@contextlib.contextmanager
def tuning_run(
    out_dir: str | Path,
    kind: str,
    base_model: str,
    hyper_parameters: dict[str, Any],
    data_hash: str,
    n_train: int,
    seed: int,
) -> Iterator[_Run]:
    """Yield ``run`` with ``run.dir`` (a temp dir: save the model there) and ``run.record``.

    Put ``metrics_before`` / ``metrics_after`` (and anything else) into ``run.record``; on a
    clean exit the record is written to ``ragkit-tuning.json`` with the wall time and the temp
    dir replaces ``out_dir``. On an exception or Ctrl-C nothing changes at ``out_dir``.

    Args:
        out_dir: the model directory to create or replace.
        kind: ``"retriever"``, ``"reranker"`` or ``"generator"``.
        base_model: the base model reference (recorded with its resolved path).
        hyper_parameters: the tuner's config (``Component.to_config()``).
        data_hash: ``ragkit.tuning.data.data_hash`` of the training pairs.
        n_train: number of training examples.
        seed: the run's seed.
    """
    from ragkit.version import __version__
    from ragkit.models import model_id

    start = time.perf_counter()
    record: dict[str, Any] = {
        "kind": kind,
        "ragkit_version": __version__,
        "base_model": model_id(base_model),
        "base_model_ref": str(base_model),
        "data_hash": data_hash,
        "n_train": n_train,
        "hyper_parameters": hyper_parameters,
        "seed": seed,
        "metrics_before": None,
        "metrics_after": None,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with atomic_dir(out_dir, copy_existing=False) as tmp:
        run = _Run(dir=tmp, record=record)
        yield run
        record["wall_time_s"] = round(time.perf_counter() - start, 2)
        atomic_write_text(tmp / TUNING_FILE, json.dumps(record, indent=2, sort_keys=True, default=str))


def read_tuning_record(model_dir: str | Path) -> dict[str, Any]:
    """The ``ragkit-tuning.json`` of a tuned model directory.

    Raises:
        FileNotFoundError: the directory holds no record (it was not written by a ragkit tuner).
    """
    path = Path(model_dir) / TUNING_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} has no {TUNING_FILE}; it was not written by `ragkit tune`")
    return json.loads(path.read_text(encoding="utf-8"))
