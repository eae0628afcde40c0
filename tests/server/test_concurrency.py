"""A live uvicorn server: asks are serialised on one worker while /feedback and /health stay fast."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from ragkit.server.app import create_app
from ragkit.server.background import serve_in_thread
from ragkit.tuning.feedback import read_feedback

ASK_SECONDS = 0.6


class SlowAsk:
    """Wraps ``Pipeline.ask``: sleeps in it and records how many calls overlap (should be 1)."""

    def __init__(self, ask):
        self.ask = ask
        self.active = 0
        self.max_active = 0
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, questions, mode="rag", k=None):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(ASK_SECONDS)
            return self.ask(questions, mode=mode, k=k)
        finally:
            with self.lock:
                self.active -= 1


@pytest.mark.integration
def test_asks_are_serialised_and_feedback_stays_fast(pipeline, feedback_db: Path, demo_qa) -> None:
    slow = SlowAsk(pipeline.ask)
    pipeline.ask = slow  # instance attribute: the app calls pipeline.ask
    app = create_app(pipeline, feedback_db)
    question = demo_qa[0]

    async def scenario(url: str) -> dict:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            first = (await client.post("/ask", json={"question": question})).json()
            asks = [asyncio.create_task(client.post("/ask", json={"question": question})) for _ in range(3)]
            await asyncio.sleep(0.2)  # the asks are now running or queued
            t0 = time.perf_counter()
            health = await client.get("/health")
            health_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            fb = await client.post("/feedback", json={"answer_id": first["id"], "rating": 1})
            feedback_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            answers = await asyncio.gather(*asks)
            return {"health": health, "health_s": health_s, "fb": fb, "feedback_s": feedback_s,
                    "answers": answers, "asks_s": time.perf_counter() - t0}

    with serve_in_thread(app) as url:
        result = asyncio.run(scenario(url))
    assert result["health"].status_code == 200 and result["health"].json()["asks_pending"] >= 1
    assert result["fb"].status_code == 200
    # /health and /feedback answer while the asks occupy the model for >= 3 * ASK_SECONDS
    assert result["health_s"] < ASK_SECONDS / 2 and result["feedback_s"] < ASK_SECONDS / 2
    assert all(r.status_code == 200 for r in result["answers"])
    assert slow.max_active == 1 and len(slow.threads) == 1  # one model call at a time, one worker
    assert result["asks_s"] >= 2 * ASK_SECONDS  # queued behind each other, not in parallel
    assert [r.rating for r in read_feedback(feedback_db)] == [1]


@pytest.mark.integration
def test_too_many_waiting_asks_get_429(pipeline, feedback_db: Path, demo_qa) -> None:
    pipeline.ask = SlowAsk(pipeline.ask)
    app = create_app(pipeline, feedback_db, max_pending=2)

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            first = [asyncio.create_task(client.post("/ask", json={"question": demo_qa[0]})) for _ in range(2)]
            await asyncio.sleep(0.2)  # both admitted: one running, one waiting
            late = await client.post("/ask", json={"question": demo_qa[0]})
            return [*(await asyncio.gather(*first)), late]

    with serve_in_thread(app) as url:
        responses = asyncio.run(burst(url))
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert "already waiting" in responses[2].json()["error"]
