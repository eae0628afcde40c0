"""A tiny CrossEncoder built here (no cross-encoder ships offline), shared by the reranker tests."""

from __future__ import annotations

import string

import pytest

WORDS = "the a to how do i reset router power button hold seconds tea green brewed lava rock cat cats purr".split()


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> str:
    """A 2-layer BERT with a one-logit head, saved as a sentence-transformers CrossEncoder dir."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    root = tmp_path_factory.mktemp("ce")
    chars = list(string.ascii_lowercase + string.digits + ".,?!")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + chars + ["##" + c for c in string.ascii_lowercase]
    (root / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab=str(root / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(root / "bert")
    tok.save_pretrained(root / "bert")
    model = CrossEncoder(str(root / "bert"), num_labels=1, max_length=64, device="cpu")
    model.save(str(root / "ce"))
    return str(root / "ce")
