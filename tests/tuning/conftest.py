"""Tiny locally-built models for tuning tests: a 2-layer BERT (SentenceTransformer / CrossEncoder
base) with a hand-written WordPiece vocab, and a 2-layer Llama with a byte-level BPE tokenizer."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

WORDS = (
    "the a an of in on to is are was what which who how why when where does do cat cats dog dogs sat mat "
    "apple apples fruit red green car cars drive road fast slow engine battery charge volt warranty year "
    "years pump valve pressure sensor alarm reset manual helios filter water temperature"
).split()

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _bert_dir(root: Path) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    chars = list(string.ascii_lowercase + string.digits) + list(".,?!:;'\"()-/%")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + chars + ["##" + c for c in string.ascii_lowercase + string.digits]
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab=str(root / "vocab.txt"), do_lower_case=True)
    assert tok.vocab_size > 100, "the WordPiece vocab was not loaded"
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(root)
    tok.save_pretrained(root)
    return root


@pytest.fixture(scope="session")
def tiny_st_dir(tmp_path_factory) -> Path:
    """A SentenceTransformer dir (tiny BERT + mean pooling), like the bundled MiniLM's layout."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    root = tmp_path_factory.mktemp("tiny")
    bert = _bert_dir(root / "bert")
    transformer = Transformer(str(bert), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean")], device="cpu")
    out = root / "st"
    model.save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama causal LM with a byte-level BPE tokenizer that has a ChatML chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("tinyllama") / "lm"
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    corpus = [" ".join(WORDS), "Question: What is the warranty? Answer: Two years.", "system user assistant"] * 20
    tk.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(root)
    tok.save_pretrained(root)
    return root
