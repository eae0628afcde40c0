"""``--rewrite lol:DIR`` through the pipeline with dense and hybrid retrieval, on a small real MiniLM index.

The encoder directory here is MiniLM itself saved with a ``prf.json`` (what ``ragkit tune prf``
writes, untrained): with no feedback (``fb_docs=0``) it must reproduce plain retrieval exactly,
which pins down that the query vector reaches the dense side (and, for hybrid, that BM25 still
reads the text); with feedback the vector changes and so does the dense side.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragkit.config import parse_component
from ragkit.indexes import fusion
from ragkit.pipeline import Pipeline
from ragkit.registry import build
from ragkit.rewriters.lol import PRF_FILE, PRFQueryEncoder

QUERIES = ["why do cats purr", "how do I reset the router", "what happens when a volcano erupts"]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> str:
    from ragkit.models import load_sentence_transformer

    out = tmp_path_factory.mktemp("lol") / "prf"
    model = load_sentence_transformer("minilm", "cpu")
    model.save(str(out))
    (out / PRF_FILE).write_text(json.dumps({"sep": model.tokenizer.sep_token, "max_chars": 300, "depths": [0, 2],
                                            "lambda_cr": 1.0}))
    return str(out)


def _ids(runs):
    return [[h.chunk_id for h in hits] for hits in runs]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_lol_without_feedback_is_plain_retrieval(index_dir, encoder_dir, mode):
    plain = Pipeline(index=index_dir, retriever=mode).retrieve(QUERIES, 5)[0]
    as_cli = parse_component("rewriter", f"lol:{encoder_dir},fb_docs=0")  # what --rewrite lol:DIR,fb_docs=0 gives
    assert as_cli == {"type": "lol", "model": encoder_dir, "fb_docs": 0}
    rewritten = Pipeline(index=index_dir, retriever=mode, rewriter=as_cli).retrieve(QUERIES, 5)[0]
    assert _ids(rewritten) == _ids(plain)
    rewriter = {"type": "lol", "model": encoder_dir, "fb_docs": 0}
    again = Pipeline(index=index_dir, retriever=mode, rewriter=rewriter).retrieve(QUERIES, 5)[0]
    assert _ids(again) == _ids(plain)
    for got, want in zip(again, plain):
        assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-4)


def test_hybrid_searches_bm25_with_the_text_and_dense_with_the_vector(index_dir, encoder_dir):
    hybrid = build("retriever", {"type": "hybrid", "index": index_dir, "depth": 6})
    dense = build("retriever", {"type": "dense", "index": index_dir})
    bm25 = build("retriever", {"type": "bm25", "index": index_dir})
    feedback = dense.retrieve(QUERIES, 2)
    vectors = PRFQueryEncoder(encoder_dir, fb_docs=2, device="cpu").encode(
        QUERIES, [[h.chunk.text for h in hits] for hits in feedback])
    got = hybrid.retrieve_text_vectors(QUERIES, vectors, 4)
    for hits, s, d in zip(got, bm25.retrieve(QUERIES, 6), dense.retrieve_vectors(vectors, 6)):
        assert [(h.chunk_id, h.score) for h in hits] == [(h.chunk_id, h.score) for h in fusion.rrf([s, d], rrf_k=60, limit=4)]
        assert all(h.retriever == "hybrid" and h.chunk is not None for h in hits)
    # the feedback moved the vector: the dense side is not the plain query's
    assert not np.allclose(vectors, dense.embed_queries(QUERIES), atol=1e-3)
    with pytest.raises(ValueError, match="one vector per query"):
        hybrid.retrieve_text_vectors(QUERIES, vectors[:2], 4)


def test_lol_through_the_hybrid_pipeline_uses_the_feedback(index_dir, encoder_dir):
    rewriter = {"type": "lol", "model": encoder_dir, "fb_docs": 2}
    pipeline = Pipeline(index=index_dir, retriever="hybrid", rewriter=rewriter)
    hits, timings = pipeline.retrieve(QUERIES, 4)
    assert all(len(h) == 4 and h[0].retriever == "hybrid" for h in hits)
    assert {"rewrite", "retrieve"} <= set(timings)
    assert "purr" in hits[0][0].chunk.text


def test_lol_with_bm25_alone_fails_before_any_search(index_dir, encoder_dir):
    pipeline = Pipeline(index=index_dir, retriever="bm25", rewriter=parse_component("rewriter", f"lol:{encoder_dir}"))
    with pytest.raises(ValueError, match="needs a dense or hybrid retriever, not BM25Retriever"):
        pipeline.retrieve(QUERIES, 3)
