"""Generator LoRA SFT on a tiny Llama: closed-book, RAG and RAG-with-reasoning chats (and the CLI),
adapter dir loadable by ragkit.models, merge, record, and a failed run leaves the previous adapter intact."""

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
    args = dict(base=str(base), epochs=60, batch_size=3, learning_rate=1e-2, lora_rank=8, lora_alpha=16,
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


def test_rag_reasoning_target_names_the_gold_passage_and_quotes_it():
    from ragkit import reasoning

    distractors = ["The pump moves water.", "Press reset to clear the alarm."]
    pair = QAPair(question="How long is the warranty?", answer="Two years.", source="w.md",
                  contexts=["Keep the receipt. The warranty is two years from purchase. Returns take a week."])
    plain, cited = build_messages(pair, "rag", distractors, random.Random(3))
    messages, target = build_messages(pair, "rag-reasoning", distractors, random.Random(3))
    parsed = reasoning.parse(target)
    n = next(i for i in (1, 2, 3) if f"[{i}] (w.md)" in messages[-1]["content"])
    assert parsed.relevant == (n,) and cited == f"Two years. [{n}]"  # same shuffle as rag mode
    assert parsed.evidence == "The warranty is two years from purchase." and parsed.answer == f"Two years. [{n}]"
    assert messages[-1] == plain[-1] and messages[0]["content"] == reasoning.REASONING_SYSTEM


@pytest.mark.slow
def test_tune_generator_cli_rag_reasoning_end_to_end(tiny_llama_dir, tmp_path):
    from typer.testing import CliRunner

    from ragkit.cli import app
    from ragkit.generator import LLMGenerator
    from ragkit.tuning.data import write_qa_jsonl

    write_qa_jsonl(PAIRS, tmp_path / "train.jsonl")
    out = tmp_path / "adapter"
    result = CliRunner().invoke(app, ["tune", "generator", "--train", str(tmp_path / "train.jsonl"), "--out", str(out),
                                      "--base", str(tiny_llama_dir), "--mode", "rag-reasoning", "--epochs", "2",
                                      "--batch-size", "3", "--max-length", "256"])
    assert result.exit_code == 0, result.output
    record = read_tuning_record(out)
    assert record["mode"] == "rag-reasoning" and record["train_steps"] == 2 and (out / "adapter_config.json").is_file()
    assert LLMGenerator(llm={"type": "transformers", "model": str(out)}).reasoning is True  # inference switches by itself


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


def _reference_losses(base, pairs, steps, lr, seed=0):
    """The hand-written SFT loop ragkit used before TRL: full batch, prompt masked, AdamW, clip 1.0, linear decay."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ragkit.models import load_causal_lm
    from ragkit.tuning.run import set_seed

    set_seed(seed)
    model, tok = load_causal_lm(str(base), "cpu")
    chats = GeneratorTuner(mode="closed-book").examples(pairs)
    rows = []
    for messages, answer in chats:
        prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        full = tok.apply_chat_template(messages + [{"role": "assistant", "content": answer}], tokenize=False)
        p_len = len(tok(prompt, add_special_tokens=False)["input_ids"])
        ids = tok(full, add_special_tokens=False)["input_ids"]
        rows.append((ids, [-100] * p_len + ids[p_len:]))
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets,
                                             task_type="CAUSAL_LM"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (steps - s) / steps))
    width = max(len(i) for i, _ in rows)
    pad = tok.pad_token_id
    ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in rows])
    labels = torch.tensor([y + [-100] * (width - len(y)) for _, y in rows])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in rows])
    losses = []
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.slow
def test_trl_sft_gives_the_numbers_of_the_hand_written_loop(tiny_llama_dir, tmp_path):
    """Full batches make the data order irrelevant: TRL's SFTTrainer must follow the same loss curve."""
    pairs = [QAPair(question=f"What is the warranty of the {p}?", answer="Two years.")
             for p in ("pump", "valve", "sensor", "filter", "battery", "engine")]
    tuner = _tuner(tiny_llama_dir, epochs=20, batch_size=len(pairs), learning_rate=1e-2)
    record = tuner.fit(pairs, tmp_path / "trl").record
    reference = _reference_losses(tiny_llama_dir, pairs, steps=20, lr=1e-2)
    assert record["train_steps"] == 20
    assert record["train_loss_first"] == pytest.approx(reference[0], abs=1e-4)
    assert record["train_loss_last"] == pytest.approx(reference[-1], abs=2e-3), (record["train_loss_last"], reference[-1])
    assert reference[-1] < reference[0] - 0.05  # it did learn: the comparison is not between two flat curves
