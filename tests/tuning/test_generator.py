"""Generator LoRA SFT on a tiny Llama: closed-book and RAG chats, adapter dir loadable by
ragkit.models, merge, record, and a failed run leaves the previous adapter intact."""

from __future__ import annotations

import json
import random

import pytest

from ragkit.tuning.data import QAPair
from ragkit.tuning.generator import GeneratorTuner, build_messages, merge_adapter
from ragkit.tuning.run import read_tuning_record

PAIRS = [
    QAPair(question="What is the warranty?", answer="Two years.", source="w.md", contexts=["The warranty is two years."]),
    QAPair(question="What does the pump do?", answer="It moves water.", source="p.md", contexts=["The pump moves water."]),
    QAPair(question="What resets the alarm?", answer="The reset button.", source="a.md", contexts=["Press reset to clear the alarm."]),
]


def _tuner(base, **kw) -> GeneratorTuner:
    args = dict(base=str(base), epochs=40, batch_size=3, learning_rate=3e-2, lora_rank=8, lora_alpha=16,
                lora_dropout=0.0, max_new_tokens=8, progress=False, warmup_ratio=0.0)
    args.update(kw)
    return GeneratorTuner(**args)


def test_rag_messages_cite_the_positive_among_distractors():
    messages, answer = build_messages(PAIRS[0], "rag", ["The pump moves water.", "Press reset."], random.Random(3))
    user = messages[-1]["content"]
    n = next(i for i in (1, 2, 3) if f"[{i}] (w.md)" in user)
    assert answer == f"Two years. [{n}]"
    assert "Question: What is the warranty?" in user and user.count("(context)") == 2
    closed, target = build_messages(PAIRS[0], "closed-book", [], random.Random(0))
    assert target == "Two years." and "warranty" in closed[-1]["content"] and "Contexts" not in closed[-1]["content"]


@pytest.mark.slow
def test_lora_changes_answers_saves_adapter_and_merges(tiny_llama_dir, tmp_path):
    import torch

    from ragkit.models import load_causal_lm

    out = tmp_path / "adapter"
    result = _tuner(tiny_llama_dir).fit(PAIRS, out, evaluation=PAIRS)
    # A 2-layer random model only half-learns the answers in 40 steps, but they measurably change.
    assert result.metrics_after["token_f1"] >= result.metrics_before["token_f1"] + 0.1, result.record
    assert result.metrics_after["samples"] != result.metrics_before["samples"]
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(tiny_llama_dir.resolve())
    record = read_tuning_record(out)
    assert record["kind"] == "generator" and record["mode"] == "closed-book" and record["n_train"] == 3
    assert record["train_loss_last"] < record["train_loss_first"]

    peft_model, tok = load_causal_lm(str(out))
    merged_dir = merge_adapter(out, tmp_path / "merged")
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    ids = tok("What is the warranty?", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(peft_model(ids).logits, merged(ids).logits, atol=1e-4)
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    assert read_tuning_record(merged_dir)["merged_from"] == str(out.resolve())


def test_rag_mode_trains_and_failure_keeps_previous_adapter(tiny_llama_dir, tmp_path, monkeypatch):
    out = tmp_path / "rag"
    result = _tuner(tiny_llama_dir, mode="rag", epochs=2, distractors=1, max_length=128).fit(PAIRS, out)
    assert result.record["mode"] == "rag" and result.record["train_steps"] == 2
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(GeneratorTuner, "_train", boom)
    with pytest.raises(KeyboardInterrupt):
        _tuner(tiny_llama_dir, mode="rag").fit(PAIRS, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rag"]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        GeneratorTuner(mode="open-book")
    with pytest.raises(ValueError, match="no usable training pair"):
        GeneratorTuner().fit([QAPair(question="q")], tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="adapter_config"):
        merge_adapter(tmp_path, tmp_path / "m")
