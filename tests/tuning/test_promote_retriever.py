"""A tuned embedder goes into an index only when it beats the one in service on held-out questions.

The demo corpus, its dense part first built with a random tiny BERT (a retriever that ranks by
noise); the held-out questions are the gold-labelled ones of examples/demo-qa.jsonl. The bundled
MiniLM plays the better candidate, another random tiny BERT the worse one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragkit.defaults import DEMO_CORPUS
from ragkit.indexes.generations import current_generation
from ragkit.indexes.index import Index
from ragkit.indexes.promoted import pointer_path, read_promoted
from ragkit.models import resolve
from ragkit.tuning.data import QAPair
from ragkit.tuning.promote_retriever import check_disjoint, promote_retriever

QA = Path(__file__).resolve().parents[2] / "examples" / "demo-qa.jsonl"


def _pairs() -> list[QAPair]:
    rows = [json.loads(line) for line in QA.read_text().splitlines() if line.strip()]
    return [QAPair(question=r["question"], answer=r["answer"], chunk_id=r["chunk_id"]) for r in rows]


@pytest.fixture()
def noisy_index(tmp_path, tiny_st_dir) -> Path:
    from ragkit.ingest import ingest

    index = tmp_path / "idx"
    ingest([DEMO_CORPUS], index)
    Index.build(index, embedder=str(tiny_st_dir), show_progress=False)
    return index


@pytest.mark.slow
def test_a_better_embedder_is_promoted_a_worse_one_is_not(noisy_index, tiny_st_dir, tmp_path):
    index, held = noisy_index, _pairs()[:30]
    minilm = Path(shutil.copytree(resolve("minilm"), tmp_path / "candidate"))
    decision = promote_retriever(index, minilm, held)
    assert decision.promoted, decision.reason
    assert decision.held_out["candidate"] > decision.held_out["in_service"] + 0.2
    pointer = read_promoted(index, "retriever")
    assert Index.open(index).embedder_id == str((index / pointer["spec"]["model"]).absolute())
    assert not minilm.exists(), "the candidate moved into the index's registry"
    generation = current_generation(index)

    # dense search now runs with the promoted embedder, and ranks the gold chunk first more often
    from ragkit.pipeline import Pipeline

    hits, _ = Pipeline.for_index(index, {"retriever": "dense"}).retrieve([p.question for p in held], 1)
    assert sum(h[0].chunk_id == p.chunk_id for h, p in zip(hits, held)) >= len(held) // 2

    worse = Path(shutil.copytree(tiny_st_dir, tmp_path / "worse"))
    kept = promote_retriever(index, worse, held)
    assert not kept.promoted and "kept the old one" in kept.reason
    assert current_generation(index) == generation, "a rejected embedder changes nothing in the index"
    assert read_promoted(index, "retriever")["generation"] == pointer["generation"] and worse.is_dir()
    history = (pointer_path(index, "retriever").parent / "retriever-history.jsonl").read_text().splitlines()
    assert [json.loads(line)["promoted"] for line in history] == [True, False]


def test_a_dry_run_decides_without_touching_the_index(noisy_index, tmp_path):
    generation = current_generation(noisy_index)
    minilm = Path(shutil.copytree(resolve("minilm"), tmp_path / "candidate"))
    decision = promote_retriever(noisy_index, minilm, _pairs()[:12], promote=False)
    assert not decision.promoted and decision.reason.endswith("(not promoted: dry run)")
    assert current_generation(noisy_index) == generation and minilm.is_dir()
    assert read_promoted(noisy_index, "retriever") is None


def test_held_out_questions_that_were_trained_on_are_refused(noisy_index, tmp_path):
    pairs = _pairs()
    with pytest.raises(ValueError, match="held-out question"):
        check_disjoint(pairs[:10], pairs[5:15])
    check_disjoint(pairs[:10], pairs[10:20])

    from ragkit.cli import app

    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"question": p.question, "answer": p.answer, "chunk_id": p.chunk_id}) + "\n"
                             for p in pairs[:10]))
    result = CliRunner().invoke(app, ["tune", "retriever", "--train", str(train), "--out", str(tmp_path / "emb"),
                                      "--index", str(noisy_index), "--held-out", str(train)])
    assert result.exit_code == 2 and "error: 10 held-out question(s) are also training questions" in result.output
    assert not (tmp_path / "emb").exists(), "refused before any training"
