"""The outbox relay with real commits: at-least-once delivery, backoff, dead
letters, and two relays racing over the same rows without delivering one twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.models import KERNEL_TABLES
from kernel.db import Database
from kernel.outbox import OutboxRelay, PermanentFailure, RetryPolicy, enqueue

MIGRATIONS = Path(__file__).resolve().parents[2] / "gateway" / "migrations"
OUTBOX = KERNEL_TABLES.outbox


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    from kernel.testing import scratch_database

    async with scratch_database("outbox", MIGRATIONS) as url:
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()


async def _status(db: Database) -> dict[str, tuple[str, int]]:
    async with db.session() as s:
        rows = (
            await s.execute(select(OUTBOX.c.event_id, OUTBOX.c.status, OUTBOX.c.attempts))
        ).all()
    return {r.event_id: (r.status, r.attempts) for r in rows}


async def test_event_written_with_change_is_delivered(db: Database) -> None:
    delivered: list[str] = []

    async def handler(event_id: str, payload: dict) -> None:
        delivered.append(payload["n"])

    async with db.transaction() as s:
        await enqueue(s, OUTBOX, "thing.happened", {"n": "a"}, event_id="e1")
    # an event in a rolled-back transaction never exists
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            await enqueue(s, OUTBOX, "thing.happened", {"n": "lost"}, event_id="e2")
            raise RuntimeError("change refused")
    relay = OutboxRelay(db, OUTBOX, {"thing.happened": handler})
    await relay.drain()
    assert delivered == ["a"]
    assert (await _status(db)) == {"e1": ("delivered", 1)}


async def test_failures_retry_with_backoff_then_deliver(db: Database) -> None:
    attempts = {"n": 0}

    async def flaky(event_id: str, payload: dict) -> None:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise ConnectionError("receiver down")

    async with db.transaction() as s:
        await enqueue(s, OUTBOX, "t", {}, event_id="f1")
    relay = OutboxRelay(
        db, OUTBOX, {"t": flaky}, retry=RetryPolicy(base_seconds=0.01, max_seconds=0.02)
    )
    for _ in range(20):
        await relay.run_once()
        if (await _status(db))["f1"][0] == "delivered":
            break
        await asyncio.sleep(0.03)
    assert (await _status(db))["f1"] == ("delivered", 3)


async def test_permanent_failure_and_attempt_cap_dead_letter(db: Database) -> None:
    async def refuse(event_id: str, payload: dict) -> None:
        raise PermanentFailure("410 gone")

    async def always_down(event_id: str, payload: dict) -> None:
        raise ConnectionError("down")

    async with db.transaction() as s:
        await enqueue(s, OUTBOX, "gone", {}, event_id="g1")
        await enqueue(s, OUTBOX, "down", {}, event_id="d1")
    relay = OutboxRelay(
        db,
        OUTBOX,
        {"gone": refuse, "down": always_down},
        retry=RetryPolicy(base_seconds=0.001, max_seconds=0.001, max_attempts=3),
    )
    for _ in range(10):
        await relay.run_once()
        await asyncio.sleep(0.005)
    status = await _status(db)
    assert status["g1"] == ("dead", 1)
    assert status["d1"] == ("dead", 3)


async def test_two_relays_never_deliver_the_same_event_twice(db: Database) -> None:
    seen: list[str] = []

    async def slow(event_id: str, payload: dict) -> None:
        await asyncio.sleep(0.001)
        seen.append(event_id)

    async with db.transaction() as s:
        for i in range(60):
            await enqueue(s, OUTBOX, "t", {}, event_id=f"r{i}")
    other = Database(db.url)
    try:
        relays = [
            OutboxRelay(db, OUTBOX, {"t": slow}, batch_size=7),
            OutboxRelay(other, OUTBOX, {"t": slow}, batch_size=7),
        ]
        for _ in range(30):
            counts = await asyncio.gather(*(r.run_once() for r in relays))
            if sum(counts) == 0:
                break
    finally:
        await other.dispose()
    assert sorted(seen) == sorted(f"r{i}" for i in range(60))
    assert len(seen) == len(set(seen))


async def test_a_hanging_delivery_holds_one_slot_not_the_queue(db: Database) -> None:
    """With concurrency above 1 (webhooks) the relay keeps claiming while a delivery
    hangs: the events behind it go out at once. Found by the hanging-receiver fault
    drill, where every hanging delivery held up all others for its whole timeout."""
    release = asyncio.Event()
    delivered: list[str] = []

    async def handler(event_id: str, payload: dict) -> None:
        if payload["hang"]:
            await release.wait()
        delivered.append(event_id)

    async with db.transaction() as s:
        for i in range(3):
            await enqueue(s, OUTBOX, "t", {"hang": True}, event_id=f"slow{i}")
        for i in range(20):
            await enqueue(s, OUTBOX, "t", {"hang": False}, event_id=f"fast{i}")
    relay = OutboxRelay(db, OUTBOX, {"t": handler}, concurrency=4, batch_size=5, poll_seconds=0.05)
    relay.start()
    try:
        async with asyncio.timeout(20):
            while len(delivered) < 20:
                await asyncio.sleep(0.02)
        assert sorted(delivered) == sorted(f"fast{i}" for i in range(20))
        status = await _status(db)
        assert all(status[f"slow{i}"] == ("pending", 0) for i in range(3))
        release.set()
        async with asyncio.timeout(20):
            while len(delivered) < 23:
                await asyncio.sleep(0.02)
            while any(s != ("delivered", 1) for s in (await _status(db)).values()):
                await asyncio.sleep(0.02)
    finally:
        await relay.stop()
    assert len(delivered) == len(set(delivered)) == 23


async def test_stopping_a_concurrent_relay_leaves_unfinished_deliveries_pending(
    db: Database,
) -> None:
    started = asyncio.Event()

    async def hang(event_id: str, payload: dict) -> None:
        started.set()
        await asyncio.sleep(60)

    async with db.transaction() as s:
        await enqueue(s, OUTBOX, "t", {}, event_id="h1")
    relay = OutboxRelay(db, OUTBOX, {"t": hang}, concurrency=2, poll_seconds=0.05)
    relay.start()
    async with asyncio.timeout(10):
        await started.wait()
    async with asyncio.timeout(10):
        await relay.stop()
    assert (await _status(db)) == {"h1": ("pending", 0)}  # leased; delivered after a restart
