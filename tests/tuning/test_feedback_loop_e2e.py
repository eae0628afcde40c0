"""The loop through real processes: `ragkit serve` ← HTTP feedback → `ragkit tune reranker` → promotion → the
running server answers with the new reranker; a worse candidate is not promoted and the server keeps the old one.

Users are simulated from examples/demo-qa.jsonl: for each question they mark the gold chunk relevant if the
server showed it, and the other shown chunks not relevant. The server starts with a reranker that ranks by
noise (a random tiny BERT, promoted by hand), so a tuned MiniLM has something to beat; the worse candidate
starts from that random BERT.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from ragkit.defaults import DEMO_CORPUS
from ragkit.indexes.promoted import install_model, read_promoted, write_promoted
from ragkit.pipeline import Pipeline
from ragkit.server.background import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
QA = [json.loads(line) for line in (ROOT / "examples" / "demo-qa.jsonl").read_text().splitlines() if line.strip()]
SPEC = {"retriever": "bm25", "k": 10, "rerank_k": 10,
        "generator": {"type": "llm", "llm": {"type": "fake", "default": "See the sources [1]."}}}
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", NO_COLOR="1", COLUMNS="200",
           TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def loop(tmp_path_factory, tiny_st_dir: Path) -> Iterator[dict]:
    """A demo index with a noise reranker promoted, `ragkit serve` over it in its own process."""
    from ragkit.indexes.index import Index
    from ragkit.ingest import ingest

    root = tmp_path_factory.mktemp("e2e")
    index = root / "idx"
    ingest([DEMO_CORPUS], index)
    Index.build(index, dense=False, show_progress=False)
    noise = install_model(index, "reranker", shutil.copytree(tiny_st_dir, root / "noise"))
    write_promoted(index, "reranker", noise, {"type": "bi-encoder", "model": str(noise), "first_stage_weight": 0.0}, {})
    (root / "spec.json").write_text(json.dumps(SPEC))
    port = free_port()
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragkit.cli", "serve", str(index), "--spec", str(root / "spec.json"),
         "--rerank", "promoted", "--port", str(port), "--feedback-db", str(root / "fb.sqlite")],
        stdout=log, stderr=subprocess.STDOUT, env=ENV)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"ragkit serve exited:\n{(root / 'serve.log').read_text()[-3000:]}"
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ragkit serve did not answer /health within 120 s"
            time.sleep(0.3)
        yield {"url": url, "index": index, "db": root / "fb.sqlite", "noise": noise.name, "tiny": tiny_st_dir}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _tune(loop: dict, *extra: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "ragkit.cli", "tune", "reranker", "--kind", "bi-encoder", "--feedback",
            str(loop["db"]), "--index", str(loop["index"]), "--epochs", "1", "--batch-size", "8", "--depth", "20",
            *extra]
    return subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=900)


def _served(loop: dict) -> dict:
    return httpx.get(loop["url"] + "/health", timeout=60).json()["pipeline"]["promoted_reranker"]


def test_feedback_over_http_tunes_promotes_and_the_running_server_switches(loop: dict) -> None:
    url = loop["url"]
    assert _served(loop)["model"] == loop["noise"]
    shown = 0
    for qa in QA:
        answer = httpx.post(url + "/ask", json={"question": qa["question"]}, timeout=60).json()
        ids = [s["chunk_id"] for s in answer["sources"]]
        shown += qa["chunk_id"] in ids
        marks = [{"chunk_id": c, "relevant": c == qa["chunk_id"]} for c in ids]
        r = httpx.post(url + "/feedback", json={"answer_id": answer["id"], "sources": marks}, timeout=60)
        assert r.status_code == 200, r.text
    assert shown >= 30  # enough questions with the gold shown to train and judge

    question = QA[0]["question"]
    before = [s["chunk_id"] for s in httpx.post(url + "/ask", json={"question": question}, timeout=60).json()["sources"]]
    result = _tune(loop, "--base", "minilm")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "promoted" in result.stdout and "not promoted" not in result.stdout, result.stdout
    pointer = read_promoted(loop["index"], "reranker")
    assert pointer["generation"] != loop["noise"]

    served = _served(loop)  # the running server, no restart
    assert served["model"] == pointer["generation"] and served["promoted_at"] == pointer["promoted_at"]
    after = [s["chunk_id"] for s in httpx.post(url + "/ask", json={"question": question}, timeout=60).json()["sources"]]
    expected = Pipeline.for_index(loop["index"], {k: v for k, v in SPEC.items() if k != "generator"})
    assert after == [h.chunk_id for h in expected.retrieve([question])[0][0]]  # ranked by the promoted model
    assert after != before

    # a candidate from a random tiny BERT is worse than the promoted MiniLM: nothing moves, the CLI says why
    worse = _tune(loop, "--base", str(loop["tiny"]), "--max-length", "64")
    assert worse.returncode == 0, worse.stdout[-3000:] + worse.stderr[-3000:]
    assert "not promoted" in worse.stdout and "kept the old one" in worse.stdout, worse.stdout
    assert read_promoted(loop["index"], "reranker")["generation"] == pointer["generation"]
    assert _served(loop)["model"] == pointer["generation"]
    history = (loop["index"] / "models" / "reranker-history.jsonl").read_text().splitlines()
    assert [json.loads(line)["promoted"] for line in history] == [True, False]
