from __future__ import annotations

import pytest

from ragkit.connectors.chunking import Chunker

TEXT = (
    "Retrieval augmented generation combines a retriever with a generator.\n\n"
    "The retriever finds passages. The generator writes an answer from them. "
    "Every answer cites its passages so that a reader can check it.\n\n"
    "Chunking decides what a passage is. Too long and the embedding blurs; too short and the "
    "context is lost. A token budget measured with the embedder's own tokenizer avoids truncation."
)


@pytest.mark.parametrize("budget", [16, 24, 40, 512])
def test_chunks_fit_the_budget_and_cover_the_text(budget):
    chunker = Chunker(max_tokens=budget, overlap_tokens=4)
    spans = chunker.split(TEXT)
    assert all(chunker.count(TEXT[s:e]) <= budget for s, e in spans)
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
    assert all(i in covered for i, ch in enumerate(TEXT) if not ch.isspace())
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)


def test_paragraphs_are_kept_whole_when_they_fit():
    chunker = Chunker(max_tokens=40, overlap_tokens=0)
    texts = [TEXT[s:e] for s, e in chunker.split(TEXT)]
    for paragraph in TEXT.split("\n\n"):
        if chunker.count(paragraph) <= 40:
            assert any(paragraph in t for t in texts), paragraph


def test_overlap_repeats_the_previous_sentence():
    text = " ".join(f"Fact {i} is short." for i in range(40))
    chunker = Chunker(max_tokens=30, overlap_tokens=10)
    spans = chunker.split(text)
    assert len(spans) > 3
    assert all(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))
    assert all(chunker.count(text[s:e]) <= 30 for s, e in spans)


def test_split_lines_windows_respect_budget_and_overlap():
    lines = [f"x_{i} = compute(value_{i}, other_{i})" for i in range(60)]
    chunker = Chunker(max_tokens=64, overlap_tokens=8)
    windows = chunker.split_lines(lines)
    assert windows[0][0] == 0 and windows[-1][1] == 59
    for (a0, a1), (b0, _) in zip(windows, windows[1:]):
        assert b0 <= a1 + 1 and b0 > a0
    for first, last in windows:
        assert chunker.count("\n".join(lines[first:last + 1])) <= 64 + 2


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="overlap_tokens"):
        Chunker(max_tokens=32, overlap_tokens=20)
    with pytest.raises(ValueError, match="max_tokens"):
        Chunker(max_tokens=2, overlap_tokens=0)
