"""Bi-encoder reranker with the bundled MiniLM: it reorders by meaning, blends, caches, plugs into a pipeline."""

from __future__ import annotations

import pytest

from ragkit.config import parse_component
from ragkit.registry import build
from ragkit.rerankers.bi_encoder import BiEncoderReranker
from ragkit.types import Chunk, Hit

TEXTS = [
    "Our office is closed on public holidays.",  # first-stage rank 1, off-topic
    "Cats purr when they are content.",
    "Every device is covered for two years from the date of purchase.",  # the answer, no shared words
]


def _hits() -> list[Hit]:
    chunks = [Chunk(text=t, source=f"d{i}.md") for i, t in enumerate(TEXTS)]
    return [Hit(c.id, 3.0 - i, i + 1, "bm25", c) for i, c in enumerate(chunks)]


@pytest.fixture(scope="module")
def reranker() -> BiEncoderReranker:
    return BiEncoderReranker()


def test_ranks_by_meaning_not_by_first_stage_order(reranker):
    out = reranker.rerank(["How long is the warranty?"], [_hits()], k=3)[0]
    assert out[0].chunk.text == TEXTS[2]
    assert [h.rank for h in out] == [1, 2, 3] and {h.retriever for h in out} == {"bi-encoder"}
    assert out[0].score > out[1].score > out[2].score


def test_first_stage_weight_one_keeps_the_first_stage_order():
    keep = BiEncoderReranker(first_stage_weight=1.0)
    out = keep.rerank(["How long is the warranty?"], [_hits()], k=2)[0]
    assert [h.chunk.text for h in out] == TEXTS[:2]


def test_passages_are_embedded_once_and_batches_stay_aligned(reranker):
    hits = _hits()
    queries = ["How long is the warranty?", "Why do cats purr?", "When is the office closed?"]
    out = reranker.rerank(queries, [hits, hits, []], k=1)
    cached = len(reranker._vectors)
    assert [o[0].chunk.text for o in out[:2]] == [TEXTS[2], TEXTS[1]] and out[2] == []
    reranker.rerank(queries[:1], [hits], k=1)
    assert len(reranker._vectors) == cached == len(TEXTS)


def test_built_from_a_cli_string_and_bad_weights_are_clear():
    spec = parse_component("reranker", "bi-encoder:minilm")
    assert isinstance(build("reranker", spec), BiEncoderReranker)
    with pytest.raises(ValueError, match=r"first_stage_weight must be in \[0, 1\]"):
        BiEncoderReranker(first_stage_weight=1.5)
    with pytest.raises(ValueError, match="one list per query"):
        BiEncoderReranker().rerank(["q"], [], k=1)
