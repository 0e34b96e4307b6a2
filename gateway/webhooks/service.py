"""Subscriptions, the event intake (fan-out into deliveries written with the
event), and the delivery handler the gateway's outbox relay calls."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Table, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.config import GatewaySettings
from gateway.models import (
    KERNEL_TABLES,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from gateway.webhooks import signature, ssrf
from gateway.webhooks.schemas import EventIn, SubscriptionCreate
from kernel.auth import Principal
from kernel.bulk import in_chunks, is_postgres, one_of
from kernel.db import Database, utcnow
from kernel.errors import NotFound, Unprocessable
from kernel.outbox import PermanentFailure, enqueue_many

DELIVER_TOPIC = "webhook.deliver"
USER_AGENT = "auxpol-webhooks/1"


class UnsafeWebhookUrl(Unprocessable):
    code, title = "unsafe_webhook_url", "The webhook URL is not allowed"


class DeliveryFailed(Exception):
    """A retryable failure (the relay backs off and tries again)."""


async def subscribe(
    session: AsyncSession,
    principal: Principal,
    body: SubscriptionCreate,
    settings: GatewaySettings,
) -> WebhookSubscription:
    principal.ensure_sees(body.region, "region")
    try:
        await ssrf.check(body.url, settings.webhook_allowed_hosts)
    except ssrf.UnsafeUrl as exc:
        raise UnsafeWebhookUrl(str(exc)) from exc
    sub = WebhookSubscription(
        url=body.url,
        events=sorted({str(e) for e in body.events}),
        region=body.region,
        secret=signature.new_secret(),
        active=True,
        consecutive_failures=0,
        owner=principal.sub,
    )
    session.add(sub)
    await session.flush()
    return sub


async def get_subscription(
    session: AsyncSession, principal: Principal, sub_id: int
) -> WebhookSubscription:
    sub = await session.get(WebhookSubscription, sub_id)
    if sub is None or sub.deleted_at is not None or not principal.sees(sub.region):
        raise NotFound("webhook subscription not found")
    return sub


async def rotate_secret(
    session: AsyncSession, sub: WebhookSubscription, settings: GatewaySettings
) -> WebhookSubscription:
    sub.previous_secret = sub.secret
    sub.previous_secret_until = utcnow() + timedelta(hours=settings.webhook_secret_grace_hours)
    sub.secret = signature.new_secret()
    await session.flush()
    return sub


async def ingest(session: AsyncSession, event: EventIn, source: str) -> tuple[int, bool]:
    """Store the event once and create a delivery per matching subscription, with an
    outbox row for each, in the same transaction."""
    return (await ingest_many(session, [event], source))[0]


async def ingest_many(
    session: AsyncSession, events: Sequence[EventIn], source: str
) -> list[tuple[int, bool]]:
    """Store each event once and create a delivery per matching subscription, with an
    outbox row for each, in the caller's transaction; answers `(deliveries, duplicate)`
    per event, in order. An event id already stored, or met earlier in the same batch,
    is a duplicate and creates nothing (the unique event id and the unique
    subscription and event pair hold this against a concurrent intake too)."""
    wanted = list(dict.fromkeys(e.event_id for e in events))
    known: set[str] = set()
    for chunk in in_chunks(session, wanted):
        known.update(
            (
                await session.execute(
                    select(WebhookEvent.event_id).where(
                        one_of(session, WebhookEvent.event_id, chunk)
                    )
                )
            ).scalars()
        )
    subs: list[WebhookSubscription] = []
    if set(wanted) - known:
        subs = list(
            (
                await session.execute(
                    select(WebhookSubscription)
                    .where(
                        WebhookSubscription.active.is_(True),
                        WebhookSubscription.deleted_at.is_(None),
                    )
                    .order_by(WebhookSubscription.id)
                )
            ).scalars()
        )
    results: list[tuple[int, bool]] = []
    deliveries: list[WebhookDelivery] = []
    stored: list[EventIn] = []
    for event in events:
        if event.event_id in known:
            results.append((0, True))
            continue
        known.add(event.event_id)
        stored.append(event)
        kind = str(event.type)
        matching = [s for s in subs if kind in s.events and event.region.startswith(s.region)]
        for sub in matching:
            deliveries.append(
                WebhookDelivery(
                    subscription_id=sub.id,
                    event_id=event.event_id,
                    event_type=kind,
                    status="pending",
                    attempts=0,
                )
            )
        results.append((len(matching), False))
    await store_events(session, stored, source)
    session.add_all(deliveries)
    await session.flush()
    await enqueue_many(
        session,
        KERNEL_TABLES.outbox,
        [(DELIVER_TOPIC, {"delivery_id": d.id}, f"wh-{d.id}") for d in deliveries],
    )
    return results


def event_bodies(events: Sequence[EventIn]) -> list[dict[str, Any]]:
    """The documents subscribers receive (signed at each delivery), one per event. The
    events of one announcement share their time: it is written out once (by instant
    and offset: 16:00+08:00 and 08:00Z are equal datetimes, written apart)."""
    stamps: dict[tuple[datetime, timedelta | None], str] = {}
    bodies: list[dict[str, Any]] = []
    for event in events:
        moment = event.occurred_at
        stamp = stamps.get((moment, moment.utcoffset()))
        if stamp is None:
            stamp = stamps[(moment, moment.utcoffset())] = moment.isoformat()
        bodies.append(
            {
                "id": event.event_id,
                "type": str(event.type),
                "timestamp": stamp,
                "region": event.region,
                "data": event.data,
            }
        )
    return bodies


async def store_events(session: AsyncSession, events: Sequence[EventIn], source: str) -> None:
    """The events' rows, without ORM objects (an import announces 100,000 at a time;
    deliveries refer to them by event_id). On PostgreSQL one INSERT from one JSON array
    of the bodies, which the server takes apart: the driver then encodes one
    text instead of five arrays element by element (about a fifth of the intake's CPU
    per event), and SQLAlchemy's parameter handling, which cost about half of it, is not
    involved. The unique event_id still refuses a concurrent intake's copy, as an
    IntegrityError either way."""
    if not events:
        return
    received = utcnow()
    bodies = event_bodies(events)
    if is_postgres(session):
        await session.execute(
            text(
                "INSERT INTO webhook_events "
                "(event_id, type, region, occurred_at, source, body, received_at) "
                "SELECT e.body ->> 'id', e.body ->> 'type', e.body ->> 'region', "
                "CAST(e.body ->> 'timestamp' AS timestamptz), :source, e.body, :received "
                "FROM jsonb_array_elements(CAST(:bodies AS jsonb)) WITH ORDINALITY "
                "AS e(body, n) ORDER BY e.n"
            ),
            {"bodies": json.dumps(bodies), "source": source, "received": received},
        )
        return
    table: Table = WebhookEvent.__table__  # type: ignore[assignment]
    await session.execute(
        insert(table),
        [
            {
                "event_id": e.event_id,
                "type": str(e.type),
                "region": e.region,
                "occurred_at": e.occurred_at,
                "source": source,
                "body": body,
                "received_at": received,
            }
            for e, body in zip(events, bodies, strict=True)
        ],
    )


def _secrets_in_use(sub: WebhookSubscription) -> list[str]:
    in_use = [sub.secret]
    if sub.previous_secret and sub.previous_secret_until and sub.previous_secret_until > utcnow():
        in_use.append(sub.previous_secret)
    return in_use


class WebhookDeliverer:
    """The relay handler for `webhook.deliver`."""

    def __init__(self, db: Database, client: httpx.AsyncClient, settings: GatewaySettings):
        self.db = db
        self.client = client
        self.settings = settings

    async def __call__(self, _outbox_id: str, payload: dict[str, Any]) -> None:
        delivery_id = int(payload["delivery_id"])
        async with self.db.transaction(write=False) as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                raise PermanentFailure("delivery vanished")
            sub = await session.get(WebhookSubscription, delivery.subscription_id)
            event = (
                await session.execute(
                    select(WebhookEvent).where(WebhookEvent.event_id == delivery.event_id)
                )
            ).scalar_one()
            assert sub is not None
            url, active, secrets_in_use = (
                sub.url,
                sub.active and sub.deleted_at is None,
                _secrets_in_use(sub),
            )
            body = json.dumps(event.body, separators=(",", ":"), ensure_ascii=False).encode()
            msg_id = "msg_" + event.event_id
        if not active:
            await self._finish(delivery_id, "cancelled", None, "subscription disabled", 0)
            raise PermanentFailure("subscription is disabled")
        try:
            await ssrf.check(url, self.settings.webhook_allowed_hosts)
        except ssrf.UnsafeUrl as exc:
            await self._finish(delivery_id, "dead", None, f"unsafe URL: {exc}", 0)
            raise PermanentFailure(str(exc)) from exc
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature.signature_header(
                secrets_in_use, msg_id, timestamp, body
            ),
        }
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = await self.client.post(
                url, content=body, headers=headers, timeout=self.settings.webhook_timeout_seconds
            )
            status = response.status_code
        except httpx.TimeoutException:
            error = "timed out"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration = int((time.perf_counter() - started) * 1000)
        if status is not None and 200 <= status < 300:
            await self._finish(delivery_id, "delivered", status, None, duration)
            return
        if status == 410:
            await self._finish(
                delivery_id,
                "dead",
                status,
                "receiver answered 410 Gone",
                duration,
                disable="receiver answered 410 Gone",
            )
            raise PermanentFailure("410 Gone: subscription disabled")
        reason = error or f"receiver answered {status}"
        disabled = await self._finish(
            delivery_id, "pending", status, reason, duration, count_failure=True
        )
        if disabled:
            raise PermanentFailure("too many consecutive failures: subscription disabled")
        raise DeliveryFailed(reason)

    async def _finish(
        self,
        delivery_id: int,
        status: str,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        *,
        disable: str | None = None,
        count_failure: bool = False,
    ) -> bool:
        """Record the attempt; returns True when the subscription got disabled."""
        disabled = False
        async with self.db.transaction() as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            assert delivery is not None
            session.add(
                WebhookAttempt(
                    delivery_id=delivery_id,
                    status_code=status_code,
                    error=error,
                    duration_ms=duration_ms,
                )
            )
            if duration_ms or status_code is not None or error:
                delivery.attempts += 1
            delivery.last_status_code = status_code
            delivery.last_error = error
            delivery.status = status
            if status == "delivered":
                delivery.delivered_at = utcnow()
                await session.execute(
                    update(WebhookSubscription)
                    .where(WebhookSubscription.id == delivery.subscription_id)
                    .values(consecutive_failures=0)
                )
            sub = await session.get(WebhookSubscription, delivery.subscription_id)
            assert sub is not None
            if count_failure:
                sub.consecutive_failures += 1
                if sub.consecutive_failures >= self.settings.webhook_disable_after_failures:
                    disable = f"{sub.consecutive_failures} consecutive failed deliveries"
            if delivery.status == "pending" and (
                delivery.attempts >= self.settings.webhook_max_attempts
            ):
                delivery.status = "dead"
            if disable:
                sub.active = False
                sub.disabled_reason = disable
                delivery.status = "dead"
                disabled = True
        return disabled


async def list_deliveries(
    session: AsyncSession, sub_id: int, after: int | None, limit: int
) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id)
    if after is not None:
        stmt = stmt.where(WebhookDelivery.id > after)
    deliveries = list(
        (await session.execute(stmt.order_by(WebhookDelivery.id).limit(limit + 1))).scalars()
    )
    ids = [d.id for d in deliveries]
    attempts: dict[int, list[WebhookAttempt]] = {i: [] for i in ids}
    if ids:
        rows = (
            await session.execute(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_(ids))
                .order_by(WebhookAttempt.id)
            )
        ).scalars()
        for attempt in rows:
            attempts[attempt.delivery_id].append(attempt)
    return [(d, attempts[d.id]) for d in deliveries]
