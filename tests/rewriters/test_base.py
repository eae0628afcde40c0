"""Rewrite type invariants, LLM-output parsing, and the pipeline's rewrite stage (batching, fusion, timings)."""

from __future__ import annotations

import pytest

from ragkit.indexes import fusion
from ragkit.pipeline import Pipeline
from ragkit.registry import build
from ragkit.pipeline.rewrite import rewrite_and_retrieve
from ragkit.rewriters.base import MeanOfTexts, Rewrite, Rewriter, TextQueries, WeightedTerms, parse_keywords, parse_lines
from ragkit.types import Hit


def test_rewrite_keeps_the_original_first():
    assert TextQueries("cats", ["cats purr"]).queries == ["cats purr"]
    with pytest.raises(ValueError, match="original query first"):
        TextQueries("cats", ["dogs", "cats"])
    with pytest.raises(ValueError, match="original query first"):
        MeanOfTexts("cats", [])
    with pytest.raises(ValueError, match="one per query"):
        TextQueries("cats", ["cats", "kitten"], weights=[1.0])
    kept = Rewrite.keep("cats")
    assert isinstance(kept, TextQueries) and kept.queries == ["cats"] and not kept.fallback
    with pytest.warns(UserWarning, match="no keywords"):
        assert Rewrite.keep("cats", "no keywords").fallback


def test_parse_keywords_handles_lists_preambles_and_garbage():
    reply = "Here are some expansion terms:\n1. feline behaviour\n2. purring, contentment\n- \"kitten\"."
    assert parse_keywords(reply) == ["feline behaviour", "purring", "contentment", "kitten"]
    assert parse_keywords("Keywords: cat, Cat, CAT, dog") == ["cat", "dog"]
    assert parse_keywords("}}{{<<>>!!, 1234, ---") == []
    long = "this is a whole sentence that is not a keyword at all"
    assert parse_keywords(f"{long}, purr") == ["purr"]
    assert parse_keywords("x, y, z, w", max_keywords=2) == ["x", "y"]


def test_parse_lines_strips_markers_and_short_lines():
    reply = "Sure:\n1. why do cats purr\n2) what makes a cat purr\nok\n- why do cats purr"
    assert parse_lines(reply, max_items=5) == ["why do cats purr", "what makes a cat purr"]


class Scripted(Rewriter):
    """A rewriter returning fixed rewrites; records the feedback it saw."""

    needs_feedback = True

    def __init__(self, extra: list[str], fb_docs: int = 2):
        self.extra = extra
        self.fb_docs = fb_docs

    def rewrite(self, queries, feedback=None, searcher=None):
        self.seen = feedback
        return [TextQueries(q, [q, *self.extra], weights=[2.0] + [1.0] * len(self.extra)) for q in queries]


class CountingRetriever:
    """Stand-in retriever with fixed rankings per query text; counts the texts it was asked."""

    def __init__(self, runs: dict[str, list[str]]):
        self.runs = runs
        self.asked: list[str] = []

    def retrieve(self, queries, k):
        self.asked.extend(queries)
        return [[Hit(c, 1.0 / r, r, "fixed") for r, c in enumerate(self.runs[q][:k], start=1)] for q in queries]


def test_fusion_is_weighted_rrf_and_first_pass_is_reused():
    retriever = CountingRetriever({"q": ["a", "b", "c"], "x": ["c", "d"], "y": ["d", "a"]})
    rewriter = Scripted(["x", "y"])
    timings: dict[str, float] = {}
    [hits] = rewrite_and_retrieve(rewriter, retriever, ["q"], depth=3, timings=timings, )
    # original query retrieved once (first pass, reused), rewrites once each, in one batch
    assert retriever.asked == ["q", "x", "y"]
    assert [h.chunk_id for h in rewriter.seen[0]] == ["a", "b"]  # fb_docs feedback hits
    expected = {  # weights 2, 1, 1; rrf k = 60
        "a": 2 / 61 + 1 / 62, "b": 2 / 62, "c": 2 / 63 + 1 / 61, "d": 1 / 62 + 1 / 61,
    }
    top = sorted(expected, key=lambda d: (-expected[d], d))[:3]
    assert [h.chunk_id for h in hits] == top
    assert [h.score for h in hits] == pytest.approx([expected[d] for d in top])
    assert hits == fusion.rrf([[Hit(c, 0, 0) for c in run] for run in (["a", "b", "c"], ["c", "d"], ["d", "a"])],
                              weights=[2, 1, 1], limit=3) or [h.chunk_id for h in hits] == top
    assert {"retrieve", "rewrite", "fuse"} <= set(timings)


def test_user_feedback_replaces_the_first_pass():
    retriever = CountingRetriever({"q": ["a", "b"], "x": ["b"]})
    rewriter = Scripted(["x"])
    marked = [[Hit("b", 1.0, 1)]]
    rewrite_and_retrieve(rewriter, retriever, ["q"], depth=2, feedback=marked)
    assert rewriter.seen is marked and retriever.asked == ["q", "x"]
    with pytest.raises(ValueError, match="one per question"):
        rewrite_and_retrieve(rewriter, retriever, ["q"], depth=2, feedback=[])


def test_pipeline_runs_rewrite_retrieve_rerank_from_a_spec(index_dir):
    spec = {
        "index": index_dir,
        "retriever": "bm25",
        "rewriter": {"type": "multi-query", "llm": {"type": "fake", "default": "why does a kitten purr"}},
        "reranker": "reorder",
        "k": 3,
    }
    pipeline = Pipeline.from_config(spec)
    assert pipeline.to_config() == spec
    hits, timings = pipeline.retrieve(["why do cats purr"])
    assert {"rewrite", "retrieve", "fuse", "rerank"} <= set(timings)
    names = {h.chunk.source for h in hits[0]}
    assert {"felines.md", "kitten.md"} <= names  # the rephrasing found the kitten passage too
    assert len(hits[0]) == 2  # only two passages share a term with the queries (BM25)


def test_term_and_vector_rewrites_need_the_matching_retriever():
    retriever = CountingRetriever({"q": ["a"]})

    class Terms(Rewriter):
        def __init__(self):
            pass

        def rewrite(self, queries, feedback=None, searcher=None):
            return [WeightedTerms(q, {"cat": 1.0}) for q in queries]

    with pytest.raises(ValueError, match=r"needs a retriever with TermSearch \(bm25\)"):
        rewrite_and_retrieve(Terms(), retriever, ["q"], depth=2)
    assert build("rewriter", "rm3").needs_feedback


def test_parse_keywords_drops_echoed_instructions_and_stopwords():
    echo = "Suggest keywords that a relevant document for the query would contain."
    reply = "a relevant document for, the, and, feline purring, Query"
    assert parse_keywords(reply, echo=echo) == ["feline purring"]
