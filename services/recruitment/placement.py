"""Losing a place, and the ranked backfill (递补) that follows, on the database.

The decision is the pure `backfill.decide_backfill` over the post's list as stored; it is
applied with compare-and-set updates (the loser must still hold what it held, the
promoted candidate must still be an uncalled reserve) and every move is recorded in the
history with its reason. The caller holds the campaign lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.recruitment import clock
from services.recruitment.backfill import (
    BACKFILLED,
    LossEvent,
    Move,
    PostList,
    Standing,
    apply_decision,
    decide_backfill,
)
from services.recruitment.campaign_state import CampaignContext
from services.recruitment.errors import InvalidTransition
from services.recruitment.events import Event, record
from services.recruitment.models import Application, ApplicationEvent, table_of
from services.recruitment.ranking import Status
from services.recruitment.rules import LossCause
from services.recruitment.stages import MedicalOutcome, Stage, medical_outcome, owed_gates

# The out/withdrawn `reason` code a loss leaves on the application.
LOSS_REASON = {
    LossCause.FITNESS: "failed_fitness",
    LossCause.MEDICAL: "failed_medical",
    LossCause.POLITICAL: "failed_political",
    LossCause.WITHDRAWAL: "withdrawn",
    LossCause.OBJECTION: "objection_upheld",
}

A = table_of(Application)


@dataclass(frozen=True, slots=True)
class Loss:
    application_id: int
    cause: str
    promoted: int | None
    decision: str
    owed_gates: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "application_id": self.application_id,
            "cause": self.cause,
            "promoted": self.promoted,
            "decision": self.decision,
            "owed_gates": list(self.owed_gates),
        }


def gates_passed(row: Any) -> frozenset[str]:
    """The gates an application has cleared, from its stored results."""
    passed: set[str] = set()
    if row.fitness_passed:
        passed.add(Stage.FITNESS.value)
    if row.medical_first is not None:
        try:
            outcome = medical_outcome(
                row.medical_first, row.medical_recheck, row.medical_recheck_requested
            )
        except ValueError:
            outcome = MedicalOutcome.PENDING
        if outcome is MedicalOutcome.PASSED:
            passed.add(Stage.MEDICAL.value)
    if row.political_passed:
        passed.add(Stage.POLITICAL.value)
    if row.publicity_notice_id is not None:
        passed.add(Stage.PUBLICITY.value)
    return frozenset(passed)


async def _post_list(session: AsyncSession, ctx: CampaignContext, post: str) -> PostList:
    rows = (
        await session.execute(
            select(
                A.c.id,
                A.c.rank,
                A.c.status,
                A.c.called,
                A.c.fitness_passed,
                A.c.medical_first,
                A.c.medical_recheck,
                A.c.medical_recheck_requested,
                A.c.political_passed,
                A.c.publicity_notice_id,
            ).where(
                A.c.campaign_id == ctx.id,
                A.c.post == post,
                A.c.status.in_([Status.PLACE.value, Status.RESERVE.value]),
            )
        )
    ).all()
    hired = (
        await session.execute(
            select(func.count()).where(
                A.c.campaign_id == ctx.id, A.c.post == post, A.c.status == Status.HIRED.value
            )
        )
    ).scalar_one()
    E = table_of(ApplicationEvent)
    promotions = (
        await session.execute(
            select(E.c.application_id, E.c.reason, E.c.at, E.c.data)
            .join(A, A.c.id == E.c.application_id)
            .where(A.c.campaign_id == ctx.id, A.c.post == post, E.c.kind == "backfill")
            .order_by(E.c.id)
        )
    ).all()
    moves = tuple(
        Move(
            p.application_id,
            Status.RESERVE,
            Status.PLACE,
            p.reason or "",
            clock.local_date(p.at),
            int((p.data or {}).get("round") or i + 1),
        )
        for i, p in enumerate(promotions)
    )
    standings = tuple(
        Standing(r.id, r.rank, Status(r.status), bool(r.called), gates_passed(r)) for r in rows
    )
    places = max(0, ctx.posts[post].places - int(hired))
    return PostList(post, places, standings, moves)


async def lose(
    session: AsyncSession,
    ctx: CampaignContext,
    application_id: int,
    cause: LossCause,
    actor: str,
    note: str | None = None,
) -> Loss:
    """`application_id` (holding a place or a reserve rank) loses it for `cause`; the
    next-ranked uncalled reserve of the post takes the place when the policy allows."""
    row = (
        await session.execute(select(A.c.post, A.c.status).where(A.c.id == application_id))
    ).one()
    post_list = await _post_list(session, ctx, row.post)
    today = clock.today()
    place_gates = owed_gates(ctx.states, ctx.promotion_stage, (), fitness_scored=ctx.fitness_scored)
    try:
        decision = decide_backfill(
            post_list,
            ctx.rules.backfill,
            LossEvent(application_id, cause, today),
            tuple(g.value for g in place_gates),
        )
        after = apply_decision(post_list, decision)
    except ValueError as exc:
        raise InvalidTransition(str(exc)) from exc
    now = clock.now()
    new_moves = after.moves[len(post_list.moves) :]
    lost_move = new_moves[0]
    reason_code = LOSS_REASON[cause]
    changed = await session.execute(
        update(A)
        .where(A.c.id == application_id, A.c.status == row.status)
        .values(status=lost_move.to_status.value, reason=reason_code, version=A.c.version + 1)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the application changed at the same time; try again")
    events = [
        Event(
            application_id,
            ctx.id,
            now,
            actor,
            "status",
            stage=_stage_of(cause),
            from_status=lost_move.from_status.value,
            to_status=lost_move.to_status.value,
            reason=f"{lost_move.reason}" + (f" — {note}" if note else ""),
            data={"cause": cause.value, "code": reason_code},
        )
    ]
    owed = tuple(decision.owed_gates)
    if decision.promoted is not None:
        promote_move = new_moves[1]
        promoted = await session.execute(
            update(A)
            .where(
                and_(
                    A.c.id == decision.promoted,
                    A.c.status == Status.RESERVE.value,
                    A.c.called.is_(False),
                )
            )
            .values(
                status=Status.PLACE.value,
                called=True,
                reason=None,
                owed_gates=list(owed),
                version=A.c.version + 1,
            )
        )
        if promoted.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidTransition("the reserve changed at the same time; try again")
        events.append(
            Event(
                int(decision.promoted),
                ctx.id,
                now,
                actor,
                "backfill",
                stage=_stage_of(cause),
                from_status=Status.RESERVE.value,
                to_status=Status.PLACE.value,
                reason=promote_move.reason,
                data={
                    "round": promote_move.round,
                    "replaces": application_id,
                    "cause": cause.value,
                    "owed_gates": list(owed),
                },
            )
        )
    elif decision.reason != BACKFILLED and row.status == Status.PLACE.value:
        events.append(
            Event(
                application_id,
                ctx.id,
                now,
                actor,
                "backfill_skipped",
                stage=_stage_of(cause),
                reason=f"the place is not backfilled: {decision.reason}",
                data={"cause": cause.value, "decision": decision.reason},
            )
        )
    await record(session, events)
    return Loss(
        application_id=application_id,
        cause=cause.value,
        promoted=int(decision.promoted) if decision.promoted is not None else None,
        decision=decision.reason,
        owed_gates=owed,
    )


def _stage_of(cause: LossCause) -> str | None:
    return {
        LossCause.FITNESS: Stage.FITNESS.value,
        LossCause.MEDICAL: Stage.MEDICAL.value,
        LossCause.POLITICAL: Stage.POLITICAL.value,
        LossCause.OBJECTION: Stage.PUBLICITY.value,
    }.get(cause)
