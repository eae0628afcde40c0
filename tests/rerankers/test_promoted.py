"""PromotedReranker follows the pointer: loads a new model fully before swapping, keeps the old one on failure."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import ragkit.rerankers.promoted as promoted_module
from ragkit.indexes.promoted import write_promoted
from ragkit.registry import build
from ragkit.rerankers.promoted import PromotedReranker
from ragkit.types import Chunk, Hit


def _hits() -> list[list[Hit]]:
    chunks = [Chunk(f"passage {n}", f"f{n}.txt") for n in range(4)]
    return [[Hit(c.id, 1.0 / n, n, "bm25", c) for n, c in enumerate(chunks, start=1)]]


def _promote(index: Path, name: str, spec: dict) -> dict:
    generation = index / "models" / "reranker" / name
    generation.mkdir(parents=True, exist_ok=True)
    return write_promoted(index, "reranker", generation, spec, {})


def test_without_pointer_it_passes_the_first_stage_through(tmp_path: Path) -> None:
    reranker = build("reranker", {"type": "promoted", "index": str(tmp_path)})
    hits = _hits()
    assert [h.chunk_id for h in reranker.rerank(["q"], hits, 2)[0]] == [h.chunk_id for h in hits[0][:2]]
    assert reranker.describe() == {"type": "promoted", "promoted": None, "load_error": None}


def test_follows_a_new_pointer_and_keeps_the_old_model_when_loading_fails(tmp_path: Path) -> None:
    reranker = PromotedReranker(tmp_path)
    first = _promote(tmp_path, "g1", {"type": "reorder"})
    reranker.rerank(["q"], _hits(), 4)
    state = reranker.describe()
    assert state["promoted"]["generation"] == "g1" and state["promoted"]["promoted_at"] == first["promoted_at"]
    assert state["promoted"]["reranker"] == "reorder" and state["load_error"] is None
    order = [h.chunk_id for h in reranker.rerank(["q"], _hits(), 4)[0]]
    assert order != [h.chunk_id for h in _hits()[0]]  # reorder (lost in the middle) is in service

    _promote(tmp_path, "g2", {"type": "no-such-reranker"})
    assert [h.chunk_id for h in reranker.rerank(["q"], _hits(), 4)[0]] == order  # still the old one
    state = reranker.describe()
    assert state["promoted"]["generation"] == "g1"
    assert "no-such-reranker" in state["load_error"]["message"] and state["load_error"]["kept"] == "g1"

    _promote(tmp_path, "g3", {"type": "reorder"})
    reranker.refresh()
    assert reranker.describe()["promoted"]["generation"] == "g3" and reranker.describe()["load_error"] is None


def test_a_slow_load_is_not_served_until_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reranker = PromotedReranker(tmp_path)
    _promote(tmp_path, "g1", {"type": "reorder"})
    reranker.refresh()
    release, loading = threading.Event(), threading.Event()

    class Slow:
        loaded = False

        def warm_up(self) -> None:
            loading.set()
            assert release.wait(10)
            self.loaded = True

        def rerank(self, queries, hits, k):
            assert self.loaded, "served before it finished loading"
            return [list(reversed(hs))[:k] for hs in hits]

    monkeypatch.setattr(promoted_module, "build", lambda kind, spec: Slow())
    _promote(tmp_path, "g2", {"type": "slow"})
    loader = threading.Thread(target=reranker.refresh)
    loader.start()
    assert loading.wait(10)
    assert reranker.describe()["promoted"]["generation"] == "g1"  # the old model is what is served meanwhile
    results: list = []
    asker = threading.Thread(target=lambda: results.append(reranker.rerank(["q"], _hits(), 4)))
    asker.start()
    asker.join(0.3)
    assert asker.is_alive(), "a request went ahead with a half-loaded model"
    release.set()
    loader.join(10)
    asker.join(10)
    assert reranker.describe()["promoted"]["generation"] == "g2"
    assert [h.chunk_id for h in results[0][0]] == [h.chunk_id for h in reversed(_hits()[0])]
