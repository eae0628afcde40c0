"""RM3 (Anserini's math) on hand-checked numbers and a real BM25 index; Rocchio / average PRF vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragkit.indexes.bm25 import BM25Index
from ragkit.indexes.index import Index
from ragkit.registry import build
from ragkit.retrievers.bm25 import BM25Retriever
from ragkit.retrievers.dense import DenseRetriever
from ragkit.pipeline.rewrite import rewrite_and_retrieve
from ragkit.rewriters.prf import RM3, AveragePRF, Rocchio, interpolate, relevance_model
from ragkit.types import Hit

DOCS = [(["cat", "cat", "purr", "sofa"], 2.0), (["cat", "dog"], 1.0)]


class Terms:
    """A searcher that offers only the term statistics of an in-memory BM25 index."""

    def __init__(self, bm25: BM25Index):
        self.bm25 = bm25

    def retrieve(self, queries, k=10):
        return self.bm25.search(queries, k)

    def retrieve_terms(self, queries, k=10):
        return self.bm25.search_terms(queries, k)

    def term_statistics(self):
        return self.bm25


def test_relevance_model_by_hand():
    # doc 1: tf/|d| = cat 2/4, purr 1/4, sofa 1/4, times score 2; doc 2: cat 1/2, dog 1/2, times 1
    # sums: cat 1.5, purr .5, sofa .5, dog .5 -> L1-normalised over 3.0
    rm = relevance_model(DOCS, fb_terms=10)
    assert rm == pytest.approx({"cat": 0.5, "purr": 1 / 6, "sofa": 1 / 6, "dog": 1 / 6})


def test_relevance_model_prunes_each_document_then_the_model():
    # fb_terms=2: doc 1 keeps cat 2, purr 1 (tie with sofa broken alphabetically), |d| = 3
    # cat = 2/3*2 + 1/2*1 = 11/6, purr = 1/3*2 = 4/6, dog = 1/2 = 3/6 -> keep cat, purr -> / (15/6)
    rm = relevance_model(DOCS, fb_terms=2)
    assert rm == pytest.approx({"cat": 11 / 15, "purr": 4 / 15})
    assert list(rm) == ["cat", "purr"]


def test_relevance_model_filter_and_empty_documents():
    rm = relevance_model(DOCS + [(["the"], 5.0)], fb_terms=10, keep=lambda t: t not in ("cat", "the"))
    assert rm == pytest.approx({"purr": 1 / 3, "sofa": 1 / 3, "dog": 1 / 3})  # "the"-only doc skipped
    assert relevance_model([], fb_terms=10) == {}


def test_interpolation_with_the_original_query():
    rm = {"cat": 11 / 15, "purr": 4 / 15}
    q = interpolate(["cat", "meow"], rm, original_query_weight=0.5)
    assert q == pytest.approx({"cat": 0.25 + 11 / 30, "meow": 0.25, "purr": 2 / 15})
    assert sum(q.values()) == pytest.approx(1.0)
    assert interpolate(["cat", "cat", "meow"], {}, 1.0) == pytest.approx({"cat": 2 / 3, "meow": 1 / 3})


WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def _bm25() -> BM25Index:
    texts = {
        "fel": "cats purr on the sofa; cats purr when content",
        "kit": "kittens purr while nursing",
        **{f"s{i}": f"a study of {w} in the laboratory" for i, w in enumerate(WORDS)},
    }
    index = BM25Index()
    index.add(list(texts), list(texts.values()))
    return index


def test_rm3_uses_analyzed_feedback_terms_and_drops_frequent_ones():
    bm25 = _bm25()
    rm3 = RM3(fb_docs=1, fb_terms=3, original_query_weight=0.6, max_df=0.2)
    assert bm25.document_frequencies(["studi", "purr", "laboratori", "nope"]) == [10, 2, 10, 0]
    [out] = rm3.rewrite(["cats"], feedback=[[Hit("fel", 2.0, 1)]], searcher=Terms(bm25))
    # "fel" analyzed: cat x2, purr x2 (df 2/12 <= 0.2), sofa, when, content ("on", "the" are
    # stopwords). Top 3 by tf, ties alphabetical: cat 2, purr 2, content 1 -> |d| = 5
    assert out.metadata["expansion"] == pytest.approx({"cat": 0.4, "purr": 0.4, "content": 0.2})
    assert out.term_weights == pytest.approx({"cat": 0.6 + 0.4 * 0.4, "purr": 0.16, "content": 0.08})
    assert out.original == "cats" and not out.fallback


def test_rm3_max_df_excludes_collection_wide_terms():
    bm25 = _bm25()
    rm3 = RM3(fb_docs=2, fb_terms=10, max_df=0.5)
    [out] = rm3.rewrite(["beta"], feedback=[[Hit("s1", 1.0, 1), Hit("s2", 1.0, 2)]], searcher=Terms(bm25))
    # "studi" and "laboratori" are in 10 of 12 documents (> 50 %): only the rare words remain
    assert out.metadata["expansion"] == pytest.approx({"beta": 0.5, "gamma": 0.5})
    assert RM3(max_df=0.1).max_df == 0.1 and RM3().to_config() == {
        "type": "rm3", "fb_docs": 10, "fb_terms": 10, "original_query_weight": 0.5, "max_df": 0.1}


def test_rm3_end_to_end_finds_a_document_without_the_query_terms(index_dir):
    retriever = BM25Retriever(index_dir)
    plain = retriever.retrieve(["cats content"], 5)[0]
    assert [h.chunk.source for h in plain] == ["felines.md"]
    rm3 = build("rewriter", {"type": "rm3", "fb_docs": 1, "fb_terms": 10, "max_df": 0.5})
    timings: dict[str, float] = {}
    [hits] = rewrite_and_retrieve(rm3, retriever, ["cats content"], depth=5, timings=timings)
    sources = [h.chunk.source for h in hits]
    assert sources[0] == "felines.md" and "kitten.md" in sources  # reached through "purr"
    assert {"retrieve", "rewrite"} <= set(timings)
    with pytest.raises(ValueError, match=r"needs a retriever with TermSearch \(bm25\)"):
        rewrite_and_retrieve(rm3, DenseRetriever(index_dir), ["cats"], depth=3)


class Vectors:
    """A searcher with fixed query and document vectors (``VectorSearch``)."""

    docs = {"a": [0.0, 1.0, 0.0], "b": [0.0, 0.0, 1.0]}

    def retrieve(self, queries, k=10):
        return [[] for _ in queries]

    def embed_queries(self, queries):
        return np.array([[1.0, 0.0, 0.0]] * len(queries))

    def retrieve_vectors(self, vectors, k=10):
        return [[] for _ in vectors]

    def document_vectors(self, ids):
        return np.array([self.docs[i] for i in ids])


def test_rocchio_vector_by_hand():
    rocchio = Rocchio(fb_docs=2, alpha=0.4, beta=0.6)
    [out] = rocchio.rewrite(["q"], [[Hit("a", 1, 1), Hit("b", 1, 2), Hit("c", 1, 3)]], searcher=Vectors())
    norm = math.sqrt(0.4**2 + 0.3**2 + 0.3**2)
    assert out.vector == pytest.approx([0.4 / norm, 0.3 / norm, 0.3 / norm])
    [avg] = AveragePRF(fb_docs=2).rewrite(["q"], [[Hit("a", 1, 1), Hit("b", 1, 2)]], searcher=Vectors())
    assert avg.vector == pytest.approx([1 / math.sqrt(3)] * 3)  # mean of q, a, b, normalised
    assert AveragePRF(fb_docs=4).to_config() == {"type": "average-prf", "fb_docs": 4}


def test_rocchio_end_to_end_matches_the_formula(index_dir):
    dense = DenseRetriever(index_dir)
    rocchio = build("rewriter", {"type": "rocchio", "fb_docs": 2})
    [hits] = rewrite_and_retrieve(rocchio, dense, ["why do cats purr"], depth=3)
    first = dense.retrieve(["why do cats purr"], 2)[0]
    q = dense.embed_queries(["why do cats purr"])[0]
    v = 0.4 * q + 0.6 * Index.open(index_dir).vectors([h.chunk_id for h in first]).mean(axis=0)
    manual = dense.retrieve_vectors((v / np.linalg.norm(v))[None, :], 3)[0]
    assert [h.chunk_id for h in hits] == [h.chunk_id for h in manual] and hits[0].retriever == "dense"
    with pytest.raises(ValueError, match=r"needs a retriever with VectorSearch \(dense\)"):
        rewrite_and_retrieve(rocchio, BM25Retriever(index_dir), ["cats"], depth=3)
