"""QA filtering: unsupported / idk / echo / length rules, near-duplicate removal, k-means diversity."""

from __future__ import annotations

import numpy as np
import pytest

from ragkit.tuning.data import QAPair
from ragkit.tuning.qa_filter import dedup, filter_qa, kmeans_select, looks_like_question, support_score

CTX = "The Helios X2 pump moves 40 litres of water per minute at 3 bar and has a two year warranty."


def _p(q: str, a: str, ctx: str = CTX) -> QAPair:
    return QAPair(question=q, answer=a, contexts=[ctx], source="manual.pdf")


def test_support_score_counts_answer_content_words_in_the_chunk():
    assert support_score("40 litres of water per minute", CTX) == 1.0
    assert support_score("It runs on diesel fuel", CTX) == 0.0
    assert 0 < support_score("40 litres of diesel", CTX) < 1
    assert support_score("", CTX) == 0.0


def test_filter_rules_and_report():
    pairs = [
        _p("How much water does the pump move?", "40 litres of water per minute."),
        _p("What fuel does the pump use?", "The pump runs on diesel fuel."),  # unsupported
        _p("What is the warranty?", "I don't know."),  # idk
        _p("What is the Helios X2 pump?", "The Helios X2 pump."),  # echo
        _p("", "x"),  # empty
        _p("How much water does the pump move per minute?", "40 litres per minute."),  # near-duplicate
        _p("How long is the warranty?", " ".join(["two year warranty"] * 40)),  # too long
        _p("Answer: 40 litres", "40 litres of water"),  # not a question
        _p("Write a function that pumps water", "40 litres of water"),  # an instruction
    ]
    kept, report = filter_qa(pairs, min_support=0.6, dedup_threshold=0.6, max_answer_words=50)
    assert [p.question for p in kept] == ["How much water does the pump move?"]
    assert kept[0].metadata["support"] == 1.0
    assert report.to_dict() == {
        "total": 9, "kept": 1,
        "dropped": {"unsupported": 1, "idk": 1, "echo": 1, "empty": 1, "duplicate": 1, "length": 1, "not_question": 2},
    }


def test_looks_like_question():
    assert looks_like_question("What is the warranty?") and looks_like_question("How to reset the alarm")
    assert looks_like_question("The pump's pressure?")
    assert not looks_like_question("Answer: 1.5 hours") and not looks_like_question("The answer is:")


def test_dedup_keeps_first_and_distinct_questions():
    pairs = [_p("What pressure does the pump reach?", "3 bar"), _p("What pressure does the pump reach", "3"),
             _p("Which pressure is reached by the pump?", "3"), _p("How long is the warranty?", "two years")]
    kept, dropped = dedup(pairs, threshold=0.8)
    # The second only lacks "?": a duplicate. The paraphrase shares 2 of 4 content words: kept.
    assert [p.question for p in kept] == [
        "What pressure does the pump reach?", "Which pressure is reached by the pump?", "How long is the warranty?"]
    assert dropped == 1
    assert dedup(pairs, threshold=0.5)[1] == 2


def test_kmeans_select_picks_one_per_cluster():
    rng = np.random.default_rng(0)
    centers = np.array([[10.0, 0], [0, 10.0], [-10.0, -10.0]])
    x = np.vstack([c + rng.normal(size=(20, 2)) for c in centers])
    chosen = kmeans_select(x, 3, seed=1)
    assert len(chosen) == 3 and sorted(i // 20 for i in chosen) == [0, 1, 2]
    assert kmeans_select(x[:2], 5) == [0, 1]


def _lloyd(x, c, iterations=25):
    """Plain numpy Lloyd iterations from centroids ``c`` (the hand-written k-means ragkit used before faiss.Kmeans)."""
    for _ in range(iterations):
        assign = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        c = np.array([x[assign == j].mean(0) if (assign == j).any() else c[j] for j in range(len(c))])
    return ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_by_faiss_matches_numpy_lloyd_from_the_same_seeding(seed):
    from ragkit.tuning.qa_filter import _kmeans_pp, kmeans

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # normalised embeddings, overlapping clusters: a hard case
    centroids, assign = kmeans(x, 7, seed=seed)
    assert centroids.shape == (7, 16) and assign.shape == (300,)
    reference = _lloyd(x, _kmeans_pp(x.astype(np.float32), 7, seed).astype(np.float64))
    assert (assign == reference).mean() >= 0.99
    assert len(set(assign.tolist())) == 7


def test_diversity_step_uses_the_embedder():
    pairs = [_p(f"How much water does pump {i} move?", "40 litres of water") for i in range(6)]
    pairs += [_p(f"What is the warranty of model {i}?", "a two year warranty") for i in range(6)]

    def embed(texts):
        return np.array([[1.0, 0.0] if "water" in t else [0.0, 1.0] for t in texts]) + np.arange(len(texts))[:, None] * 1e-3

    kept, report = filter_qa(pairs, dedup_threshold=1.01, diverse_k=2, embed=embed)
    assert len(kept) == 2 and {("water" in p.question) for p in kept} == {True, False}
    assert report.dropped["diversity"] == 10
