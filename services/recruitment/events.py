"""What is written beside each change: the application's history and outbox events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.outbox import enqueue
from services.recruitment import bulk, clock
from services.recruitment.models import KERNEL_TABLES, ApplicationEvent, table_of

EVENT_COLUMNS = (
    "application_id",
    "campaign_id",
    "at",
    "actor",
    "kind",
    "stage",
    "from_status",
    "to_status",
    "reason",
    "data",
)

# Topics delivered by this service's relay to the roster.
TOPIC_HIRE = "roster.hire"
TOPIC_RELEASE = "roster.release_reservation"
# Topics announced to provincial webhook subscribers (delivered elsewhere).
PLAN_APPROVED = "plan.approved"
PLAN_FILED = "plan.filed"
CAMPAIGN_HIRED = "campaign.hired"

API = "/api/v1/recruitment"


@dataclass(frozen=True, slots=True)
class Event:
    """One line of an application's history."""

    application_id: int
    campaign_id: int
    at: datetime
    actor: str
    kind: str
    stage: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    data: dict[str, Any] | None = None

    def row(self) -> tuple[Any, ...]:
        return (
            self.application_id,
            self.campaign_id,
            self.at,
            self.actor,
            self.kind,
            self.stage,
            self.from_status,
            self.to_status,
            self.reason,
            self.data,
        )


async def record(session: AsyncSession, events: list[Event]) -> None:
    """Append history lines (COPY on PostgreSQL when there are many)."""
    await record_rows(session, [e.row() for e in events])


async def record_rows(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    """Append history lines given as tuples in EVENT_COLUMNS order."""
    if not rows:
        return
    table = table_of(ApplicationEvent)
    if len(rows) < 50:
        await session.execute(
            table.insert(), [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows]
        )
        return
    if all(row[-1] is None for row in rows):  # no data: leave the column to its NULL
        await bulk.insert_rows(session, table, EVENT_COLUMNS[:-1], [row[:-1] for row in rows])
        return
    await bulk.insert_rows(session, table, EVENT_COLUMNS, rows, json_columns=("data",))


async def record_many(
    session: AsyncSession,
    *,
    campaign_id: int,
    at: datetime,
    actor: str,
    stage: str,
    application_ids: list[int],
    kinds: list[str] | str,
    from_statuses: list[str | None] | str | None,
    to_statuses: list[str | None] | str | None,
    reasons: list[str | None] | str | None,
) -> None:
    """Many history lines of one stage close at once (one INSERT ... SELECT FROM unnest
    on PostgreSQL): per line its application, and kind, statuses and reason given either
    per line (a list) or once for all.

    The lines are written in application order (each application's own lines keep their
    order): the application_id index is then filled in order, not at random places
    (a quarter less work for 100,000 lines)."""
    columns = (
        ("kind", kinds),
        ("from_status", from_statuses),
        ("to_status", to_statuses),
        ("reason", reasons),
    )
    per_line = [(name, value) for name, value in columns if isinstance(value, list)]
    ordered_ids, *ordered = bulk.in_order(application_ids, *(value for _, value in per_line))
    arrays: list[tuple[str, str, Sequence[Any]]] = [("application_id", "bigint", ordered_ids)]
    arrays += [(name, "text", values) for (name, _), values in zip(per_line, ordered, strict=True)]
    constants: list[tuple[str, str, Any]] = [
        ("campaign_id", "bigint", campaign_id),
        ("at", "timestamptz", at),
        ("actor", "text", actor),
        ("stage", "text", stage),
    ]
    constants += [(name, "text", value) for name, value in columns if not isinstance(value, list)]
    await bulk.insert_arrays(session, table_of(ApplicationEvent), arrays, constants)


async def publish(session: AsyncSession, topic: str, region: str, data: dict[str, Any]) -> str:
    """A webhook-bound event: {"event_id","type","occurred_at","region","data"}."""
    event_id = uuid.uuid4().hex
    payload = {
        "event_id": event_id,
        "type": topic,
        "occurred_at": clock.now().isoformat(),
        "region": region,
        "data": data,
    }
    await enqueue(session, KERNEL_TABLES.outbox, topic, payload, event_id=event_id)
    return event_id


async def to_roster(
    session: AsyncSession, topic: str, payload: dict[str, Any], event_id: str | None = None
) -> str:
    """An event this service's relay delivers to the roster."""
    return await enqueue(session, KERNEL_TABLES.outbox, topic, payload, event_id=event_id)
