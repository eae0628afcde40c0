"""ragkit compare: config checks, QA splits, interpolation/extrapolation labels, and end-to-end runs
on a small corpus with a user's QA JSONL (fake LLMs; given retriever / reranker models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ragkit.experiments.compare_config import CompareConfig, SystemSpec, load_config
from ragkit.experiments.compare_data import attach_passages, similarity_labels, similarity_split, split_pairs
from ragkit.tuning.data import QAPair
from ragkit.types import Chunk

ROOT = Path(__file__).resolve().parents[2]

QA = [
    ("What is the maximum operating pressure of the AquaPump 300?", "6 bar", "pump.md"),
    ("What pressure must the AquaPump 300 never exceed?", "6 bar", "pump.md"),
    ("How often should the intake filter be cleaned?", "every three months", "pump.md"),
    ("How long does the battery take to charge fully?", "90 minutes", "battery.md"),
    ("How long is the battery warranty?", "five years", "battery.md"),
    ("What is the warranty period of the battery?", "five years", "battery.md"),
]


# -- config -----------------------------------------------------------------------------------

def test_config_defaults_and_validation(tmp_path):
    cfg = CompareConfig.from_dict({"corpus": "docs", "qa": {"source": "jsonl", "path": "qa.jsonl"}}, tmp_path)
    assert [s.id for s in cfg.systems][:4] == ["base-closed", "base-rag", "lora-closed", "lora-rag"]
    assert cfg.tuning == {"generator": {}, "retriever": {}, "reranker": {}}  # all trained by default
    assert cfg.qa["split"] == {"by": "question", "test": 0.3, "seed": 0}
    assert cfg.path("qa.jsonl") == tmp_path.resolve() / "qa.jsonl"
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['retriver'\]"):
        CompareConfig.from_dict({"retriver": "bm25"})
    with pytest.raises(ValueError, match="set qa.path"):
        CompareConfig.from_dict({"qa": {"source": "jsonl"}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['questions'\] in qa"):
        CompareConfig.from_dict({"qa": {"questions": 3}})
    with pytest.raises(ValueError, match="closed-book system retrieves nothing"):
        SystemSpec("x", "x", mode="closed-book", pipeline={"reranker": {"type": "cross-encoder", "model": "tuned:reranker"}})
    with pytest.raises(ValueError, match=r"unknown tuning\(s\) \['rewriter'\]"):
        SystemSpec("x", "x", pipeline={"rewriter": "tuned:rewriter"})
    with pytest.raises(ValueError, match="unknown pipeline stage"):
        SystemSpec("x", "x", pipeline={"retreiver": "bm25"})
    with pytest.raises(ValueError, match="unknown metric"):
        CompareConfig.from_dict({"metrics": ["bleu"]})
    partial = CompareConfig.from_dict({"tuning": {"generator": {"epochs": 1}}})
    assert partial.tuning == {"generator": {"epochs": 1}, "retriever": None, "reranker": None}


def test_a_system_is_a_pipeline_overlay_with_tuned_references(tmp_path):
    from ragkit.experiments.compare import system_spec
    from ragkit.experiments.compare_models import Tuned

    cfg = CompareConfig.from_dict({"retriever": "hybrid", "k": 3, "generator": {"max_new_tokens": 32}}, tmp_path)
    tuned = {"reranker": Tuned("reranker", model="runs/ce"), "generator": Tuned("generator", llm={"type": "fake"})}
    system = SystemSpec("rm3-rerank", "BM25 + RM3 + tuned reranker", pipeline={
        "retriever": "bm25", "rewriter": {"type": "rm3", "fb_docs": 5},
        "reranker": {"type": "cross-encoder", "model": "tuned:reranker", "first_stage_weight": 0.5},
        "generator": {"llm": "tuned:generator"}})
    assert system.needs == {"reranker", "generator"}
    spec = system_spec(cfg, system, tmp_path / "idx", tuned)
    assert spec == {"index": str(tmp_path / "idx"), "retriever": "bm25", "k": 3,
                    "rewriter": {"type": "rm3", "fb_docs": 5},
                    "reranker": {"type": "cross-encoder", "model": "runs/ce", "first_stage_weight": 0.5},
                    "generator": {"type": "llm", "max_new_tokens": 32, "llm": {"type": "fake"}}}
    closed = system_spec(cfg, SystemSpec("c", "c", mode="closed-book"), tmp_path / "idx", tuned)
    assert "index" not in closed
    with pytest.raises(ValueError, match="tuned retriever but the retriever is bm25"):
        system_spec(cfg, SystemSpec("t", "t", pipeline={"retriever": "bm25", "index": "tuned:retriever"}),
                    tmp_path / "idx", {"retriever": Tuned("retriever", index="x")})


def test_shipped_configs_are_valid():
    for path in (ROOT / "examples" / "compare-demo.yaml", ROOT / "examples" / "compare-demo-qa.yaml"):
        cfg = load_config(path)
        assert cfg.corpus == ["demo"] and len(cfg.systems) == 6


def test_demo_qa_jsonl_matches_the_demo_corpus(tmp_path):
    """The hand-written demo QA names real chunks and each answer is found in its chunk."""
    from ragkit.defaults import DEMO_CORPUS
    from ragkit.eval.answers import normalize_answer
    from ragkit.indexes.store import ChunkStore
    from ragkit.ingest import ingest
    from ragkit.tuning.data import read_qa_jsonl

    ingest([DEMO_CORPUS], tmp_path / "idx")
    pairs = read_qa_jsonl(ROOT / "examples" / "demo-qa.jsonl", store=ChunkStore.load(tmp_path / "idx"))
    assert len(pairs) >= 40
    found = [any(f" {normalize_answer(a)} " in f" {normalize_answer(p.contexts[0])} "
                 for a in [p.answer, *p.metadata.get("aliases", [])]) for p in pairs]
    assert sum(found) >= len(pairs) - 2  # two answers are paraphrases ("No", "hold the WPS button")


# -- data -------------------------------------------------------------------------------------

def _pairs() -> list[QAPair]:
    return [QAPair(question=q, answer=a, source=s) for q, a, s in QA]


def test_question_split_is_disjoint_and_seeded():
    train, test = split_pairs(_pairs(), {"by": "question", "test": 0.5, "seed": 0})
    assert len(train) == 3 and len(test) == 3
    assert not {p.question for p in train} & {p.question for p in test}
    again = split_pairs(_pairs(), {"by": "question", "test": 0.5, "seed": 0})
    assert [p.question for p in again[1]] == [p.question for p in test]
    assert {p.metadata["split"] for p in test} == {"test"}


def test_document_split_keeps_sources_apart():
    train, test = split_pairs(_pairs(), {"by": "document", "test": 0.5, "seed": 1})
    assert {p.source for p in train}.isdisjoint({p.source for p in test})


def test_given_split_uses_the_pairs_field():
    pairs = _pairs()
    for i, p in enumerate(pairs):
        p.metadata["split"] = "test" if i in (0, 3) else "train"
    train, test = split_pairs(pairs, {"by": "given", "test": 0.3, "seed": 0}, max_test=1)
    assert [p.question for p in test] == [QA[0][0]] and len(train) == 4
    pairs[1].metadata.pop("split")
    with pytest.raises(ValueError, match="have no split"):
        split_pairs(pairs, {"by": "given", "test": 0.3, "seed": 0})


def test_similarity_split_resamples_and_drops_the_held_out_clusters_training_questions():
    def embed(texts):
        import numpy as np

        return np.asarray([[1.0, 0.0] if t.startswith("router") else [0.0, 1.0] for t in texts])

    train = [QAPair(question=q, answer="a") for q in ("router reset", "cat food", "router lights", "cat purr")]
    test = [QAPair(question=q, answer="a") for q in ("cat sleep", "router cable", "cat toys")]
    settings = {"method": "resample", "threshold": None, "buckets": 2, "fold": 1}
    kept, labels, nearest, record = similarity_split(train, test, settings, embed=embed)
    assert [p.question for p in kept] == ["router reset", "router lights"]  # the cats' cluster (1) is held out
    assert labels == ["extrapolation", "interpolation", "extrapolation"] and nearest[1] == pytest.approx(1.0)
    assert record["method"] == "resample" and record["n_train_removed"] == 2
    assert record["counts"] == {"interpolation": 1, "extrapolation": 2, "neither": 0}
    kept, labels, _, record = similarity_split(train, test, {**settings, "method": "nearest", "threshold": 0.5}, embed=embed)
    assert kept == train and labels == ["interpolation"] * 3 and record["threshold"] == 0.5
    with pytest.raises(ValueError, match="no cluster"):
        similarity_split(train, test[:1], {**settings, "fold": None}, embed=embed)


def test_similarity_labels_with_hand_vectors():
    vectors = {"t1": [1.0, 0.0, 0.0], "t2": [0.0, 1.0, 0.0], "near": [0.9, 0.1, 0.0], "far": [0.0, 0.0, 1.0],
               "mid": [0.6, 0.0, 0.8]}

    def embed(texts):
        import numpy as np

        v = np.asarray([vectors[t] for t in texts])
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    train = [QAPair(question="t1", answer="a"), QAPair(question="t2", answer="a")]
    test = [QAPair(question=q, answer="a") for q in ("near", "far", "mid")]
    labels, nearest, threshold = similarity_labels(train, test, embed=embed)
    assert nearest[1] == pytest.approx(0.0) and nearest[2] == pytest.approx(0.6)
    assert threshold == pytest.approx(0.6)  # the median
    assert labels == ["interpolation", "extrapolation", "interpolation"]
    labels, _, _ = similarity_labels(train, test, threshold=0.95, embed=embed)
    assert labels == ["interpolation", "extrapolation", "extrapolation"]  # cos(near, t1) = 0.994


def test_attach_passages_finds_the_answer_chunk():
    chunks = [Chunk(text="The maximum operating pressure is 6 bar.", source="docs/pump.md"),
              Chunk(text="Runs at 16 bar in tests.", source="docs/pump.md"),
              Chunk(text="6 bar elsewhere.", source="other.md")]
    pairs = [QAPair(question="q", answer="6 bar", source="pump.md"), QAPair(question="q2", answer="7 bar")]
    assert attach_passages(pairs, chunks) == 1
    assert pairs[0].chunk_id == chunks[0].id and pairs[0].contexts == [chunks[0].text]  # "16 bar" is not "6 bar"
    assert pairs[1].chunk_id is None and pairs[0].metadata["contexts_from"] == "answer_match"


# -- end to end -------------------------------------------------------------------------------

def _corpus_and_qa(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "pump.md").write_text(
        "# Pump manual\n\n## Pressure\nThe maximum operating pressure of the AquaPump 300 is 6 bar. Never exceed it.\n\n"
        "## Filter\nClean the intake filter every three months with warm water.\n", encoding="utf-8")
    (tmp_path / "corpus" / "battery.md").write_text(
        "# Battery guide\n\n## Charging\nThe battery charges fully in 90 minutes with the supplied charger.\n\n"
        "## Warranty\nThe battery warranty lasts five years from the date of purchase.\n", encoding="utf-8")
    with (tmp_path / "qa.jsonl").open("w", encoding="utf-8") as fh:  # the user's format: question, answer, source
        for q, a, s in QA:
            fh.write(json.dumps({"question": q, "answer": a, "source": s}) + "\n")


def _fake_llms() -> tuple[dict, dict]:
    rag = {f"Question: {q}\n\nContexts:": f"{a} [1]" for q, a, _ in QA}
    base = {"type": "fake", "responses": rag, "default": "I don't know."}  # knows nothing closed-book
    tuned = {"type": "fake", "responses": {**rag, **{f"Question: {q}": a for q, a, _ in QA}}, "default": "no idea"}
    return base, tuned


@pytest.fixture(scope="module")
def reranker_dir(tmp_path_factory) -> Path:
    """A CrossEncoder made from the bundled MiniLM with a fresh (untrained) head."""
    from sentence_transformers import CrossEncoder

    from ragkit.models import resolve

    out = tmp_path_factory.mktemp("ce") / "ce"
    CrossEncoder(resolve("minilm"), num_labels=1, device="cpu").save(str(out))
    return out


def test_compare_end_to_end_with_a_user_qa_jsonl(tmp_path, reranker_dir):
    from ragkit.experiments.compare import compare_from_file
    from ragkit.models import resolve

    _corpus_and_qa(tmp_path)
    base, tuned = _fake_llms()
    config = {
        "name": "unit", "corpus": "corpus", "k": 2,
        "qa": {"source": "jsonl", "path": "qa.jsonl", "split": {"by": "question", "test": 0.5, "seed": 0}},
        "llm": base,
        "tuning": {"generator": {"llm": tuned}, "retriever": {"model": resolve("minilm")}, "reranker": {"model": str(reranker_dir)}},
        "ragas": {"metrics": ["exact_match", "bleu", "non_llm_context_recall", "faithfulness"], "llm_metrics": True,
                  "judge": {"type": "fake", "default": "not json"}, "max_samples": 1},
    }
    (tmp_path / "compare.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    out = tmp_path / "out"
    results = compare_from_file(tmp_path / "compare.yaml", out)

    for name in ("compare.json", "compare.md", "report.html", "qa/train.jsonl", "qa/test.jsonl", "config.resolved.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "compare.json").read_text())["name"] == "unit"
    systems = {s["id"]: s for s in results["systems"]}
    assert list(systems) == ["base-closed", "base-rag", "lora-closed", "lora-rag", "base-rag-tuned-retriever",
                             "base-rag-tuned-reranker"]
    n = results["qa"]["n_test"]
    assert n == 3 and results["qa"]["passages_found"] == 6  # every answer located in its source
    agg = {sid: s["aggregate"] for sid, s in systems.items()}
    assert agg["base-closed"]["exact_match"] == 0.0 and agg["base-closed"]["idk_rate"] == 1.0
    assert agg["lora-closed"]["exact_match"] == 1.0 and agg["lora-closed"]["token_f1"] == 1.0
    for sid in ("base-rag", "lora-rag", "base-rag-tuned-retriever"):  # cited answers, citation markers ignored
        assert agg[sid]["exact_match"] == 1.0, sid
        assert agg[sid]["citation_precision"] == 1.0 and agg[sid]["gold_in_context"] == 1.0, sid
    assert agg["base-closed"]["citation_precision"] is None and agg["base-closed"]["n_citation_precision"] == 0
    for s in systems.values():
        costs = s["costs"]
        assert costs["latency_per_answer_s"] > 0 and costs["peak_rss_mb"] > 0
        assert set(s["by_split"]) == {"interpolation", "extrapolation"}
    assert systems["base-rag-tuned-retriever"]["costs"]["train_seconds"] > 0  # re-embedding the corpus
    assert sum(results["similarity_split"]["counts"].values()) == n
    # ragas: judged metric on 1 sample only, the judge never parses, closed-book has no contexts
    base_rag = systems["base-rag"]["ragas"]
    assert base_rag["missing"]["faithfulness"] == {"parse_error": 1} and base_rag["llm_samples"] == 1
    assert systems["base-closed"]["ragas"]["missing"]["non_llm_context_recall"] == {"not_applicable": n}
    assert base_rag["aggregate"]["exact_match"] == 1.0
    q = results["questions"][0]
    assert set(q["predictions"]) == set(systems) and q["split"] in ("interpolation", "extrapolation")
    rag = q["predictions"]["base-rag"]
    assert rag["citations"][0]["location"].split(":")[0] in ("pump.md", "battery.md")
    md = (out / "compare.md").read_text()
    assert "| LoRA LLM, closed-book | 1.000 | 1.000 |" in md


def test_compare_skips_systems_whose_tuning_is_null(tmp_path):
    from ragkit.experiments.compare import run_compare

    _corpus_and_qa(tmp_path)
    base, tuned = _fake_llms()
    cfg = CompareConfig.from_dict({
        "corpus": "corpus", "retriever": "bm25", "qa": {"source": "jsonl", "path": "qa.jsonl"}, "llm": base,
        "tuning": {"generator": {"llm": tuned}}, "ragas": {"enabled": False},
        "metrics": ["exact_match", "token_f1"], "similarity_split": {"enabled": False},
    }, tmp_path)
    results = run_compare(cfg, tmp_path / "out")
    assert [s["id"] for s in results["systems"]] == ["base-closed", "base-rag", "lora-closed", "lora-rag"]
    assert any("tuning.retriever is null" in n for n in results["notes"])
    assert results["similarity_split"] is None and results["systems"][0]["ragas"] is None
    assert results["questions"][0]["split"] is None


def test_compare_rejects_a_missing_index(tmp_path):
    from ragkit.experiments.compare import run_compare

    cfg = CompareConfig.from_dict({"index": "nowhere", "qa": {"source": "jsonl", "path": "qa.jsonl"}}, tmp_path)
    with pytest.raises(FileNotFoundError, match="not a ragkit index"):
        run_compare(cfg, tmp_path / "out")


@pytest.mark.slow  # real training: LoRA on SmolLM2-135M, MiniLM embedder and cross-encoder (tiny settings)
def test_compare_trains_every_tuning_and_reuses_it(tmp_path):
    from ragkit.experiments.compare import run_compare

    _corpus_and_qa(tmp_path)
    config = {
        "corpus": "corpus", "k": 2, "threads": 1, "metrics": ["exact_match", "token_f1", "gold_in_context"],
        "qa": {"source": "jsonl", "path": "qa.jsonl", "split": {"by": "question", "test": 0.34, "seed": 0}},
        "llm": {"type": "transformers", "model": "smollm2-135m", "max_new_tokens": 8},
        "generator": {"max_new_tokens": 8, "max_context_tokens": 256},
        "tuning": {
            "generator": {"epochs": 1, "batch_size": 4, "max_length": 96, "lora_rank": 4, "progress": False},
            "retriever": {"epochs": 1, "batch_size": 2, "progress": False},
            "reranker": {"epochs": 1, "batch_size": 4, "negatives": 1, "progress": False},
        },
        "ragas": {"enabled": False}, "similarity_split": {"enabled": False},
    }
    out = tmp_path / "out"
    results = run_compare(CompareConfig.from_dict(config, tmp_path), out)
    assert {k: t["source"] for k, t in results["tuning"].items()} == {k: "trained" for k in ("generator", "reranker", "retriever")}
    assert (out / "models" / "generator" / "adapter_config.json").is_file()
    assert (out / "index-tuned-retriever" / "manifest.json").is_file()
    assert results["tuning"]["generator"]["record"]["train_steps"] == 1
    for s in results["systems"]:
        assert s["aggregate"]["n"] == 2 and s["aggregate"]["token_f1"] is not None
        assert s["costs"]["latency_per_answer_s"] > 0
    lora = next(s for s in results["systems"] if s["id"] == "lora-closed")
    assert lora["costs"]["train_seconds"] > 0
    # a second run with the same data and settings reuses the trained models
    config["systems"] = [{"id": "lora-closed", "name": "LoRA LLM, closed-book", "mode": "closed-book",
                          "pipeline": {"generator": {"llm": "tuned:generator"}}}]
    again = run_compare(CompareConfig.from_dict(config, tmp_path), out)
    assert again["tuning"]["generator"]["source"] == "cached"
    assert again["systems"][0]["costs"]["train_seconds"] == lora["costs"]["train_seconds"]
