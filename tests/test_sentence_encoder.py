"""SentenceEncoder (transformers only) reproduces sentence-transformers' embeddings on real texts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragkit import models
from ragkit.sentence_encoder import SentenceEncoder, read_st_config

DEMO = Path(__file__).resolve().parents[1] / "ragkit" / "demo_corpus"


def _demo_texts() -> list[str]:
    """Real passages of different lengths: paragraphs of the demo corpus, plus edge cases."""
    texts = []
    for path in sorted(DEMO.rglob("*")):
        if path.is_file() and path.suffix in (".md", ".txt", ".py"):
            texts += [p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    assert len(texts) >= 20
    long = " ".join(texts)  # longer than max_seq_length: truncated the same way
    return texts[:60] + ["  padded with spaces  ", "x", long]


@pytest.fixture(scope="module")
def both():
    from sentence_transformers import SentenceTransformer

    path = models.resolve("minilm")
    return SentenceEncoder(path, device="cpu"), SentenceTransformer(path, device="cpu")


def test_minilm_embeddings_equal_sentence_transformers(both):
    ours, st = both
    texts = _demo_texts()
    mine = ours.encode(texts, batch_size=16)
    ref = st.encode(texts, batch_size=16, convert_to_numpy=True, normalize_embeddings=True)
    assert mine.shape == ref.shape == (len(texts), 384) and mine.dtype == np.float32
    np.testing.assert_allclose(mine, ref, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
    # batch composition does not change a vector
    np.testing.assert_allclose(ours.encode(texts[:1], batch_size=1), mine[:1], atol=1e-5)
    assert ours.encode([]).shape == (0, 384)


def test_cls_pooling_prompts_and_lowercase_follow_the_config(both, tmp_path):
    ours, st = both
    src = Path(models.resolve("minilm"))
    for f in src.rglob("*"):
        if f.is_file():
            target = tmp_path / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read_bytes())
    pool = json.loads((src / "1_Pooling" / "config.json").read_text())
    pool.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pool))
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": True}))
    st_cfg = json.loads((src / "config_sentence_transformers.json").read_text())
    st_cfg["prompts"] = {"query": "query: ", "document": ""}
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(st_cfg))
    assert read_st_config(tmp_path) == {"pooling": "cls", "normalize": True, "max_seq_length": 64,
                                        "do_lower_case": True, "prompts": {"query": "query: ", "document": ""}}
    from sentence_transformers import SentenceTransformer

    theirs = SentenceTransformer(str(tmp_path), device="cpu")
    mine = SentenceEncoder(tmp_path)
    texts = _demo_texts()[:12]
    np.testing.assert_allclose(mine.encode(texts, prompt_name="query"),
                               theirs.encode_query(texts, convert_to_numpy=True), atol=1e-5)
    # the prompt changes the vector, so it was applied
    assert not np.allclose(mine.encode(texts[:2], prompt_name="query"), mine.encode(texts[:2]))


def test_unsupported_modules_are_refused_with_the_alternative(tmp_path):
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]))
    with pytest.raises(ValueError, match="Dense.*load_sentence_transformer"):
        read_st_config(tmp_path)
    (tmp_path / "modules.json").unlink()
    assert read_st_config(tmp_path)["pooling"] == "mean" and not read_st_config(tmp_path)["normalize"]
