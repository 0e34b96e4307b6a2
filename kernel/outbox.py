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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.db import Database, utcnow

log = logging.getLogger("auxpol.outbox")


class PermanentFailure(Exception):
    """The receiver refused the event for good; retrying cannot help."""


Handler = Callable[[str, dict[str, Any]], Awaitable[None]]


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
    ) -> None:
        self.db = db
        self.table = table
        self.handlers = handlers
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.retry = retry or RetryPolicy()
        self.name = name
        self.concurrency = max(1, concurrency)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def claim(self, limit: int | None = None) -> list[Claimed]:
        t = self.table
        now = utcnow()
        async with self.db.transaction() as session:
            due = (
                select(t.c.id)
                .where(
                    t.c.status == "pending",
                    t.c.next_attempt_at <= now,
                    or_(t.c.lease_until.is_(None), t.c.lease_until < now),
                    t.c.topic.in_(list(self.handlers)),
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

    async def _record(self, item: Claimed, error: BaseException | None) -> None:
        t = self.table
        now = utcnow()
        attempts = item.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "lease_until": None}
        if error is None:
            values.update(status="delivered", delivered_at=now, last_error=None)
        else:
            values["last_error"] = f"{type(error).__name__}: {error}"[:2000]
            if isinstance(error, PermanentFailure) or attempts >= self.retry.max_attempts:
                values["status"] = "dead"
            else:
                values["next_attempt_at"] = now + timedelta(seconds=self.retry.delay(attempts))
        async with self.db.transaction() as session:
            await session.execute(
                update(t).where(and_(t.c.id == item.id, t.c.status == "pending")).values(**values)
            )

    async def _deliver(self, item: Claimed) -> None:
        handler = self.handlers[item.topic]
        error: BaseException | None = None
        try:
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
        """Claim one batch and deliver it; returns how many were attempted."""
        batch = await self.claim()
        if self.concurrency == 1:
            for item in batch:
                await self._deliver(item)
            return len(batch)
        slots = asyncio.Semaphore(self.concurrency)

        async def one(item: Claimed) -> None:
            async with slots:
                await self._deliver(item)

        results = await asyncio.gather(*(one(item) for item in batch), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(batch)

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

    async def _pipelined_loop(self) -> None:
        """Keep up to `concurrency` deliveries in flight, claiming more whenever a slot
        frees up, instead of waiting for the slowest of a batch."""
        in_flight: set[asyncio.Future[Any]] = set()
        try:
            while True:
                claimed: list[Claimed] = []
                free = self.concurrency - len(in_flight)
                if free > 0:
                    self._wake.clear()  # a wake from now on is seen by the wait below
                    try:
                        claimed = await self.claim(min(free, self.batch_size))
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("outbox relay round failed", extra={"relay": self.name})
                for item in claimed:
                    in_flight.add(asyncio.ensure_future(self._deliver_logged(item)))
                if claimed and len(in_flight) < self.concurrency:
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


async def pending_count(session: AsyncSession, table: Table) -> int:
    from sqlalchemy import func

    return int(
        (await session.execute(select(func.count()).where(table.c.status == "pending"))).scalar()
        or 0
    )
