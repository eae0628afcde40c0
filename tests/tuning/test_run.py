"""Training arguments shared by the sentence-transformers tuners; tuners rebuild from their recorded config."""

from __future__ import annotations

import pytest

from ragkit.registry import build
from ragkit.tuning.retriever import RetrieverTuner
from ragkit.tuning.run import trainer_arguments


def test_warmup_ratio_becomes_a_fraction_of_the_steps():
    from transformers import TrainingArguments

    tuner = RetrieverTuner(warmup_ratio=0.1)
    kwargs = trainer_arguments(tuner, n_examples=64, output_dir="/tmp/ragkit-unused", device_type="cpu")
    args = TrainingArguments(**kwargs)
    assert args.get_warmup_steps(200) == 20  # 10 % of the steps, not 0.1 of a step


def test_a_tuner_rebuilds_from_its_recorded_config():
    tuner = RetrieverTuner(epochs=2, learning_rate=3e-5)
    again = build("tuner", tuner.to_config())
    assert isinstance(again, RetrieverTuner) and again.to_config() == tuner.to_config()
    with pytest.raises(KeyError, match="available: generator, prf, reranker, retriever"):
        build("tuner", {"type": "nope"})
