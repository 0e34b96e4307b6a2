"""Publicity (公示): notices over those who hold a place and have cleared every gate, and
objections, of which an upheld one removes the candidate (and backfills the place)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from services.recruitment import bulk, clock
from services.recruitment.campaign_state import CampaignContext
from services.recruitment.campaigns_service import cleared_gates
from services.recruitment.errors import (
    InvalidTransition,
    NobodyToPublicise,
    NotInStage,
    ObjectionDecided,
    ObjectionNotFound,
    StageNotOpen,
)
from services.recruitment.events import Event, record
from services.recruitment.models import Application, Objection, PublicityNotice, table_of
from services.recruitment.placement import Loss, lose
from services.recruitment.publicity import publicity_end
from services.recruitment.ranking import Status
from services.recruitment.results_service import finalise_medical_failures
from services.recruitment.rules import LossCause
from services.recruitment.stages import Stage, StageState

A = table_of(Application)
OBJ = table_of(Objection)


async def post_notice(
    session: AsyncSession, ctx: CampaignContext, principal: Principal, starts: date
) -> dict[str, Any]:
    """A notice covering everyone who holds a place, has cleared every gate and owes
    nothing else, and is not yet publicised. Once the publicity stage has closed, only
    backfilled candidates who owe publicity (a notice of their own) can be covered."""
    ctx.ensure_active()
    state = ctx.state(Stage.PUBLICITY)
    if state is StageState.PENDING:
        raise StageNotOpen("the publicity stage opens when the political review closes")
    # a first medical failure without a re-examination request is final by now
    await finalise_medical_failures(session, ctx, principal.sub)
    rows = (
        await session.execute(
            select(A.c.id, A.c.owed_gates).where(
                A.c.campaign_id == ctx.id,
                A.c.status == Status.PLACE.value,
                A.c.publicity_notice_id.is_(None),
                *cleared_gates(ctx),
            )
        )
    ).all()
    covered = [
        r.id
        for r in rows
        if not [g for g in (r.owed_gates or []) if g != Stage.PUBLICITY.value]
        and (state is StageState.OPEN or Stage.PUBLICITY.value in (r.owed_gates or []))
    ]
    if not covered:
        raise NobodyToPublicise("nobody holds a place with every gate cleared and without a notice")
    days = ctx.rules.publicity_working_days
    ends = publicity_end(starts, days, ctx.rules.holidays, ctx.rules.workdays_override)
    now = clock.now()
    notice = PublicityNotice(
        campaign_id=ctx.id, starts=starts, ends=ends, created_by=principal.sub, created_at=now
    )
    session.add(notice)
    await session.flush()
    await bulk.update_ids(session, A, covered, {"publicity_notice_id": notice.id})
    owed_of = {r.id: list(r.owed_gates or []) for r in rows}
    for app_id in covered:
        if Stage.PUBLICITY.value in owed_of[app_id]:
            owed = [g for g in owed_of[app_id] if g != Stage.PUBLICITY.value]
            await session.execute(
                update(A).where(A.c.id == app_id).values(owed_gates=owed, version=A.c.version + 1)
            )
    await record(
        session,
        [
            Event(
                app_id,
                ctx.id,
                now,
                principal.sub,
                "publicity",
                stage=Stage.PUBLICITY.value,
                reason=f"publicised from {starts} to {ends} ({days} working days)",
                data={"notice_id": notice.id},
            )
            for app_id in covered
        ],
    )
    return {
        "id": notice.id,
        "campaign_id": ctx.id,
        "starts": starts,
        "ends": ends,
        "working_days": days,
        "application_ids": covered,
        "created_by": principal.sub,
        "created_at": now,
    }


async def raise_objection(
    session: AsyncSession,
    ctx: CampaignContext,
    principal: Principal,
    app: Application,
    text: str,
    objector: str | None,
) -> Objection:
    ctx.ensure_active()
    if app.status != Status.PLACE.value or app.publicity_notice_id is None:
        raise NotInStage("objections concern a candidate under a publicity notice")
    objection = Objection(
        application_id=app.id,
        campaign_id=ctx.id,
        text=text,
        objector=objector,
        status="pending",
        raised_by=principal.sub,
        raised_at=clock.now(),
    )
    session.add(objection)
    await session.flush()
    return objection


async def get_objection(session: AsyncSession, app: Application, objection_id: int) -> Objection:
    objection = (
        await session.execute(
            select(Objection)
            .where(Objection.id == objection_id, Objection.application_id == app.id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if objection is None:
        raise ObjectionNotFound(f"objection {objection_id} not found")
    return objection


async def decide(
    session: AsyncSession,
    ctx: CampaignContext,
    principal: Principal,
    app: Application,
    objection: Objection,
    upheld: bool,
    reason: str,
) -> Loss | None:
    """Decide an objection (once: compare-and-set); an upheld one removes the candidate."""
    ctx.ensure_active()
    if objection.status != "pending":
        raise ObjectionDecided(f"the objection was already {objection.status}")
    if upheld and app.status != Status.PLACE.value:
        raise InvalidTransition(f"the candidate is {app.status}; nothing to remove")
    now = clock.now()
    changed = await session.execute(
        update(OBJ)
        .where(OBJ.c.id == objection.id, OBJ.c.status == "pending")
        .values(
            status="upheld" if upheld else "dismissed",
            decided_by=principal.sub,
            decided_at=now,
            decision_reason=reason,
        )
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise ObjectionDecided("the objection was decided at the same time")
    if not upheld:
        return None
    return await lose(session, ctx, app.id, LossCause.OBJECTION, principal.sub, reason)
