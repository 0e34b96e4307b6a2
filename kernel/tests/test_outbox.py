"""The outbox relay with real commits: at-least-once delivery, backoff, dead
letters, and two relays racing over the same rows without delivering one twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.models import KERNEL_TABLES
from kernel.db import Database
from kernel.outbox import Claimed, OutboxRelay, Outcome, PermanentFailure, RetryPolicy, enqueue

MIGRATIONS = Path(__file__).resolve().parents[2] / "gateway" / "migrations"
OUTBOX = KERNEL_TABLES.outbox


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    from kernel.testing import scratch_db

    async with scratch_db("outbox", MIGRATIONS) as database:
        yield database


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


# --- batch handlers ------------------------------------------------------------------


async def test_a_batch_handler_gets_events_in_batches_and_marks_exactly_the_accepted(
    db: Database,
) -> None:
    """One call per `send_batch_size` events, in order; the handler's outcome per event
    decides: accepted ones are delivered, failed ones retried with backoff, permanent
    ones dead. Per-event topics of the same relay are still delivered one by one."""
    calls: list[list[str]] = []
    refuse_once = {"b3", "b7"}

    async def batch(items: Sequence[Claimed]) -> list[Outcome]:
        calls.append([i.event_id for i in items])
        outcomes: list[Outcome] = []
        for item in items:
            if item.event_id in refuse_once:
                refuse_once.discard(item.event_id)
                outcomes.append(ConnectionError("intake busy"))
            elif item.event_id == "b5":
                outcomes.append(PermanentFailure("refused for good"))
            else:
                outcomes.append(None)
        return outcomes

    singles: list[str] = []

    async def single(event_id: str, payload: dict) -> None:
        singles.append(event_id)

    async with db.transaction() as s:
        for i in range(10):
            await enqueue(s, OUTBOX, "announced" if i != 4 else "other", {"n": i}, event_id=f"b{i}")
    relay = OutboxRelay(
        db,
        OUTBOX,
        {"other": single},
        batch_handlers={"announced": batch},
        send_batch_size=4,
        retry=RetryPolicy(base_seconds=0.01, max_seconds=0.02),
    )
    assert await relay.run_once() == 5  # four announced events in one call, one single
    assert calls == [["b0", "b1", "b2", "b3"]] and singles == ["b4"]
    status = await _status(db)
    assert status["b3"] == ("pending", 1)  # retried
    assert all(status[f"b{i}"] == ("delivered", 1) for i in (0, 1, 2, 4))
    for _ in range(20):
        await relay.drain()
        if all(s != "pending" for s, _ in (await _status(db)).values()):
            break
        await asyncio.sleep(0.03)
    status = await _status(db)
    assert all(c == sorted(c) for c in calls)  # oldest first within a call
    assert status["b5"] == ("dead", 1)
    assert status["b3"] == status["b7"] == ("delivered", 2)
    assert sum(len(c) for c in calls) == 9 + 2  # b3 and b7 went twice, nothing else did


async def test_a_failing_batch_is_retried_whole_with_one_backoff(db: Database) -> None:
    calls: list[int] = []

    async def down(items: Sequence[Claimed]) -> list[Outcome]:
        calls.append(len(items))
        if len(calls) < 3:
            raise ConnectionError("gateway down")
        return [None] * len(items)

    async def wrong_count(items: Sequence[Claimed]) -> list[Outcome]:
        return [None]

    async with db.transaction() as s:
        for i in range(6):
            await enqueue(s, OUTBOX, "t", {}, event_id=f"w{i}")
        await enqueue(s, OUTBOX, "u", {}, event_id="u1")
        await enqueue(s, OUTBOX, "u", {}, event_id="u2")
    relay = OutboxRelay(
        db,
        OUTBOX,
        {},
        batch_handlers={"t": down, "u": wrong_count},
        retry=RetryPolicy(base_seconds=0.01, max_seconds=0.02, max_attempts=3),
    )
    for _ in range(30):
        await relay.run_once()
        if all(s != "pending" for s, _ in (await _status(db)).values()):
            break
        await asyncio.sleep(0.03)
    status = await _status(db)
    assert calls == [6, 6, 6]  # the six failed together and came back together
    assert all(status[f"w{i}"] == ("delivered", 3) for i in range(6))
    # a handler that answers the wrong number of outcomes fails its whole batch
    assert status["u1"] == status["u2"] == ("dead", 3)


async def test_two_relays_never_send_the_same_batched_event_twice(db: Database) -> None:
    seen: list[str] = []
    in_flight: set[str] = set()

    async def batch(items: Sequence[Claimed]) -> list[Outcome]:
        ids = {i.event_id for i in items}
        assert not ids & in_flight  # never the same row in two concurrent calls
        in_flight.update(ids)
        await asyncio.sleep(0.005)
        in_flight.difference_update(ids)
        seen.extend(ids)
        return [None] * len(items)

    async with db.transaction() as s:
        for i in range(300):
            await enqueue(s, OUTBOX, "t", {}, event_id=f"c{i}")
    other = Database(db.url)
    try:
        relays = [
            OutboxRelay(db, OUTBOX, {}, batch_handlers={"t": batch}, send_batch_size=40),
            OutboxRelay(other, OUTBOX, {}, batch_handlers={"t": batch}, send_batch_size=40),
        ]
        for _ in range(30):
            counts = await asyncio.gather(*(r.run_once() for r in relays))
            if sum(counts) == 0:
                break
    finally:
        await other.dispose()
    assert sorted(seen) == sorted(f"c{i}" for i in range(300))
    assert len(seen) == len(set(seen))


async def test_a_concurrent_relay_sends_batches_beside_single_deliveries(db: Database) -> None:
    """Above concurrency 1 a batch holds one slot, one batch at a time, in order, while
    per-event deliveries use the other slots; the relay's metrics count both."""
    from kernel.observability import Metrics

    calls: list[list[str]] = []
    singles: list[str] = []

    async def batch(items: Sequence[Claimed]) -> list[Outcome]:
        calls.append([i.event_id for i in items])
        await asyncio.sleep(0.01)
        return [None] * len(items)

    async def single(event_id: str, payload: dict) -> None:
        singles.append(event_id)

    async with db.transaction() as s:
        for i in range(25):
            await enqueue(s, OUTBOX, "t", {}, event_id=f"p{i:02}")
        for i in range(5):
            await enqueue(s, OUTBOX, "one", {}, event_id=f"s{i}")
    metrics = Metrics("test")
    relay = OutboxRelay(
        db,
        OUTBOX,
        {"one": single},
        batch_handlers={"t": batch},
        send_batch_size=10,
        concurrency=3,
        poll_seconds=0.05,
        metrics=metrics,
        name="mixed",
    )
    relay.start()
    try:
        async with asyncio.timeout(20):
            while any(s != ("delivered", 1) for s in (await _status(db)).values()):
                await asyncio.sleep(0.02)
    finally:
        await relay.stop()
    assert [len(c) for c in calls] == [10, 10, 5]
    assert [e for c in calls for e in c] == [f"p{i:02}" for i in range(25)]
    assert sorted(singles) == [f"s{i}" for i in range(5)]
    text = metrics.render().body.decode()
    assert 'auxpol_outbox_events_total{outcome="delivered",relay="mixed",service="test"} 30.0' in (
        text
    )
    assert 'auxpol_outbox_calls_total{kind="batch",relay="mixed",service="test"} 3.0' in text


def test_a_topic_takes_one_kind_of_handler() -> None:
    async def single(event_id: str, payload: dict) -> None:
        return None

    async def batch(items: Sequence[Claimed]) -> list[Outcome]:
        return []

    with pytest.raises(ValueError, match="both kinds"):
        OutboxRelay(
            Database("sqlite+aiosqlite://"), OUTBOX, {"t": single}, batch_handlers={"t": batch}
        )


def test_retry_delays_double_up_to_the_cap_with_jitter() -> None:
    """Exponential backoff with "equal jitter": attempt n waits between half and all of
    min(cap, base × 2^(n-1)), and two relays failing together do not retry in step."""
    policy = RetryPolicy(base_seconds=1.0, max_seconds=300.0)
    for attempts, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (9, 256.0), (12, 300.0)):
        delays = [policy.delay(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, min(delays))
        assert len(set(delays)) > 150  # jittered, not one fixed wait
    assert policy.delay(0) <= 1.0
