"""`/api/v1/webhooks`, served by the gateway itself, and the internal event intake."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import TypeAdapter, ValidationError

from gateway.models import WebhookSubscription
from gateway.webhooks import service
from gateway.webhooks.schemas import (
    Attempt,
    BatchAccepted,
    Delivery,
    EventAccepted,
    EventBatchIn,
    EventIn,
    SecretRotated,
    Subscription,
    SubscriptionCreate,
    SubscriptionCreated,
)
from kernel.auth import Principal, Role, require
from kernel.db import utcnow
from kernel.errors import problem_responses
from kernel.pagination import Page, PageParams, keyset, page_of, page_params
from kernel.routing import Idempotent, Session, TransactionalRoute
from kernel.schemas import PathId

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=TransactionalRoute)
internal = APIRouter(
    prefix="/internal", tags=["internal"], route_class=TransactionalRoute, include_in_schema=False
)

Subscriber = Annotated[Principal, Depends(require(Role.PROVINCE_ADMIN, Role.AUDITOR))]
ServiceCaller = Annotated[Principal, Depends(require(Role.SERVICE))]


def _view(sub: WebhookSubscription) -> Subscription:
    return Subscription(
        id=sub.id,
        url=sub.url,
        events=sub.events,
        region=sub.region,
        active=sub.active,
        disabled_reason=sub.disabled_reason,
        consecutive_failures=sub.consecutive_failures,
        created_at=sub.created_at,
    )


@router.post(
    "",
    operation_id="create_webhook",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionCreated,
    dependencies=[Idempotent],
    responses=problem_responses(422),
)
async def create_webhook(
    body: SubscriptionCreate, principal: Subscriber, session: Session, request: Request
) -> SubscriptionCreated:
    sub = await service.subscribe(session, principal, body, request.app.state.settings)
    return SubscriptionCreated(**_view(sub).model_dump(), secret=sub.secret)


@router.get("", operation_id="list_webhooks", response_model=Page[Subscription])
async def list_webhooks(
    principal: Subscriber, session: Session, params: Annotated[PageParams, Depends(page_params)]
) -> Page[Subscription]:
    from sqlalchemy import select

    stmt = select(WebhookSubscription).where(
        principal.region_filter(WebhookSubscription.region),
        WebhookSubscription.deleted_at.is_(None),
    )
    rows = list((await session.execute(keyset(stmt, WebhookSubscription.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda s: s.id)
    return Page(items=[_view(s) for s in rows], next_cursor=cursor)


@router.get("/{webhook_id}", operation_id="get_webhook", response_model=Subscription)
async def get_webhook(webhook_id: PathId, principal: Subscriber, session: Session) -> Subscription:
    return _view(await service.get_subscription(session, principal, webhook_id))


@router.delete(
    "/{webhook_id}",
    operation_id="delete_webhook",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def delete_webhook(webhook_id: PathId, principal: Subscriber, session: Session) -> Response:
    sub = await service.get_subscription(session, principal, webhook_id)
    sub.active = False
    sub.deleted_at = utcnow()
    sub.disabled_reason = f"deleted by {principal.sub}"
    await session.flush()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/rotate-secret",
    operation_id="rotate_webhook_secret",
    response_model=SecretRotated,
)
async def rotate_webhook_secret(
    webhook_id: PathId, principal: Subscriber, session: Session, request: Request
) -> SecretRotated:
    sub = await service.get_subscription(session, principal, webhook_id)
    sub = await service.rotate_secret(session, sub, request.app.state.settings)
    assert sub.previous_secret_until is not None
    return SecretRotated(
        id=sub.id, secret=sub.secret, previous_valid_until=sub.previous_secret_until
    )


@router.post("/{webhook_id}/enable", operation_id="enable_webhook", response_model=Subscription)
async def enable_webhook(
    webhook_id: PathId, principal: Subscriber, session: Session
) -> Subscription:
    sub = await service.get_subscription(session, principal, webhook_id)
    sub.active, sub.disabled_reason, sub.consecutive_failures = True, None, 0
    await session.flush()
    return _view(sub)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="list_webhook_deliveries",
    response_model=Page[Delivery],
)
async def list_webhook_deliveries(
    webhook_id: PathId,
    principal: Subscriber,
    session: Session,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[Delivery]:
    await service.get_subscription(session, principal, webhook_id)
    after = params.after()
    rows = await service.list_deliveries(
        session, webhook_id, int(after) if after is not None else None, params.limit
    )
    rows, cursor = page_of(rows, params, key=lambda r: r[0].id)
    return Page(
        items=[
            Delivery(
                id=d.id,
                event_id=d.event_id,
                event_type=d.event_type,
                status=d.status,
                attempts=d.attempts,
                last_status_code=d.last_status_code,
                last_error=d.last_error,
                created_at=d.created_at,
                delivered_at=d.delivered_at,
                attempt_log=[
                    Attempt(
                        attempted_at=a.attempted_at,
                        status_code=a.status_code,
                        error=a.error,
                        duration_ms=a.duration_ms,
                    )
                    for a in atts
                ],
            )
            for d, atts in rows
        ],
        next_cursor=cursor,
    )


@internal.post(
    "/events",
    operation_id="ingest_event",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventAccepted,
)
async def ingest_event(
    body: EventIn, principal: ServiceCaller, session: Session, request: Request
) -> EventAccepted:
    count, duplicate = await service.ingest(session, body, principal.sub)
    if count and request.app.state.webhook_relay is not None:
        request.app.state.webhook_relay.wake()
    return EventAccepted(event_id=body.event_id, deliveries=count, duplicate=duplicate)


def _message(error: Any) -> str:
    return (
        "unknown field" if error.get("type") == "extra_forbidden" else error.get("msg", "invalid")
    )


def _loose_event_id(item: dict[str, Any]) -> str | None:
    value = item.get("event_id")
    return value if isinstance(value, str) else None


# the whole batch checked in one call (half the cost of a call per event); a batch with
# a bad event is then checked event by event, so that each is judged on its own
EVENT_LIST: TypeAdapter[list[EventIn]] = TypeAdapter(list[EventIn])


def _checked(items: list[dict[str, Any]]) -> tuple[list[tuple[int, EventIn]], dict[int, Any]]:
    """The valid events with their positions, and the refusals by position."""
    try:
        return list(enumerate(EVENT_LIST.validate_python(items))), {}
    except ValidationError:
        pass
    valid: list[tuple[int, EventIn]] = []
    refused: dict[int, Any] = {}
    for index, item in enumerate(items):
        try:
            valid.append((index, EventIn.model_validate(item)))
        except ValidationError as exc:
            refused[index] = {
                "event_id": _loose_event_id(item),
                "status": "rejected",
                "deliveries": 0,
                "errors": [
                    {"loc": list(e.get("loc", ())), "msg": _message(e)} for e in exc.errors()
                ],
            }
    return valid, refused


@internal.post(
    "/events/batch",
    operation_id="ingest_event_batch",
    response_model=BatchAccepted,
)
async def ingest_event_batch(
    body: EventBatchIn, principal: ServiceCaller, session: Session, request: Request
) -> Response:
    """Take many events in one call and one transaction. Each event is judged on its
    own: `accepted` (stored, `deliveries` created), `duplicate` (its id was seen before,
    in an earlier call or earlier in this batch: nothing created) or `rejected` (it does
    not match the schema; `errors` say why). A re-sent batch creates nothing twice.

    The answer (`BatchAccepted`) is written as JSON here: a thousand results built of
    values the intake made itself need no second validation on the way out."""
    valid, refused = _checked(body.events)
    counts = await service.ingest_many(session, [e for _, e in valid], principal.sub)
    results: list[Any] = [None] * len(body.events)
    for index, answer in refused.items():
        results[index] = answer
    accepted = duplicates = deliveries = 0
    for (index, event), (count, duplicate) in zip(valid, counts, strict=True):
        results[index] = {
            "event_id": event.event_id,
            "status": "duplicate" if duplicate else "accepted",
            "deliveries": count,
            "errors": None,
        }
        duplicates += duplicate
        accepted += not duplicate
        deliveries += count
    if deliveries and request.app.state.webhook_relay is not None:
        request.app.state.webhook_relay.wake()
    answer = {
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": len(refused),
        "deliveries": deliveries,
        "results": results,
    }
    return Response(
        json.dumps(answer, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
    )
