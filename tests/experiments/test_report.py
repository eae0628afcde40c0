"""The compare report renders: Markdown tables, and self-contained HTML parsed with html.parser
(charts as data: URIs that decode to PNGs, one drill-down row per question and system, escaping)."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

from ragkit.experiments.report import bar_chart, html, markdown, render, write_reports

SYSTEMS = [("base-closed", "base LLM, closed-book", "closed-book"), ("base-rag", "base LLM + RAG", "rag"),
           ("lora-closed", "LoRA LLM, closed-book", "closed-book")]
METRICS = ["exact_match", "token_f1", "citation_precision"]


def _results() -> dict:
    questions = []
    for i, (q, gold) in enumerate([("How long is the <b>warranty</b>?", "12 years"), ("Which port?", "502")]):
        preds = {}
        for sid, _, mode in SYSTEMS:
            rag = mode == "rag"
            preds[sid] = {
                "text": f"{gold} [1]" if rag else "I don't know.", "mode": mode,
                "citations": [{"number": 1, "chunk_id": f"c{i}", "location": f"docs/manual.pdf p{i + 1}"}] if rag else [],
                "hits": [], "timings": {"generate": 0.5}, "idk": not rag,
                "metadata": {} if rag else {"idk_reason": "model"},
                "scores": {"exact_match": 1.0 if rag else 0.0, "token_f1": 1.0 if rag else 0.0,
                           "citation_precision": 1.0 if rag else None},
                "ragas": {"bleu": 0.5, "faithfulness": None},
                "ragas_missing": {"faithfulness": "parse_error" if rag else "not_applicable"},
            }
        questions.append({"id": i, "question": q, "gold": [gold], "gold_chunk_ids": [f"c{i}"], "gold_source": "docs/manual.pdf",
                          "split": ("interpolation", "extrapolation")[i], "nearest_train_similarity": 0.9 - 0.4 * i,
                          "predictions": preds})
    systems = []
    for n, (sid, name, mode) in enumerate(SYSTEMS):
        rag = mode == "rag"
        agg = {"exact_match": 1.0 if rag else 0.0, "token_f1": 1.0 if rag else 0.1 * n,
               "citation_precision": 1.0 if rag else None, "idk_rate": 0.0 if rag else 1.0, "n": 2}
        systems.append({
            "id": sid, "name": name, "llm": "tuned" if sid.startswith("lora") else "base", "mode": mode,
            "retriever": "base", "reranker": None, "aggregate": agg,
            "by_split": {"interpolation": {"token_f1": agg["token_f1"]}, "extrapolation": {"token_f1": None}},
            "costs": {"train_seconds": 12.5 if sid.startswith("lora") else 0.0, "load_seconds": 1.0, "answer_seconds": 2.0,
                      "latency_per_answer_s": 1.0 + n, "peak_rss_mb": 900.0 + n, "rss_added_mb": 10.0, "gpu_peak_mb": None},
            "ragas": {"aggregate": {"bleu": 0.5, "faithfulness": None}, "metrics": ["bleu", "faithfulness"],
                      "missing": {"bleu": {}, "faithfulness": {"parse_error": 2} if rag else {"not_applicable": 2}},
                      "counts": {"bleu": 2, "faithfulness": 0}, "judge": '{"model": "smollm2-135m", "type": "transformers"}'},
            "stage_seconds": {},
        })
    return {
        "name": "unit", "created": "2026-01-01T00:00:00", "metrics": METRICS, "config": {},
        "environment": {"ragkit": "0.1.0", "torch": "2", "machine": "x86_64", "cpus": 2, "torch_threads": 1, "cuda": False},
        "qa": {"source": "jsonl", "path": "qa.jsonl", "n_train": 5, "n_test": 2, "split": {"by": "question"}},
        "similarity_split": {"threshold": 0.7, "counts": {"interpolation": 1, "extrapolation": 1}},
        "index": {}, "tuning": {"generator": {"kind": "generator", "model": "runs/gen", "llm": None, "source": "trained",
                                              "record": {"n_train": 5, "train_loss_first": 2.0, "train_loss_last": 0.5},
                                              "cost": {"peak_rss_mb": 1200.0}, "train_seconds": 12.5}},
        "systems": systems, "questions": questions, "notes": ["a note"], "seconds_total": 42.0,
    }


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.rows, self.details, self.text = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag == "tr" and attrs.get("class") == "prediction":
            self.rows.append(attrs["data-system"])
        if tag == "details":
            self.details += 1

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_is_self_contained_with_charts_and_drilldown():
    page = html(_results())
    parser = _Collect()
    parser.feed(page)
    assert len(parser.images) >= 4
    for img in parser.images:
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert parser.details == 2  # one drill-down per question
    assert parser.rows == [sid for sid, _, _ in SYSTEMS] * 2  # one row per question and system
    text = " ".join(parser.text)
    for expected in ("base LLM + RAG", "docs/manual.pdf p1", "12 years", "parse_error", "interpolation", "a note"):
        assert expected in text
    assert "<b>warranty</b>" not in page and "&lt;b&gt;warranty&lt;/b&gt;" in page  # questions are escaped
    assert "http://" not in page and "https://" not in page  # nothing loaded from outside


def test_markdown_tables():
    md = markdown(_results())
    assert "| system | EM | F1 | citation prec. | IDK rate |" in md
    assert "| base LLM + RAG | 1.000 | 1.000 | 1.000 | 0.000 |" in md
    assert "| base LLM, closed-book | 0.000 | 0.000 | – | 1.000 |" in md  # undefined shows as a dash
    assert "| LoRA LLM, closed-book | 12.5 | 1.00 | 3.000 | 902 | 10 |" in md  # cost table
    assert "interpolation (n=1)" in md and "extrapolation (n=1)" in md
    assert "| base LLM + RAG | faithfulness | parse_error | 2 |" in md
    assert "| faithfulness | not_applicable |" not in md
    assert "2.000 → 0.500" in md


def test_write_and_render_round_trip(tmp_path):
    results = _results()
    write_reports(results, tmp_path)
    assert json.loads((tmp_path / "compare.json").read_text())["name"] == "unit"
    (tmp_path / "report.html").unlink()
    (tmp_path / "compare.md").unlink()
    path = render(tmp_path / "compare.json")
    assert path == tmp_path / "report.html" and path.is_file() and (tmp_path / "compare.md").is_file()


def test_bar_chart_marks_missing_values():
    uri = bar_chart("t", ["a", "b"], {"s1": [0.5, None], "s2": [1.0, 0.2]})
    assert base64.b64decode(uri.split(",", 1)[1])[:4] == b"\x89PNG"


def test_resampled_split_is_described_in_both_reports():
    results = _results()
    results["similarity_split"] = {"method": "resample", "buckets": 5, "fold": 2, "n_train_removed": 3,
                                   "counts": {"interpolation": 1, "extrapolation": 1, "neither": 0}}
    md = markdown(results)
    assert "Zhan et al. 2022 (ReSTTest)" in md and "cluster 2 held out" in md and "3 training questions were removed" in md
    assert "interpolation (n=1)" in md
    assert "cluster 2 held out" in html(results)
