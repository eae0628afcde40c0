"""The feedback writer thread: group commits, acknowledgement after commit, per-write refusals."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from ragkit.feedback import AnswerWrite, FeedbackLog, FeedbackWrite, UnknownAnswerError, read_feedback
from ragkit.server.writer import FeedbackWriter, WriterClosedError

SOURCES = [{"chunk_id": "c1", "text": "every 5 minutes"}]


class GatedLog(FeedbackLog):
    """A FeedbackLog whose batches wait for a gate and are recorded (sizes, committed rows at ack)."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.gate = threading.Event()
        self.sizes: list[int] = []

    def write_batch(self, writes):
        self.gate.wait(10)
        self.sizes.append(len(writes))
        return super().write_batch(writes)


def _committed(path: Path) -> int:
    con = sqlite3.connect(path)  # another connection: sees only committed rows
    try:
        return con.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    finally:
        con.close()


def test_waiting_writes_are_committed_as_one_batch_and_acknowledged_after_it(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite"
    log = GatedLog(path)
    log.gate.set()
    log.record_answer("a1", "q", "a", "rag", [], SOURCES)
    log.gate.clear()
    writer = FeedbackWriter(log)
    seen_at_ack: dict[int, int] = {}

    async def post(i: int) -> list[int]:
        ids = await writer.submit(FeedbackWrite("a1", rating=1 if i % 2 else -1))
        seen_at_ack[i] = _committed(path)
        return ids

    async def burst() -> list[list[int]]:
        first = asyncio.create_task(post(0))
        await asyncio.sleep(0.1)  # the writer holds write 0 at the gate
        rest = [asyncio.create_task(post(i)) for i in range(1, 200)]
        await asyncio.sleep(0.1)  # all 199 are queued behind it
        log.gate.set()
        return await asyncio.gather(first, *rest)

    try:
        ids = asyncio.run(burst())
    finally:
        writer.close()
    assert log.sizes[1:] == [1, 199]  # (the seed answer), the first write alone, then the rest in one commit
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == 200
    # acknowledged only once committed: write 0 after its own commit, the others after theirs (all 200)
    assert seen_at_ack.pop(0) >= 1 and set(seen_at_ack.values()) == {200}
    assert len(read_feedback(path)) == 200


def test_a_refused_write_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite"
    writer = FeedbackWriter(FeedbackLog(path))

    async def batch():
        return await asyncio.gather(
            writer.submit(AnswerWrite("a1", "q", "a", "rag", [], SOURCES)),
            writer.submit(FeedbackWrite("a1", rating=1, marks=(("c1", True),))),  # names the answer just queued
            writer.submit(FeedbackWrite("a1", rating=1, marks=(("nope", True),))),  # unknown chunk: no row at all
            writer.submit(FeedbackWrite("a1", rating=True)),  # a bool is not a rating
            writer.submit(FeedbackWrite("missing", rating=-1)),
            writer.submit(FeedbackWrite("a1", rating=-1)),
            return_exceptions=True,
        )

    try:
        outcomes = asyncio.run(batch())
    finally:
        writer.close()
    assert outcomes[0] == [] and len(outcomes[1]) == 2 and len(outcomes[5]) == 1
    assert isinstance(outcomes[2], UnknownAnswerError) and "was not given chunk" in str(outcomes[2])
    assert isinstance(outcomes[3], ValueError) and "rating must be" in str(outcomes[3])
    assert isinstance(outcomes[4], UnknownAnswerError)
    assert [(r.rating, r.chunk_id) for r in read_feedback(path)] == [(1, None), (0, "c1"), (-1, None)]


def test_a_failed_commit_fails_every_write_of_the_batch(tmp_path: Path) -> None:
    class Broken(FeedbackLog):
        def write_batch(self, writes):
            raise sqlite3.OperationalError("disk I/O error")

    writer = FeedbackWriter(Broken(tmp_path / "fb.sqlite"))

    async def batch():
        return await asyncio.gather(*(writer.submit(FeedbackWrite("a1", rating=1)) for _ in range(3)),
                                    return_exceptions=True)

    try:
        outcomes = asyncio.run(batch())
    finally:
        writer.close()
    assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes) and len(outcomes) == 3


def test_close_commits_what_is_queued_then_refuses(tmp_path: Path) -> None:
    path = tmp_path / "fb.sqlite"
    log = FeedbackLog(path)
    log.record_answer("a1", "q", "a", "rag", [], SOURCES)
    writer = FeedbackWriter(log)

    async def scenario():
        posts = [asyncio.create_task(writer.submit(FeedbackWrite("a1", rating=1))) for _ in range(50)]
        await asyncio.sleep(0)  # all queued
        await asyncio.to_thread(writer.close)
        done = await asyncio.gather(*posts)
        with pytest.raises(WriterClosedError, match="shutting down"):
            await writer.submit(FeedbackWrite("a1", rating=1))
        return done

    assert len(asyncio.run(scenario())) == 50
    assert log.count() == 50
