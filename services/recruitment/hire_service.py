"""Hiring: everyone who holds a place, has cleared every gate and whose publicity notice
has run its course without an objection standing is hired in one transaction, with one
outbox entry per hire (`roster.hire`, delivered by the relay) and one `campaign.hired`
event. The roster creates each person against the plan's reservation, idempotently on
`external_reference`, so a restart or a retry never duplicates anyone."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from services.recruitment import bulk, clock, events, plans_service
from services.recruitment.campaign_state import CampaignContext
from services.recruitment.campaigns_service import cleared_gates
from services.recruitment.errors import (
    InvalidTransition,
    NobodyToHire,
    PlanNotApproved,
    ValidationProblem,
)
from services.recruitment.events import Event, record
from services.recruitment.models import (
    KERNEL_TABLES,
    Application,
    Objection,
    Plan,
    PublicityNotice,
    table_of,
)
from services.recruitment.ranking import Status
from services.recruitment.results_service import finalise_medical_failures
from services.recruitment.schemas import HireIn

A = table_of(Application)
N = table_of(PublicityNotice)
OBJ = table_of(Objection)

DEFAULT_UNIT = "公安局"
"""Where a hire starts work when neither the hire nor the plan's position names a unit."""


def external_reference(campaign_id: int, application_id: int) -> str:
    return f"recruitment:campaign:{campaign_id}:application:{application_id}"


def person_body(
    row: Any, plan: Plan, campaign_region: str, unit: str, hire_date: Any, probation: int
) -> dict[str, Any]:
    """The roster's POST /personnel body. `level` is left out: the roster derives the
    entry level from the education."""
    position = next(p for p in plan.positions if p.post == row.post)
    body: dict[str, Any] = {
        "id_number": row.id_number,
        "name": row.name,
        "region": campaign_region,
        "unit": unit,
        "post_category": position.post_category,
        "post": row.post,
        "education": row.education,
        "veteran": bool(row.veteran),
        "hire_date": hire_date.isoformat(),
        "step": 1,
        "probation_months": probation,
        "reservation_reference": plan.reservation_reference,
        "external_reference": external_reference(row.campaign_id, row.id),
    }
    if row.phone:
        body["phone"] = row.phone
    return body


async def hireable(session: AsyncSession, ctx: CampaignContext) -> list[Any]:
    today = clock.today()
    blocked = select(OBJ.c.application_id).where(
        OBJ.c.campaign_id == ctx.id, OBJ.c.status.in_(("pending", "upheld"))
    )
    rows = (
        await session.execute(
            select(
                A.c.id,
                A.c.campaign_id,
                A.c.post,
                A.c.id_number,
                A.c.name,
                A.c.education,
                A.c.veteran,
                A.c.phone,
                A.c.owed_gates,
            )
            .join(N, N.c.id == A.c.publicity_notice_id)
            .where(
                A.c.campaign_id == ctx.id,
                A.c.status == Status.PLACE.value,
                N.c.ends < today,
                A.c.id.not_in(blocked),
                *cleared_gates(ctx),
            )
            .order_by(A.c.post, A.c.rank, A.c.id)
        )
    ).all()
    return [r for r in rows if not r.owed_gates]


async def hire(
    session: AsyncSession, ctx: CampaignContext, principal: Principal, body: HireIn
) -> dict[str, Any]:
    ctx.ensure_active()
    plan = await plans_service.get_plan(session, None, ctx.campaign.plan_id)
    if plan.status != "approved":
        raise PlanNotApproved(f"plan {plan.id} is {plan.status}; hires need an approved plan")
    # a first medical failure without a re-examination request is final by now
    losses = await finalise_medical_failures(session, ctx, principal.sub)
    rows = await hireable(session, ctx)
    if not rows:
        raise NobodyToHire(
            "nobody holds a place with every gate cleared and a publicity notice that has "
            "run its course without an objection standing"
        )
    ids = {r.id for r in rows}
    stray = sorted(set(body.units) - ids)
    if stray:
        raise ValidationProblem(
            "units are given for applications that are not being hired: "
            + ", ".join(str(i) for i in stray),
            code="unknown_application",
        )
    hire_date = body.hire_date or clock.today()
    now = clock.now()
    units = {p.post: p.unit for p in plan.positions}
    hired: list[dict[str, Any]] = []
    updates: list[tuple[Any, ...]] = []
    history: list[Event] = []
    for r in rows:
        unit = body.units.get(r.id) or units.get(r.post) or DEFAULT_UNIT
        event_id = uuid.uuid4().hex
        person = person_body(r, plan, ctx.campaign.region, unit, hire_date, body.probation_months)
        await events.to_roster(
            session,
            events.TOPIC_HIRE,
            {
                "campaign_id": ctx.id,
                "application_id": r.id,
                "plan_id": plan.id,
                "person": person,
            },
            event_id=event_id,
        )
        updates.append((r.id, Status.HIRED.value, "pending", event_id, hire_date, now))
        history.append(
            Event(
                r.id,
                ctx.id,
                now,
                principal.sub,
                "status",
                stage="hire",
                from_status=Status.PLACE.value,
                to_status=Status.HIRED.value,
                reason=f"hired from {hire_date} in {unit}; on its way to the roster",
                data={"event_id": event_id, "unit": unit},
            )
        )
        hired.append(
            {
                "application_id": r.id,
                "name": r.name,
                "post": r.post,
                "unit": unit,
                "event_id": event_id,
            }
        )
    changed = await bulk.update_rows(
        session,
        A,
        (
            ("status", "text"),
            ("hire_state", "text"),
            ("hire_event_id", "text"),
            ("hire_date", "date"),
            ("hired_at", "timestamptz"),
        ),
        updates,
    )
    if changed != len(updates):
        raise InvalidTransition("the candidates changed at the same time; try again")
    await record(session, history)
    await events.publish(
        session,
        events.CAMPAIGN_HIRED,
        ctx.campaign.region,
        {
            "campaign_id": ctx.id,
            "plan_id": plan.id,
            "hire_date": hire_date.isoformat(),
            "hired": [
                {"application_id": h["application_id"], "name": h["name"], "post": h["post"]}
                for h in hired
            ],
            "url": f"{events.API}/campaigns/{ctx.id}/filing",
        },
    )
    return {
        "campaign_id": ctx.id,
        "hire_date": hire_date,
        "hired": hired,
        "losses": [loss.as_dict() for loss in losses],
    }


async def redeliver(
    session: AsyncSession, ctx: CampaignContext, principal: Principal, app: Application
) -> str:
    """Send a hire the roster refused once more (after the cause was fixed), as a new
    outbox entry with the same person and external reference."""
    if app.status != Status.HIRED.value or app.hire_state != "failed":
        raise InvalidTransition("only a hire the roster refused can be sent again")
    outbox = KERNEL_TABLES.outbox
    payload = (
        await session.execute(
            select(outbox.c.payload).where(outbox.c.event_id == app.hire_event_id)
        )
    ).scalar_one()
    event_id = uuid.uuid4().hex
    await events.to_roster(session, events.TOPIC_HIRE, dict(payload), event_id=event_id)
    changed = await session.execute(
        update(A)
        .where(A.c.id == app.id, A.c.hire_state == "failed")
        .values(
            hire_state="pending", hire_error=None, hire_event_id=event_id, version=A.c.version + 1
        )
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the hire changed at the same time; try again")
    await record(
        session,
        [
            Event(
                app.id,
                ctx.id,
                clock.now(),
                principal.sub,
                "hire_redelivery",
                reason="sent to the roster again",
                data={"event_id": event_id},
            )
        ],
    )
    return event_id
