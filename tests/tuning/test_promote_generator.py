"""A LoRA-tuned generator becomes an index's generator only when it beats the one in service on held-out questions.

A random 2-layer Llama is the base. Training questions about different parts all have the answer
"Two years." (the warranty), so a tuned adapter answers the *held-out* warranty questions better
than the base; an adapter trained to say "The reset button." answers them worse than the
promoted one and is not promoted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragkit.indexes.promoted import pointer_path, read_promoted
from ragkit.tuning.data import QAPair
from ragkit.tuning.generator import GeneratorTuner
from ragkit.tuning.promote_generator import promote_generator

PARTS = ["pump", "valve", "sensor", "filter", "battery", "engine", "alarm", "manual", "charger", "meter",
         "heater", "motor", "display", "cable", "switch", "fan"]


def _pairs(parts: list[str], answer: str) -> list[QAPair]:
    return [QAPair(question=f"What is the warranty of the {p}?", answer=answer) for p in parts]


def _train(base: Path, pairs: list[QAPair], out: Path) -> Path:
    GeneratorTuner(base=str(base), epochs=60, batch_size=5, learning_rate=1e-2, lora_rank=8, lora_alpha=16,
                   lora_dropout=0.0, max_new_tokens=6, progress=False, warmup_ratio=0.0).fit(pairs, out)
    return out


@pytest.fixture()
def index(tmp_path) -> Path:
    from ragkit.defaults import DEMO_CORPUS
    from ragkit.indexes.index import Index
    from ragkit.ingest import ingest

    index = tmp_path / "idx"
    ingest([DEMO_CORPUS], index)
    Index.build(index, dense=False, show_progress=False)
    return index


@pytest.mark.slow
def test_a_better_generator_is_promoted_and_answers_a_worse_one_is_not(index, tiny_llama_dir, tmp_path):
    held = _pairs(PARTS[10:], "Two years.")
    good = _train(tiny_llama_dir, _pairs(PARTS[:10], "Two years."), tmp_path / "good")
    decision = promote_generator(index, good, held, base=str(tiny_llama_dir))
    assert decision.promoted, decision.reason
    assert decision.held_out["candidate"] > decision.held_out["in_service"]
    assert decision.held_out["in_service_is"].startswith("base")
    pointer = read_promoted(index, "generator")
    assert Path(pointer["spec"]["model"], "adapter_config.json").is_file() and not good.exists()

    # the commands' pipeline answers with the promoted adapter when the spec names no generator
    from ragkit.pipeline import Pipeline

    pipeline = Pipeline.for_index(index)
    assert pipeline.generator == {"type": "llm", "llm": pointer["spec"]}
    assert Pipeline.for_index(index, {"generator": {"type": "llm"}}).generator == {"type": "llm"}

    worse = _train(tiny_llama_dir, _pairs(PARTS[:10], "The reset button."), tmp_path / "worse")
    kept = promote_generator(index, worse, held, base=str(tiny_llama_dir))
    assert not kept.promoted and "kept the old one" in kept.reason
    assert kept.held_out["in_service_is"] == "promoted generator"
    assert read_promoted(index, "generator")["generation"] == pointer["generation"] and worse.is_dir()
    history = (pointer_path(index, "generator").parent / "generator-history.jsonl").read_text().splitlines()
    assert [json.loads(line)["promoted"] for line in history] == [True, False]


def test_no_reference_answers_is_a_clear_error(index, tmp_path):
    with pytest.raises(ValueError, match="no held-out pair has a reference answer"):
        promote_generator(index, tmp_path / "none", [QAPair(question="What?")], base="smollm2-135m")
