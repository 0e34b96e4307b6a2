"""The transactional outbox.

`enqueue` writes an event in the same transaction as the change that caused it.
`OutboxRelay` delivers due events at least once: it claims a batch by leasing rows
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several replicas never claim the same
row; SQLite has a single writer), calls the topic's handler outside any
transaction, then records success, a retry with exponential backoff and jitter,
or a dead letter. Receivers must be idempotent on the event id.

With `concurrency` 1 (the services) events are delivered one after another, in order.
Above 1 (the gateway's webhook deliveries) up to that many are in flight at once and
the relay claims more as each one finishes, so a receiver that hangs until its
timeout holds one slot instead of the whole queue.

Topics with a *batch handler* (the services' announcements to the gateway's event
intake) are claimed up to `send_batch_size` at a time and handed over in one call; the
handler answers each event's outcome, so exactly the accepted ones are marked delivered
and the rest retried (or dead-lettered) with the same backoff. A batch holds one slot
of `concurrency`, and at most one batch is in flight per relay, so batches go out in
order. Topics with a per-event handler are claimed `batch_size` at a time as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.db import Database, utcnow
from kernel.observability import Metrics

log = logging.getLogger("auxpol.outbox")


class PermanentFailure(Exception):
    """The receiver refused the event for good; retrying cannot help."""


Handler = Callable[[str, dict[str, Any]], Awaitable[None]]
# A batch handler gets the claimed events of its topics in order and answers one outcome
# per event, aligned with them: None when the receiver accepted it, or the exception to
# record (a `PermanentFailure` dead-letters it). Raising fails the whole batch.
Outcome = BaseException | None
BatchHandler = Callable[[Sequence["Claimed"]], Awaitable[Sequence[Outcome]]]


async def enqueue(
    session: AsyncSession,
    table: Table,
    topic: str,
    payload: dict[str, Any],
    *,
    event_id: str | None = None,
    not_before: datetime | None = None,
) -> str:
    event_id = event_id or uuid.uuid4().hex
    now = utcnow()
    await session.execute(
        table.insert().values(
            event_id=event_id,
            topic=topic,
            payload=payload,
            created_at=now,
            status="pending",
            attempts=0,
            next_attempt_at=not_before or now,
        )
    )
    return event_id


async def enqueue_many(
    session: AsyncSession, table: Table, events: Sequence[tuple[str, dict[str, Any], str]]
) -> None:
    """Write several `(topic, payload, event_id)` events in one statement."""
    if not events:
        return
    now = utcnow()
    await session.execute(
        table.insert(),
        [
            {
                "event_id": event_id,
                "topic": topic,
                "payload": payload,
                "created_at": now,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
            for topic, payload, event_id in events
        ],
    )


@dataclass(frozen=True)
class Claimed:
    id: int
    event_id: str
    topic: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class RetryPolicy:
    base_seconds: float = 1.0
    max_seconds: float = 300.0
    max_attempts: int = 20

    def delay(self, attempts: int) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempts - 1)))
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter"


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        table: Table,
        handlers: dict[str, Handler],
        *,
        batch_size: int = 50,
        lease_seconds: float = 60,
        poll_seconds: float = 1.0,
        retry: RetryPolicy | None = None,
        name: str = "outbox",
        concurrency: int = 1,
        batch_handlers: dict[str, BatchHandler] | None = None,
        send_batch_size: int = 500,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.table = table
        self.handlers = handlers
        self.batch_handlers = dict(batch_handlers or {})
        overlap = set(self.handlers) & set(self.batch_handlers)
        if overlap:
            raise ValueError(f"topics with both kinds of handler: {sorted(overlap)}")
        self.batch_size = batch_size
        self.send_batch_size = max(1, send_batch_size)
        self.metrics = metrics
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.retry = retry or RetryPolicy()
        self.name = name
        self.concurrency = max(1, concurrency)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def claim(
        self, limit: int | None = None, *, topics: Sequence[str] | None = None
    ) -> list[Claimed]:
        """Lease up to `limit` due events of `topics` (by default those with a per-event
        handler), oldest first."""
        t = self.table
        now = utcnow()
        wanted = list(self.handlers) if topics is None else list(topics)
        if not wanted:
            return []
        async with self.db.transaction() as session:
            due = (
                select(t.c.id)
                .where(
                    t.c.status == "pending",
                    t.c.next_attempt_at <= now,
                    or_(t.c.lease_until.is_(None), t.c.lease_until < now),
                    t.c.topic.in_(wanted),
                )
                .order_by(t.c.id)
                .limit(limit or self.batch_size)
            )
            if self.db.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list((await session.execute(due)).scalars())
            if not ids:
                return []
            await session.execute(
                update(t).where(t.c.id.in_(ids)).values(lease_until=now + self.lease)
            )
            rows = (
                await session.execute(
                    select(t.c.id, t.c.event_id, t.c.topic, t.c.payload, t.c.attempts)
                    .where(t.c.id.in_(ids))
                    .order_by(t.c.id)
                )
            ).all()
        return [Claimed(r.id, r.event_id, r.topic, r.payload, r.attempts) for r in rows]

    async def claim_batch(self) -> list[Claimed]:
        """Lease up to `send_batch_size` due events of the batch-handled topics."""
        return await self.claim(self.send_batch_size, topics=list(self.batch_handlers))

    def _failure_values(self, attempts: int, error: BaseException) -> dict[str, Any]:
        values: dict[str, Any] = {"last_error": f"{type(error).__name__}: {error}"[:2000]}
        if isinstance(error, PermanentFailure) or attempts >= self.retry.max_attempts:
            values["status"] = "dead"
        else:
            delay = timedelta(seconds=self.retry.delay(attempts))
            values["next_attempt_at"] = utcnow() + delay
        return values

    def _count(self, outcome: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            self.metrics.outbox_events.labels(self.metrics.service, self.name, outcome).inc(n)

    def _count_call(self, kind: str) -> None:
        if self.metrics is not None:
            self.metrics.outbox_calls.labels(self.metrics.service, self.name, kind).inc()

    async def _record(self, item: Claimed, error: BaseException | None) -> None:
        t = self.table
        now = utcnow()
        attempts = item.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "lease_until": None}
        if error is None:
            values.update(status="delivered", delivered_at=now, last_error=None)
        else:
            values.update(self._failure_values(attempts, error))
        async with self.db.transaction() as session:
            await session.execute(
                update(t).where(and_(t.c.id == item.id, t.c.status == "pending")).values(**values)
            )
        self._count(values.get("status", "retry"))

    async def _record_batch(self, items: Sequence[Claimed], outcomes: Sequence[Outcome]) -> None:
        """Record a batch's outcomes in one transaction: the accepted ones in one
        statement, the failed ones grouped by attempt count and error, so that events
        that failed together are retried together (one delay per group)."""
        t = self.table
        now = utcnow()
        delivered = [item.id for item, error in zip(items, outcomes, strict=True) if error is None]
        failed: dict[tuple[int, str, bool], list[int]] = {}
        errors: dict[tuple[int, str, bool], BaseException] = {}
        for item, error in zip(items, outcomes, strict=True):
            if error is not None:
                key = (
                    item.attempts + 1,
                    f"{type(error).__name__}: {error}",
                    isinstance(error, PermanentFailure),
                )
                failed.setdefault(key, []).append(item.id)
                errors[key] = error
        dead = 0
        async with self.db.transaction() as session:
            for chunk in _chunks(delivered, 1000):
                await session.execute(
                    update(t)
                    .where(and_(t.c.id.in_(chunk), t.c.status == "pending"))
                    .values(
                        status="delivered",
                        delivered_at=now,
                        last_error=None,
                        lease_until=None,
                        attempts=t.c.attempts + 1,
                    )
                )
            for key, ids in failed.items():
                values = self._failure_values(key[0], errors[key])
                dead += len(ids) if values.get("status") == "dead" else 0
                for chunk in _chunks(ids, 1000):
                    await session.execute(
                        update(t)
                        .where(and_(t.c.id.in_(chunk), t.c.status == "pending"))
                        .values(attempts=key[0], lease_until=None, **values)
                    )
        self._count("delivered", len(delivered))
        self._count("dead", dead)
        self._count("retry", len(items) - len(delivered) - dead)

    async def _deliver_batch(self, items: Sequence[Claimed]) -> None:
        """Hand each batch handler its events in one call and record every outcome."""
        groups: dict[int, tuple[BatchHandler, list[Claimed]]] = {}
        for item in items:
            handler = self.batch_handlers[item.topic]
            groups.setdefault(id(handler), (handler, []))[1].append(item)
        done: list[Claimed] = []
        outcomes: list[Outcome] = []
        for handler, group in groups.values():
            try:
                self._count_call("batch")
                answered = list(await handler(group))
                if len(answered) != len(group):
                    raise RuntimeError(
                        f"batch handler answered {len(answered)} outcomes for {len(group)} events"
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the whole batch failed: each event is retried
                answered = [exc] * len(group)
            failures = [e for e in answered if e is not None]
            if failures:
                log.warning(
                    "outbox batch delivery failed in part",
                    extra={
                        "relay": self.name,
                        "events": len(group),
                        "failed": len(failures),
                        "first_event_id": group[0].event_id,
                        "error": type(failures[0]).__name__,
                    },
                )
            done.extend(group)
            outcomes.extend(answered)
        await self._record_batch(done, outcomes)

    async def _deliver(self, item: Claimed) -> None:
        handler = self.handlers[item.topic]
        error: BaseException | None = None
        try:
            self._count_call("event")
            await handler(item.event_id, item.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure is retried or dead-lettered
            error = exc
            log.warning(
                "outbox delivery failed",
                extra={
                    "relay": self.name,
                    "topic": item.topic,
                    "event_id": item.event_id,
                    "attempt": item.attempts + 1,
                    "error": type(exc).__name__,
                },
            )
        await self._record(item, error)

    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many were attempted. Events of
        batch-handled topics go first, `send_batch_size` of them in one call per
        handler; then up to `batch_size` events of per-event topics."""
        sent = 0
        if self.batch_handlers:
            claimed = await self.claim_batch()
            if claimed:
                await self._deliver_batch(claimed)
            sent = len(claimed)
        batch = await self.claim()
        if self.concurrency == 1:
            for item in batch:
                await self._deliver(item)
            return sent + len(batch)
        slots = asyncio.Semaphore(self.concurrency)

        async def one(item: Claimed) -> None:
            async with slots:
                await self._deliver(item)

        results = await asyncio.gather(*(one(item) for item in batch), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sent + len(batch)

    async def drain(self, max_rounds: int = 100) -> None:
        for _ in range(max_rounds):
            if await self.run_once() == 0:
                return

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay round failed", extra={"relay": self.name})
                worked = 0
            if worked == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _deliver_logged(self, item: Claimed) -> None:
        try:
            await self._deliver(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # recording failed (database down): the lease runs out, retried
            log.exception("outbox delivery not recorded", extra={"relay": self.name})

    async def _deliver_batch_logged(self, items: Sequence[Claimed]) -> None:
        try:
            await self._deliver_batch(items)
        except asyncio.CancelledError:
            raise
        except Exception:  # recording failed (database down): the leases run out, retried
            log.exception("outbox batch not recorded", extra={"relay": self.name})

    async def _pipelined_loop(self) -> None:
        """Keep up to `concurrency` deliveries in flight, claiming more whenever a slot
        frees up, instead of waiting for the slowest of a batch."""
        in_flight: set[asyncio.Future[Any]] = set()
        batch_in_flight: asyncio.Future[Any] | None = None
        try:
            while True:
                claimed: list[Claimed] = []
                batch: list[Claimed] = []
                free = self.concurrency - len(in_flight)
                if free > 0:
                    self._wake.clear()  # a wake from now on is seen by the wait below
                    try:
                        if self.batch_handlers and batch_in_flight is None:
                            # one batch at a time, holding one slot: batches stay in order
                            batch = await self.claim_batch()
                            if batch:
                                batch_in_flight = asyncio.ensure_future(
                                    self._deliver_batch_logged(batch)
                                )
                                in_flight.add(batch_in_flight)
                                free -= 1
                        if free > 0 and self.handlers:
                            claimed = await self.claim(min(free, self.batch_size))
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("outbox relay round failed", extra={"relay": self.name})
                for item in claimed:
                    in_flight.add(asyncio.ensure_future(self._deliver_logged(item)))
                if (claimed or batch) and len(in_flight) < self.concurrency:
                    continue  # there may be more due already
                waiting: set[asyncio.Future[Any]] = set(in_flight)
                wake = None
                if len(in_flight) < self.concurrency:  # a wake matters only with a free slot
                    wake = asyncio.ensure_future(self._wake.wait())
                    waiting.add(wake)
                try:
                    done, _ = await asyncio.wait(
                        waiting, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    if wake is not None:
                        wake.cancel()
                in_flight -= done
                if batch_in_flight is not None and batch_in_flight in done:
                    batch_in_flight = None
        finally:
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    def start(self) -> None:
        if self._task is None:
            loop = self._loop() if self.concurrency == 1 else self._pipelined_loop()
            self._task = asyncio.create_task(loop, name=f"relay-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _chunks(values: list[int], size: int) -> list[list[int]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


async def pending_count(session: AsyncSession, table: Table) -> int:
    return int(
        (await session.execute(select(func.count()).where(table.c.status == "pending"))).scalar()
        or 0
    )
