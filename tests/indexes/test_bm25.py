"""BM25Index: parity with rank-bm25 and with the Lucene formula, persistence, incremental updates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rank_bm25

from ragkit.indexes.bm25 import BM25Index

DOCS = [
    "the quick brown fox jumps over the lazy dog",
    "a quick brown dog outpaces a quick fox",
    "lazy dogs sleep all day long",
    "foxes are quick and clever animals",
    "the dog and the fox are friends",
    "brown bears eat honey in the forest",
    "quick quick quick dog",
    "dog dog dog fox",
    "honey bees make honey",
    "a forest of brown trees",
]
IDS = [f"d{i}" for i in range(len(DOCS))]
QUERIES = ["quick dog", "fox", "lazy brown bears", "dog dog honey", "forest trees", "clever foxes jump"]


def _scores(index: BM25Index, query: str) -> np.ndarray:
    out = np.zeros(len(IDS))
    for hit in index.search([query], k=len(IDS))[0]:
        out[IDS.index(hit.chunk_id)] = hit.score
    return out


def _index(**kw) -> BM25Index:
    index = BM25Index(**kw)
    index.add(IDS, DOCS)
    return index


@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (0.9, 0.4), (1.2, 0.0)])
def test_okapi_scores_match_rank_bm25(k1, b):
    # method="okapi" is rank-bm25's BM25Okapi: log((N-df+.5)/(df+.5)) idf with negative idfs
    # floored to epsilon * mean idf, and the (k1 + 1) tf factor. The fixture has a term in more
    # than half the documents ("dog": floored) and one in exactly half ("fox": idf 0).
    index = _index(method="okapi", k1=k1, b=b)
    reference = rank_bm25.BM25Okapi(index.analyzer.many(DOCS), k1=k1, b=b, epsilon=0.25)
    floor = reference.epsilon * reference.average_idf
    assert reference.idf["dog"] == pytest.approx(floor) and reference.idf["fox"] == 0.0
    for query in QUERIES:
        expected = reference.get_scores(index.analyzer(query))
        np.testing.assert_allclose(_scores(index, query), expected, atol=1e-5, rtol=0)


def test_lucene_scores_match_the_formula_by_hand():
    # Lucene / Pyserini BM25 (the default): idf = ln(1 + (N - df + .5)/(df + .5)),
    # tf part = tf / (tf + k1 (1 - b + b dl/avgdl)), no (k1 + 1) factor.
    k1, b = 0.9, 0.4
    index = _index(k1=k1, b=b)
    docs = index.analyzer.many(DOCS)
    avgdl = sum(map(len, docs)) / len(docs)
    for query in QUERIES:
        expected = np.zeros(len(docs))
        for term in index.analyzer(query):
            df = sum(term in d for d in docs)
            if not df:
                continue
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            for n, d in enumerate(docs):
                tf = d.count(term)
                expected[n] += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))
        np.testing.assert_allclose(_scores(index, query), expected, atol=1e-5, rtol=0)


def test_hits_are_ranked_matching_docs_with_ties_broken_by_id():
    hits = _index().search(["honey"], k=10)[0]
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert {h.chunk_id for h in hits} == {"d5", "d8"}  # only documents sharing a term
    assert all(h.retriever == "bm25" for h in hits)
    tied = _index().search(["fox"], k=10)[0]  # idf > 0 under lucene; equal-length docs tie
    keys = [(-h.score, h.chunk_id) for h in tied]
    assert keys == sorted(keys)


def test_unknown_terms_and_empty_index_give_no_hits():
    assert _index().search(["zebra", ""], k=5) == [[], []]
    assert BM25Index().search(["fox"], k=5) == [[]]


def test_save_load_round_trip(tmp_path):
    index = _index(method="okapi")
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.config() == index.config()
    for query in QUERIES:
        assert loaded.search([query], k=5) == index.search([query], k=5)
    # a loaded index keeps working incrementally
    loaded.add(["new"], ["a brand new fox document"])
    assert "new" in {h.chunk_id for h in loaded.search(["brand"], k=3)[0]}


def test_empty_index_round_trips(tmp_path):
    BM25Index().save(tmp_path / "e")
    loaded = BM25Index.load(tmp_path / "e")
    assert len(loaded) == 0 and loaded.search(["x"]) == [[]]


def test_incremental_add_and_delete_equal_a_fresh_build():
    incremental = BM25Index()
    incremental.add(IDS[:7], DOCS[:7])
    incremental.search(["fox"])  # build the engine, so later updates must invalidate it
    assert incremental.delete(["d1", "d4", "missing"]) == ["d1", "d4"]
    incremental.add(IDS[7:] + ["d1"], DOCS[7:] + ["a changed text about bees"])
    fresh = BM25Index()
    order = [2, 9, 0, 8, 3, 5, 6, 7]  # another insertion order: results must not depend on it
    fresh.add([IDS[i] for i in order] + ["d1"], [DOCS[i] for i in order] + ["a changed text about bees"])
    assert sorted(incremental.ids) == sorted(fresh.ids)
    for query in QUERIES + ["bees", "friends"]:
        a, b = incremental.search([query], k=10)[0], fresh.search([query], k=10)[0]
        assert [h.chunk_id for h in a] == [h.chunk_id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-6)
    assert incremental.search(["friends"], k=3) == [[]]  # d4 is gone with its only "friend"


def test_re_adding_an_id_replaces_its_text():
    index = _index()
    index.add(["d0"], ["zebras only"])
    assert len(index) == len(IDS)
    assert [h.chunk_id for h in index.search(["zebra"])[0]] == ["d0"]
    assert "d0" not in {h.chunk_id for h in index.search(["jumps"])[0]}


def test_allowed_ids_filter_results():
    index = _index()
    allowed = frozenset({"d3", "d7"})
    hits = index.search(["fox dog"], k=10, allowed=allowed)[0]
    assert {h.chunk_id for h in hits} == {"d3", "d7"}
    assert index.search(["honey"], k=10, allowed=allowed) == [[]]


def test_weighted_terms_generalise_term_lists():
    index = _index()
    as_list = index.search_terms([["quick", "dog", "dog"]], k=10)[0]
    as_dict = index.search_terms([{"quick": 1.0, "dog": 2.0}], k=10)[0]
    assert [h.chunk_id for h in as_list] == [h.chunk_id for h in as_dict]
    np.testing.assert_allclose([h.score for h in as_list], [h.score for h in as_dict], rtol=1e-5)
    assert index.document_terms("d6") == ["quick", "quick", "quick", "dog"]


def test_with_params_rescores_like_a_fresh_index():
    base = _index()
    changed = base.with_params(k1=1.5, b=0.75, method="okapi")
    fresh = _index(k1=1.5, b=0.75, method="okapi")
    for query in QUERIES:
        assert changed.search([query], k=5) == fresh.search([query], k=5)
    assert base.config()["k1"] == 0.9  # the original is untouched
    with pytest.raises(ValueError, match="re-index"):
        base.with_params(stemmer=None)


@pytest.mark.parametrize("method", ["robertson", "atire", "bm25l", "bm25+"])
def test_other_bm25s_methods_rank_matching_documents(method):
    hits = _index(method=method).search(["honey bees"], k=10)[0]
    assert hits and hits[0].chunk_id == "d8"
    assert {h.chunk_id for h in hits} <= {"d5", "d8"}


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown BM25 method"):
        BM25Index(method="bm26")
    with pytest.raises(ValueError, match="same chunk id twice"):
        BM25Index().add(["a", "a"], ["x", "y"])
    with pytest.raises(ValueError, match="2 ids but 1 texts"):
        BM25Index().add(["a", "b"], ["x"])


@pytest.mark.parametrize("method", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
def test_score_matrix_equals_bm25s_own_indexing_bit_for_bit(method):
    """ragkit writes bm25s' formulas out (no private bm25s calls): this fails if bm25s changes them."""
    import bm25s

    ours = _index(method=method, k1=1.1, b=0.6)
    matrix = ours.matrix
    reference = bm25s.BM25(method=method, k1=1.1, b=0.6)
    reference.index(([[ours._vocab[t] for t in d] for d in ours.analyzer.many(DOCS)], dict(ours._vocab)),
                    create_empty_token=False, show_progress=False)
    np.testing.assert_array_equal(matrix.indptr, reference.scores["indptr"])
    np.testing.assert_array_equal(matrix.indices, reference.scores["indices"])
    np.testing.assert_array_equal(matrix.data, reference.scores["data"])
    if reference.nonoccurrence_array is None:
        assert matrix.nonoccurrence is None
    else:
        np.testing.assert_array_equal(matrix.nonoccurrence, reference.nonoccurrence_array)


@pytest.mark.parametrize("method", ["lucene", "bm25+"])
def test_saved_index_is_read_by_bm25s_with_the_same_scores(tmp_path, method):
    import bm25s

    ours = _index(method=method)
    ours.save(tmp_path / "bm25")
    theirs = bm25s.BM25.load(tmp_path / "bm25", show_progress=False)
    for query in (["quick dog"], ["honey forest"], ["lazy brown bears"]):
        terms = ours.analyzer(query[0])
        cols = [ours._vocab[t] for t in terms if t in ours._vocab]
        if not cols:
            continue
        expected = theirs.get_scores_from_ids(cols)
        hits = ours.search(query, k=len(DOCS))[0]
        for hit in hits:
            assert hit.score == pytest.approx(float(expected[ours._row[hit.chunk_id]]), rel=1e-6)


def test_numba_and_numpy_backends_give_identical_hits():
    pytest.importorskip("numba", reason="numba is not installed: pip install 'ragkit[fast]'")
    fast, plain = _index(backend="numba"), _index(backend="numpy")
    queries = [*QUERIES, "dog dog dog", "nothing-matches-this"]
    for k in (1, 2, 5, 100):
        assert fast.search(queries, k=k) == plain.search(queries, k=k)  # batch kernel
        assert [fast.search([q], k=k)[0] for q in queries] == plain.search(queries, k=k)  # one-query kernel
    allowed = frozenset({"d5", "d8", "d1"})
    assert fast.search(queries, k=3, allowed=allowed) == plain.search(queries, k=3, allowed=allowed)


def test_run_equals_search_at_depth():
    index = _index()
    queries = ["quick dog", "honey forest"]
    run = index.run(["q1", "q2"], queries, k=4)
    for qid, hits in zip(["q1", "q2"], index.search(queries, k=4)):
        assert run[qid] == {h.chunk_id: h.score for h in hits}
    with pytest.raises(ValueError, match="2 query ids but 1 queries"):
        index.run(["q1", "q2"], ["x"])


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown BM25 backend"):
        BM25Index(backend="gpu")
