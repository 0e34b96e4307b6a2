"""Plans: draft → submitted → approved / rejected → closed.

Every transition is a compare-and-set on the plan's status (two approvals never both
succeed). Approval takes the plan's row first, then reserves the seats in the roster
with the approver's own token: a refusal rolls the transaction back and the plan stays
submitted. The reservation is idempotent on its reference, so a retried approval reuses
it. Closing releases the unfilled seats through the outbox.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kernel.auth import Principal, Role
from kernel.pagination import PageParams, keyset, page_of
from services.recruitment import clock, events
from services.recruitment.errors import (
    ApprovalOutsideAuthority,
    HiresPending,
    InvalidTransition,
    PlanNotApproved,
    PlanNotFound,
    RegionOutsideJurisdiction,
)
from services.recruitment.models import Application, Campaign, Plan, PlanPosition, table_of
from services.recruitment.roster_client import reserve_seats
from services.recruitment.schemas import PlanIn

A = table_of(Application)
P = table_of(Plan)


def reservation_reference(plan_id: int) -> str:
    return f"recruitment-plan-{plan_id}"


def _with_positions() -> Select[Plan]:
    return select(Plan).options(selectinload(Plan.positions))


async def get_plan(
    session: AsyncSession, principal: Principal | None, plan_id: int, *, lock: bool = False
) -> Plan:
    stmt = _with_positions().where(Plan.id == plan_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update(of=Plan)
    plan = (await session.execute(stmt)).scalar_one_or_none()
    if plan is None or (principal is not None and not principal.sees(plan.region)):
        raise PlanNotFound(f"plan {plan_id} not found")
    return plan


async def create_plan(session: AsyncSession, principal: Principal, body: PlanIn) -> Plan:
    if not principal.sees(body.region):
        raise RegionOutsideJurisdiction(f"region {body.region} is outside your jurisdiction")
    plan = Plan(
        region=body.region,
        year=body.year,
        title=body.title,
        status="draft",
        created_by=principal.sub,
        created_at=clock.now(),
        version=1,
        positions=[
            PlanPosition(
                post_category=p.post_category, post=p.post, headcount=p.headcount, unit=p.unit
            )
            for p in body.positions
        ],
    )
    session.add(plan)
    await session.flush()
    return await get_plan(session, principal, plan.id)


async def _transition(
    session: AsyncSession, plan: Plan, expected: tuple[str, ...], **values: Any
) -> None:
    result = await session.execute(
        update(P)
        .where(P.c.id == plan.id, P.c.status.in_(expected))
        .values(**values, version=P.c.version + 1)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition(
            f"plan {plan.id} is {plan.status}; this needs it to be {' or '.join(expected)}"
        )


async def submit(session: AsyncSession, principal: Principal, plan: Plan) -> None:
    await _transition(
        session,
        plan,
        ("draft",),
        status="submitted",
        submitted_by=principal.sub,
        submitted_at=clock.now(),
    )


def ensure_authority(principal: Principal, plan: Plan) -> None:
    """A province_admin decides plans strictly below its own region; system_admin always."""
    if Role.SYSTEM_ADMIN in principal.roles:
        return
    if not (
        Role.PROVINCE_ADMIN in principal.roles
        and plan.region.startswith(principal.region)
        and len(principal.region) < len(plan.region)
    ):
        raise ApprovalOutsideAuthority(
            f"a plan for {plan.region} is decided by a province administrator above it, "
            f"not by one for {principal.region or 'the whole country'}"
        )


async def approve(
    app: FastAPI,
    session: AsyncSession,
    principal: Principal,
    plan: Plan,
    authorization: str,
    note: str | None,
) -> None:
    ensure_authority(principal, plan)
    seats = sum(p.headcount for p in plan.positions)
    reference = reservation_reference(plan.id)
    now = clock.now()
    # Take the row (compare-and-set) before calling out: a concurrent approval waits
    # for this transaction and then finds the plan no longer submitted.
    await _transition(
        session,
        plan,
        ("submitted",),
        status="approved",
        decided_by=principal.sub,
        decided_at=now,
        decision_reason=note,
        reservation_reference=reference,
        reservation_seats=seats,
    )
    reservation = await reserve_seats(app, authorization, plan.region, seats, reference)
    await session.execute(
        update(P).where(P.c.id == plan.id).values(reservation_id=str(reservation["id"]))
    )
    data = {
        "plan_id": plan.id,
        "region": plan.region,
        "year": plan.year,
        "headcount": seats,
        "positions": [
            {"post_category": p.post_category, "post": p.post, "headcount": p.headcount}
            for p in plan.positions
        ],
        "approved_by": principal.sub,
        "reservation_id": str(reservation["id"]),
    }
    await events.publish(
        session, events.PLAN_APPROVED, plan.region, {**data, "url": f"{events.API}/plans/{plan.id}"}
    )
    await events.publish(
        session,
        events.PLAN_FILED,
        plan.region,
        {
            **data,
            "document": "pre_recruitment_report",
            "url": f"{events.API}/plans/{plan.id}/filing",
        },
    )


async def reject(
    session: AsyncSession, principal: Principal, plan: Plan, reason: str | None
) -> None:
    ensure_authority(principal, plan)
    await _transition(
        session,
        plan,
        ("submitted",),
        status="rejected",
        decided_by=principal.sub,
        decided_at=clock.now(),
        decision_reason=reason,
    )


async def close(session: AsyncSession, principal: Principal, plan: Plan) -> None:
    """Close an approved (or rejected) plan; an approved plan's unfilled seats are released
    in the roster through the outbox, and its campaign ends."""
    if plan.status == "approved":
        campaign = (
            await session.execute(
                select(Campaign.id).where(Campaign.plan_id == plan.id).with_for_update()
            )
        ).scalar_one_or_none()
        if campaign is not None:
            pending = (
                await session.execute(
                    select(func.count()).where(
                        A.c.campaign_id == campaign, A.c.hire_state == "pending"
                    )
                )
            ).scalar_one()
            if pending:
                raise HiresPending(
                    f"{pending} hire(s) have not reached the roster yet; close the plan once "
                    "they have"
                )
    await _transition(
        session,
        plan,
        ("approved", "rejected"),
        status="closed",
        closed_by=principal.sub,
        closed_at=clock.now(),
    )
    if plan.status == "approved":
        C = table_of(Campaign)
        await session.execute(
            update(C)
            .where(C.c.plan_id == plan.id, C.c.status == "active")
            .values(status="closed", version=C.c.version + 1)
        )
        if plan.reservation_id:
            await events.to_roster(
                session,
                events.TOPIC_RELEASE,
                {
                    "plan_id": plan.id,
                    "reservation_id": plan.reservation_id,
                    "reference": plan.reservation_reference,
                },
            )


def ensure_filed(plan: Plan) -> None:
    if plan.decided_at is None or plan.reservation_id is None:
        raise PlanNotApproved(
            f"plan {plan.id} is {plan.status}; the pre-recruitment report exists once approved"
        )


async def list_plans(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    region: str | None,
    status: str | None,
    year: int | None,
) -> tuple[list[Plan], str | None]:
    stmt = _with_positions().where(principal.region_filter(Plan.region))
    if region:
        stmt = stmt.where(Plan.region.startswith(region, autoescape=True))
    if status:
        stmt = stmt.where(Plan.status == status)
    if year is not None:
        stmt = stmt.where(Plan.year == year)
    rows = list((await session.execute(keyset(stmt, Plan.id, params))).scalars())
    return page_of(rows, params, key=lambda p: p.id)


async def plan_extras(
    session: AsyncSession, plan_ids: list[int]
) -> tuple[dict[int, int], dict[tuple[int, str], int]]:
    """Each plan's campaign id, and the hires per (plan, post)."""
    if not plan_ids:
        return {}, {}
    C = table_of(Campaign)
    campaigns = {
        plan_id: cid
        for cid, plan_id in (
            await session.execute(select(C.c.id, C.c.plan_id).where(C.c.plan_id.in_(plan_ids)))
        ).all()
    }
    filled: dict[tuple[int, str], int] = defaultdict(int)
    if campaigns:
        by_campaign = {cid: pid for pid, cid in campaigns.items()}
        rows = (
            await session.execute(
                select(A.c.campaign_id, A.c.post, func.count())
                .where(A.c.campaign_id.in_(list(by_campaign)), A.c.status == "hired")
                .group_by(A.c.campaign_id, A.c.post)
            )
        ).all()
        for cid, post, n in rows:
            filled[(by_campaign[cid], post)] += int(n)
    return campaigns, filled


def plan_view(
    plan: Plan, campaign_id: int | None, filled: dict[tuple[int, str], int]
) -> dict[str, Any]:
    positions = [
        {
            "post_category": p.post_category,
            "post": p.post,
            "headcount": p.headcount,
            "unit": p.unit,
            "filled": filled.get((plan.id, p.post), 0),
        }
        for p in plan.positions
    ]
    return {
        "id": plan.id,
        "region": plan.region,
        "year": plan.year,
        "title": plan.title,
        "status": plan.status,
        "positions": positions,
        "headcount": sum(p["headcount"] for p in positions),
        "filled": sum(p["filled"] for p in positions),
        "reservation": (
            {
                "id": plan.reservation_id,
                "reference": plan.reservation_reference,
                "seats": plan.reservation_seats,
            }
            if plan.reservation_id
            else None
        ),
        "campaign_id": campaign_id,
        "created_by": plan.created_by,
        "created_at": plan.created_at,
        "submitted_by": plan.submitted_by,
        "submitted_at": plan.submitted_at,
        "decided_by": plan.decided_by,
        "decided_at": plan.decided_at,
        "decision_reason": plan.decision_reason,
        "closed_by": plan.closed_by,
        "closed_at": plan.closed_at,
        "version": plan.version,
    }
