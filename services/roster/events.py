"""Outbox events of the roster, written in the same transaction as the change.

Payload: {"event_id", "type", "occurred_at", "region", "data": {"personnel_id", "url",
...}}. No ID numbers: the events travel to provincial integrations as webhooks. Event ids are
"<topic>:<personnel id>", unique because a file is created once and leaves once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.app import listed_events
from kernel.outbox import enqueue
from services.roster.db import KERNEL_TABLES
from services.roster.models import Personnel

PERSONNEL_CREATED = "personnel.created"
PERSONNEL_DEPARTED = "personnel.departed"
# One outbox row for a bulk import's batch of new files (`created_bundle`). The relay
# announces its events one by one (kernel `bundled_events`, `created_bundle_events`),
# so subscribers see exactly what `POST /personnel` gives them.
PERSONNEL_CREATED_BUNDLE = "personnel.created.bundle"
API_PREFIX = "/api/v1/roster"


def personnel_url(personnel_id: int) -> str:
    return f"{API_PREFIX}/personnel/{personnel_id}"


def event_id_for(topic: str, personnel_id: int) -> str:
    """A file is created once and leaves once: the event id is its natural key, so a
    receiver can be idempotent on it."""
    return f"{topic}:{personnel_id}"


def envelope(
    topic: str, region: str, occurred_at: datetime, data: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    return document(topic, region, occurred_at.isoformat(), data)


def document(
    topic: str, region: str, occurred: str, data: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """`envelope` with the time already written out (ISO 8601)."""
    event_id = event_id_for(topic, data["personnel_id"])
    return event_id, {
        "event_id": event_id,
        "type": topic,
        "occurred_at": occurred,
        "region": region,
        "data": data,
    }


def created_data(
    personnel_id: int,
    region: str,
    post_category: str,
    post: str,
    status: str,
    hire_date: date,
    external_reference: str | None,
) -> dict[str, Any]:
    """Enough to route and count the hire; the file itself is at `url`."""
    return created_fields(
        personnel_id, region, post_category, post, status, hire_date.isoformat(),
        external_reference,
    )  # fmt: skip


def created_fields(
    personnel_id: int,
    region: str,
    post_category: str,
    post: str,
    status: str,
    hire_day: str,
    external_reference: str | None,
) -> dict[str, Any]:
    """`created_data` with the hire date already written out (ISO 8601)."""
    return {
        "personnel_id": personnel_id,
        "url": personnel_url(personnel_id),
        "region": region,
        "post_category": post_category,
        "post": post,
        "status": status,
        "hire_date": hire_day,
        "external_reference": external_reference,
    }


# A bulk import's bundle: one list per field, a file per position, and the time.
CREATED_BUNDLE_FIELDS = (
    "personnel_id", "region", "post_category", "post", "status", "hire_date",
    "external_reference",
)  # fmt: skip


def created_bundle(occurred_at: datetime, columns: dict[str, list[Any]]) -> dict[str, Any]:
    """The `personnel.created` events of a batch of new files in one outbox payload:
    `columns` holds a list per `CREATED_BUNDLE_FIELDS` (hire dates as ISO text)."""
    return {"occurred_at": occurred_at.isoformat(), **columns}


def created_bundle_events(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The events of a bundle, each the very document `POST /personnel` announces
    (`envelope` of `created_data`): the relay reads 100,000 of them after a large
    import, in the process that imports, so the time and the hire dates, shared by many
    files, are read and written out once each.
    A bundle written as {"events": [document, ...]} (before the columns) is read as it
    is. Raises ValueError for a malformed one."""
    if "events" in payload:
        return listed_events(dict(payload))
    try:
        occurred = datetime.fromisoformat(payload["occurred_at"]).isoformat()
        columns = [payload[name] for name in CREATED_BUNDLE_FIELDS]
        days: dict[str, str] = {}
        documents: list[dict[str, Any]] = []
        for pid, region, category, post, status, hired, reference in zip(*columns, strict=True):
            day = days.get(hired)
            if day is None:
                day = days[hired] = date.fromisoformat(hired).isoformat()
            data = created_fields(pid, region, category, post, status, day, reference)
            documents.append(document(PERSONNEL_CREATED, region, occurred, data)[1])
        return documents
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a malformed personnel.created bundle: {exc}") from exc


async def personnel_created(session: AsyncSession, person: Personnel, now: datetime) -> str:
    event_id, payload = envelope(
        PERSONNEL_CREATED,
        person.region,
        now,
        created_data(
            person.id,
            person.region,
            person.post_category,
            person.post,
            person.status,
            person.hire_date,
            person.external_reference,
        ),
    )
    return await enqueue(
        session, KERNEL_TABLES.outbox, PERSONNEL_CREATED, payload, event_id=event_id
    )


async def personnel_departed(
    session: AsyncSession, person: Personnel, day: date, reason: str, now: datetime
) -> str:
    event_id, payload = envelope(
        PERSONNEL_DEPARTED,
        person.region,
        now,
        {
            "personnel_id": person.id,
            "url": personnel_url(person.id),
            "region": person.region,
            "post": person.post,
            "date": day.isoformat(),
            "reason": reason,
            "external_reference": person.external_reference,
        },
    )
    return await enqueue(
        session, KERNEL_TABLES.outbox, PERSONNEL_DEPARTED, payload, event_id=event_id
    )
