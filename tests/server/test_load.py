"""A small version of benchmarks/serve.py: concurrent /feedback and /ask against a live server."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest

from ragkit.server.app import create_app
from ragkit.server.background import serve_in_thread

N_FEEDBACK = 80
N_ASK = 8


@pytest.mark.integration
def test_concurrent_feedback_and_asks_lose_nothing(pipeline, feedback_db: Path, demo_qa) -> None:
    app = create_app(pipeline, feedback_db)
    question = demo_qa[0]

    async def load(url: str) -> tuple[list[httpx.Response], list[httpx.Response]]:
        limits = httpx.Limits(max_connections=N_FEEDBACK + N_ASK)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            seed = (await client.post("/ask", json={"question": question})).json()
            chunk_id = seed["sources"][0]["chunk_id"]
            bodies = [
                {"answer_id": seed["id"], "rating": 1 if i % 2 else -1} if i % 3
                else {"answer_id": seed["id"], "sources": [{"chunk_id": chunk_id, "relevant": bool(i % 2)}]}
                for i in range(N_FEEDBACK)
            ]
            feedback = [client.post("/feedback", json=b) for b in bodies]
            asks = [client.post("/ask", json={"question": f"{question} ({i})"}) for i in range(N_ASK)]
            results = await asyncio.gather(*feedback, *asks)
            return list(results[:N_FEEDBACK]), list(results[N_FEEDBACK:])

    with serve_in_thread(app) as url:
        feedback, asks = asyncio.run(load(url))
    assert [r.status_code for r in feedback] == [200] * N_FEEDBACK
    assert [r.status_code for r in asks] == [200] * N_ASK
    con = sqlite3.connect(feedback_db)
    rows = con.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    marks = con.execute("SELECT COUNT(*) FROM feedback WHERE chunk_id IS NOT NULL").fetchone()[0]
    answers = con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    con.close()
    assert rows == sum(r.json()["rows"] for r in feedback) == N_FEEDBACK
    assert marks == len(range(0, N_FEEDBACK, 3))
    assert answers == N_ASK + 1
    assert len({r.json()["id"] for r in asks}) == N_ASK
