"""GenQR ensemble / fusion (+ RF), HyDE and multi-query with the fake LLM: deterministic, keep the original."""

from __future__ import annotations

import warnings

import pytest

from ragkit.llm import FakeLLM
from ragkit.registry import build
from ragkit.retrievers.bm25 import BM25Retriever
from ragkit.retrievers.dense import DenseRetriever
from ragkit.pipeline.rewrite import rewrite_and_retrieve
from ragkit.rewriters.base import MeanOfTexts, RewriteWarning
from ragkit.rewriters.genqr import INSTRUCTIONS
from ragkit.types import Chunk, Hit


def _rewriter(name: str, responses, **args):
    rw = build("rewriter", {"type": name, "llm": {"type": "fake", "responses": responses}, **args})
    return rw, rw._model()


def test_genqr_ensemble_appends_every_keyword_set_to_the_query():
    rw, llm = _rewriter("genqr-ensemble", ["purring, feline", "1. kitten\n2. purr"], n_instructions=2)
    [out] = rw.rewrite(["why do cats purr"])
    assert out.queries == ["why do cats purr purring feline kitten purr"]
    assert out.original == "why do cats purr" and out.metadata["keywords"] == [["purring", "feline"], ["kitten", "purr"]]
    # one prompt per instruction, each with the query
    assert len(llm.calls) == 2 and all("why do cats purr" in c for c in llm.calls)
    assert INSTRUCTIONS[0] in llm.calls[0] and INSTRUCTIONS[1] in llm.calls[1]


def test_genqr_is_deterministic_with_a_deterministic_llm():
    a, _ = _rewriter("genqr-fusion", {"Query": "kitten, purr"}, n_instructions=3)
    b, _ = _rewriter("genqr-fusion", {"Query": "kitten, purr"}, n_instructions=3)
    qs = ["why do cats purr", "reset my router"]
    assert [r.queries for r in a.rewrite(qs)] == [r.queries for r in b.rewrite(qs)]


def test_genqr_fusion_keeps_the_original_run_and_fuses(index_dir):
    rw, _ = _rewriter("genqr-fusion", ["kitten nursing", "dogs"], n_instructions=2)
    [out] = rw.rewrite(["why do cats purr"])
    assert out.queries == ["why do cats purr", "why do cats purr kitten nursing", "why do cats purr dogs"]
    [hits] = rewrite_and_retrieve(rw, BM25Retriever(index_dir), ["why do cats purr"], depth=5)
    assert hits[0].retriever == "rrf" and {h.chunk.source for h in hits[:2]} == {"felines.md", "kitten.md"}


def test_rf_variants_put_feedback_documents_in_the_prompt(index_dir):
    rw, llm = _rewriter("genqr-ensemble-rf", ["purring"], n_instructions=1, fb_docs=1)
    assert rw.needs_feedback
    marked = [[Hit("x", 1.0, 1, chunk=Chunk(text="Kittens purr while nursing.", source="k.md"))]]
    [out] = rw.rewrite(["why do cats purr"], feedback=marked)
    assert "Kittens purr while nursing." in llm.calls[0] and out.queries == ["why do cats purr purring"]
    # pseudo-relevance feedback: the top BM25 hit goes into the prompt
    rw, llm = _rewriter("genqr-fusion-rf", ["purring"], n_instructions=1, fb_docs=1)
    rewrite_and_retrieve(rw, BM25Retriever(index_dir), ["cats purr"], depth=3)
    assert "Cats purr when they are content" in llm.calls[0]


@pytest.mark.parametrize("name", ["genqr-ensemble", "genqr-fusion", "hyde", "multi-query"])
def test_failed_llm_falls_back_to_the_original_query(name, index_dir):
    rw = build("rewriter", {"type": name, "llm": {"type": "fake", "fail": True}})
    with pytest.warns(RewriteWarning, match="LLM call failed"):
        [out] = rw.rewrite(["reset the router"])
    assert out.queries == ["reset the router"] and out.fallback
    plain = BM25Retriever(index_dir).retrieve(["reset the router"], 3)
    with pytest.warns(RewriteWarning):
        hits = rewrite_and_retrieve(rw, BM25Retriever(index_dir), ["reset the router"], 3)
    assert [h.chunk_id for h in hits[0]] == [h.chunk_id for h in plain[0]]


@pytest.mark.parametrize("name", ["genqr-ensemble", "genqr-fusion-rf", "hyde", "multi-query"])
def test_garbage_or_empty_output_falls_back(name):
    rw = build("rewriter", {"type": name, "llm": {"type": "fake", "responses": ["", "}{][ ;;; 42"]}})
    feedback = [[Hit("x", 1.0, 1, chunk=Chunk(text="doc", source="d"))]]
    with pytest.warns(RewriteWarning, match="no usable"):
        [out] = rw.rewrite(["reset the router"], feedback=feedback)
    assert out.queries == ["reset the router"] and out.fallback


def test_hyde_averages_query_and_passages_for_dense(index_dir):
    passage = "Magma rises through the crust and erupts as lava from a volcano."
    rw = build("rewriter", {"type": "hyde", "llm": {"type": "fake", "default": passage}})
    [out] = rw.rewrite(["what happens at an eruption"])
    assert out.queries == ["what happens at an eruption", passage] and isinstance(out, MeanOfTexts)
    dense = DenseRetriever(index_dir)
    [hits] = rewrite_and_retrieve(rw, dense, ["what happens at an eruption"], depth=2)
    assert {h.chunk.source for h in hits} == {"volcano.md", "lava.md"}
    # the same vector by hand: mean of the two embeddings, normalised
    import numpy as np

    v = dense.embed_queries(out.queries).mean(axis=0)
    manual = dense.retrieve_vectors((v / np.linalg.norm(v))[None, :], 2)[0]
    assert [h.chunk_id for h in hits] == [h.chunk_id for h in manual]
    assert [h.score for h in hits] == pytest.approx([h.score for h in manual], abs=1e-5)
    # with BM25 the passage is appended to the query text (query2doc form)
    [hits] = rewrite_and_retrieve(rw, BM25Retriever(index_dir), ["what happens at an eruption"], depth=2)
    assert hits[0].chunk.source in {"volcano.md", "lava.md"}


def test_multi_query_parses_lines_and_drops_repeats_of_the_question():
    reply = "1. Why do cats purr?\n2. what makes a kitten purr\n3. cat purring reasons\n4. extra one here"
    rw = build("rewriter", {"type": "multi-query", "n_queries": 2, "original_weight": 2.0,
                            "llm": {"type": "fake", "default": reply}})
    [out] = rw.rewrite(["why do cats purr"])
    assert out.queries == ["why do cats purr", "what makes a kitten purr", "cat purring reasons"]
    assert out.weights == [2.0, 1.0, 1.0]


def test_use_llm_shares_a_built_model():
    rw = build("rewriter", {"type": "hyde"})
    fake = FakeLLM(default="A volcano erupts when magma rises through the crust.")
    rw.use_llm(fake)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [out] = rw.rewrite(["volcano"])
    assert len(out.queries) == 2 and fake.calls
    assert rw.to_config()["llm"] == "transformers"


def test_genqr_structured_asks_for_json_keywords_under_a_schema_and_reads_a_broken_reply_as_text():
    class Constrained(FakeLLM):
        supports_json_schema = True

        def chat_json(self, conversations, schema, max_new_tokens=None):
            self.schemas.append(schema)
            return super().chat_json(conversations, schema, max_new_tokens)

    llm = Constrained(responses=['{"keywords": ["purring", "feline, cat"]}', "kitten, purr"])
    llm.schemas = []
    rw = build("rewriter", {"type": "genqr-ensemble", "n_instructions": 2, "structured": True})
    rw.use_llm(llm)
    [out] = rw.rewrite(["why do cats purr"])
    assert out.metadata["keywords"] == [["purring", "feline cat"], ["kitten", "purr"]]
    assert all('Answer with JSON only: {"keywords"' in c for c in llm.calls)
    assert llm.schemas[0]["properties"]["keywords"]["maxItems"] == rw.max_keywords
    # a backend that cannot constrain gets the free-form prompt, structured or not
    plain, fake = _rewriter("genqr-ensemble", ["purring, feline"], n_instructions=1, structured=True)
    plain.rewrite(["why do cats purr"])
    assert "comma-separated list of keywords only" in fake.calls[0]
