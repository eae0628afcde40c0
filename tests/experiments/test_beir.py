"""BEIR and SciFact-CSV dataset loading, and the index-run-score loop on a tiny dataset."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest

from ragkit.experiments.beir import evaluate_beir, load_beir


def _beir_dir(root):
    root.mkdir()
    docs = [
        {"_id": "d1", "title": "Router manual", "text": "Hold the power button to reset the router."},
        {"_id": "d2", "title": "", "text": "Cats purr when they are content."},
        {"_id": "d3", "title": "Warranty", "text": "Defects are covered for two years."},
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": "q1", "text": "how to reset a router"}, {"_id": "q2", "text": "why do cats purr"},
               {"_id": "q3", "text": "not in the test qrels"}]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return root


def test_beir_layout(tmp_path):
    data = load_beir(_beir_dir(tmp_path / "tiny"))
    assert data.name == "tiny" and set(data.corpus) == {"d1", "d2", "d3"}
    assert data.queries == {"q1": "how to reset a router", "q2": "why do cats purr"}
    chunks = {c.id: c for c in data.chunks()}
    assert chunks["d1"].text == "Router manual Hold the power button to reset the router."
    assert chunks["d2"].text == "Cats purr when they are content." and chunks["d1"].source == "tiny/d1"


def test_scifact_csv_zip_layout(tmp_path):
    corpus = io.StringIO()
    writer = csv.writer(corpus)
    writer.writerow(["doc_id", "title", "abstract", "structured"])
    # the release's numpy-style list literal: items separated by a newline, no comma
    writer.writerow(["11", "Gene X", "['First sentence.'\n 'Second \"quoted\" one.']", "False"])
    writer.writerow(["12", "Other", "[\"It's one sentence\"]", "False"])
    claims = "id,claim,evidence_doc_id,evidence_label,evidence_sentences,cited_doc_ids\n" \
             "1,Gene X matters.,11,SUPPORT,[0],[11]\n1,Gene X matters.,11,SUPPORT,[1],[11]\n2,Unjudged.,,,[],[12]\n"
    with zipfile.ZipFile(tmp_path / "scifact.zip", "w") as zf:
        zf.writestr("corpus_train.csv", corpus.getvalue())
        zf.writestr("claims_validation.csv", claims)
    (tmp_path / "qrels-test.tsv").write_text("1\t 0 11\t1\n")
    data = load_beir(tmp_path)
    assert data.corpus["11"] == {"title": "Gene X", "text": 'First sentence. Second "quoted" one.'}
    assert data.corpus["12"]["text"] == "It's one sentence"
    assert data.queries == {"1": "Gene X matters."} and data.qrels == {"1": {"11": 1}}
    assert load_beir(tmp_path / "scifact.zip").corpus == data.corpus


def test_scifact_train_split_takes_its_qrels_from_the_cited_documents(tmp_path):
    corpus = "doc_id,title,abstract,structured\n11,Gene X,['One.'],False\n12,Other,['Two.'],False\n"
    claims = "id,claim,evidence_doc_id,evidence_label,evidence_sentences,cited_doc_ids\n" \
             "5,Gene X matters.,11,SUPPORT,[0],\"[11, 12]\"\n5,Gene X matters.,12,SUPPORT,[0],\"[11, 12]\"\n" \
             "6,Cites nothing in the corpus.,,,[],[999]\n7,No citations.,,,[],[]\n"
    with zipfile.ZipFile(tmp_path / "scifact.zip", "w") as zf:
        zf.writestr("corpus_train.csv", corpus)
        zf.writestr("claims_train.csv", claims)
    data = load_beir(tmp_path, split="train")
    assert data.qrels == {"5": {"11": 1, "12": 1}} and data.queries == {"5": "Gene X matters."}
    with pytest.raises(FileNotFoundError, match="qrels-test.tsv"):
        load_beir(tmp_path, split="test")


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus.jsonl"):
        load_beir(tmp_path)


def test_evaluate_beir_writes_runs_and_scores_them(tmp_path):
    data = load_beir(_beir_dir(tmp_path / "tiny"))
    seen = []
    results = evaluate_beir(
        data, tmp_path / "index", {"bm25": {"retriever": "bm25"}}, k=10, metrics=["ndcg@10", "mrr@10"],
        runs_dir=tmp_path / "runs", on_progress=lambda *a: seen.append(a),
    )
    assert results["bm25"]["aggregate"] == {"ndcg@10": 1.0, "mrr@10": 1.0}
    assert (tmp_path / "runs" / "bm25.trec").read_text().startswith("q1 Q0 d1 1 ")
    assert seen[-1] == ("bm25", 2, 2)
    again = evaluate_beir(data, tmp_path / "index", {"bm25": {"retriever": {"type": "bm25", "k1": 1.2}}}, k=10)
    assert again["bm25"]["n_queries"] == 2
    assert again["bm25"]["spec"] == {"retriever": {"type": "bm25", "k1": 1.2}, "k": 10}
    rewritten = evaluate_beir(data, tmp_path / "index", {"rm3": {"retriever": "bm25", "rewriter": "rm3",
                                                                  "reranker": "reorder"}}, k=10)
    assert rewritten["rm3"]["spec"]["rerank_k"] == 100  # BEIR's reranking depth unless the spec says
    assert rewritten["rm3"]["aggregate"]["ndcg@10"] > 0
    with pytest.raises(ValueError, match="leave 'index' out"):
        evaluate_beir(data, tmp_path / "index", {"x": {"index": "elsewhere"}}, k=10)
