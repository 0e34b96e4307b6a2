"""Outbox events of the roster, written in the same transaction as the change.

Payload: {"event_id", "type", "occurred_at", "region", "data": {"personnel_id", "url",
...}}. No ID numbers: the events travel to provincial integrations as webhooks. Event ids are
"<topic>:<personnel id>", unique because a file is created once and leaves once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.outbox import enqueue
from services.roster.db import KERNEL_TABLES
from services.roster.models import Personnel

PERSONNEL_CREATED = "personnel.created"
PERSONNEL_DEPARTED = "personnel.departed"
# One outbox row for a bulk import's batch of new files: {"events": [personnel.created
# document, ...]}. The relay announces its events one by one (kernel `bundled_events`),
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
    event_id = event_id_for(topic, data["personnel_id"])
    return event_id, {
        "event_id": event_id,
        "type": topic,
        "occurred_at": occurred_at.isoformat(),
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
    return {
        "personnel_id": personnel_id,
        "url": personnel_url(personnel_id),
        "region": region,
        "post_category": post_category,
        "post": post,
        "status": status,
        "hire_date": hire_date.isoformat(),
        "external_reference": external_reference,
    }


_json_text = json.encoder.encode_basestring  # a str as a JSON string (C-accelerated)


CreatedDocument = Callable[[int, str, str, str, str, date, str | None], str]


def created_documents(occurred_at: datetime) -> CreatedDocument:
    """A fast writer of `personnel.created` documents as JSON text, for bulk imports:
    `write(personnel_id, region, post_category, post, status, hire_date,
    external_reference)` gives the same document as `envelope(PERSONNEL_CREATED, ...,
    created_data(...))`, without building dictionaries (tests/test_events.py)."""
    topic = _json_text(PERSONNEL_CREATED)[1:-1]
    url = _json_text(f"{API_PREFIX}/personnel/")[1:-1]
    head = (
        f'{{"event_id":"{topic}:%d","type":"{topic}","occurred_at":'
        f"{_json_text(occurred_at.isoformat())},"
    )
    body = (
        '"region":%s,"data":{"personnel_id":%d,"url":"' + url + '%d","region":%s,'
        '"post_category":%s,"post":%s,"status":%s,"hire_date":"%s","external_reference":%s}}'
    )
    template = head + body
    text = _json_text

    def write(
        personnel_id: int,
        region: str,
        post_category: str,
        post: str,
        status: str,
        hire_date: date,
        external_reference: str | None,
    ) -> str:
        where = text(region)
        return template % (
            personnel_id,
            where,
            personnel_id,
            personnel_id,
            where,
            text(post_category),
            text(post),
            text(status),
            hire_date.isoformat(),
            "null" if external_reference is None else text(external_reference),
        )

    return write


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
