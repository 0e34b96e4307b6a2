"""Payroll inputs and runs: draft → calculated → approved → paid, or cancelled.

Atomicity: every write of a request happens in the request's one transaction
(``TransactionalRoute`` commits once), so a calculation that fails half-way leaves the
run as it was. Transitions are compare-and-set on status and version, so two concurrent
transitions never both succeed. Run creation is serialised per period (an advisory lock
on PostgreSQL, BEGIN IMMEDIATE on SQLite) before the overlap check.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.db import utcnow
from kernel.outbox import enqueue
from services.compensation import repository as repo
from services.compensation import upstream
from services.compensation.config import CompensationSettings
from services.compensation.errors import (
    ConcurrentTransition,
    InvalidStep,
    InvalidTransition,
    NegativeNetPay,
    NoPayForLevel,
    NoPayForPost,
    NoScheduleInForce,
    PayrollRunOverlaps,
    PeriodClosed,
    RunStale,
    SeparationOfDuties,
    UnknownGrade,
)
from services.compensation.models import (
    KERNEL_TABLES,
    PayrollInput,
    PayrollRun,
    PayrollRunSchedule,
    RunStatus,
)
from services.compensation.money import fen_str
from services.compensation.run_calculation import (
    CalculationProblems,
    RunCalculator,
    period_bounds,
)
from services.compensation.schedules_service import ScheduleResolver, check_region
from services.compensation.schemas import PayrollInputIn, PayrollRunIn

APPROVED_TOPIC = "payroll_run.approved"
CHUNK_RECORDS = 10_000
RUN_URL = "/api/v1/compensation/payroll-runs/{id}"


def _centi(value: Decimal) -> int:
    return int(value.scaleb(2))


def _fen(value: Decimal) -> int:
    return int(value.scaleb(2))


@dataclass
class Upstreams:
    """What a request needs to call the roster: the shared client, the roster's URL,
    and the caller's own Authorization header (forwarded)."""

    client: httpx.AsyncClient
    settings: CompensationSettings
    authorization: str


# -------------------------------------------------------------------------- inputs


@dataclass
class InputResult:
    row: PayrollInput
    created: bool


async def record_input(
    session: AsyncSession, principal: Principal, body: PayrollInputIn, up: Upstreams
) -> InputResult:
    """Create or replace a person's input for a period. The person must be in the roster
    of the caller's jurisdiction; the period must not be approved or paid for them."""
    region = await upstream.personnel_region(
        up.client, up.settings.roster_url, up.authorization, body.personnel_id
    )
    check_region(principal, region, "person's region")
    covering = await repo.covering_runs(session, region, body.period, lock=True)
    closed = [run_id for run_id, status in covering if status in RunStatus.CLOSED]
    if closed:
        raise PeriodClosed(
            f"payroll run {closed[0]} for {body.period} is approved or paid and covers "
            f"person {body.personnel_id}; inputs for that period are closed",
            payroll_run_id=closed[0],
        )
    now = utcnow()
    row = (
        await session.execute(
            select(PayrollInput).where(
                PayrollInput.personnel_id == body.personnel_id,
                PayrollInput.period == body.period,
            )
        )
    ).scalar_one_or_none()
    created = row is None
    if row is None:
        row = PayrollInput(
            personnel_id=body.personnel_id,
            period=body.period,
            created_by=principal.sub,
            created_at=now,
        )
        session.add(row)
    row.region = region
    row.overtime_weekday_centihours = _centi(body.overtime_hours.weekday)
    row.overtime_rest_day_centihours = _centi(body.overtime_hours.rest_day)
    row.overtime_holiday_centihours = _centi(body.overtime_hours.holiday)
    row.unpaid_leave_centidays = _centi(body.unpaid_leave_days)
    row.awards = _fen(body.awards)
    row.deductions = _fen(body.deductions)
    row.special_additional_deductions = _fen(body.special_additional_deductions)
    row.note = body.note
    row.updated_by = principal.sub
    row.updated_at = now
    await session.flush()
    await repo.mark_stale(session, [run_id for run_id, _ in covering])
    return InputResult(row, created)


# ---------------------------------------------------------------------------- runs


async def create_run(session: AsyncSession, principal: Principal, body: PayrollRunIn) -> PayrollRun:
    check_region(principal, body.region)
    await repo.lock_period(session, body.period)
    overlapping = await repo.overlapping_runs(session, body.region, body.period)
    if overlapping:
        other = overlapping[0]
        raise PayrollRunOverlaps(
            f"payroll run {other.id} ({other.region}, {other.period}, {other.status}) overlaps "
            f"{body.region} for {body.period}; cancel it first"
            + (" (it is paid and locked)" if other.status == RunStatus.PAID else ""),
            overlapping=[{"id": r.id, "region": r.region, "status": r.status} for r in overlapping],
        )
    run = PayrollRun(
        region=body.region,
        period=body.period,
        status=RunStatus.DRAFT,
        stale=False,
        headcount=0,
        totals={},
        warnings=[],
        created_by=principal.sub,
        created_at=utcnow(),
    )
    session.add(run)
    await session.flush()
    return run


def _refuse(run: PayrollRun, action: str, allowed: tuple[str, ...]) -> InvalidTransition:
    return InvalidTransition(
        f"cannot {action} payroll run {run.id}: it is {run.status} "
        f"(allowed when {' or '.join(allowed)})",
        status_now=run.status,
    )


async def _reload(session: AsyncSession, run: PayrollRun) -> PayrollRun:
    await session.refresh(run)
    return run


def _raise_problems(problems: CalculationProblems) -> None:
    errors: list[dict[str, Any]] = []
    for region, n in sorted(problems.no_schedule.items()):
        errors.append(
            {"loc": ["region", region], "msg": f"no schedule in force ({n} people)", "count": n}
        )
    for post, n in sorted(problems.no_pay_for_post.items()):
        errors.append({"loc": ["post", post], "msg": f"no position pay ({n} people)", "count": n})
    for level, n in sorted(problems.no_pay_for_level.items()):
        errors.append({"loc": ["level", level], "msg": f"no level pay ({n} people)", "count": n})
    for grade, n in sorted(problems.unknown_grade.items()):
        errors.append(
            {"loc": ["last_grade", grade], "msg": f"unknown grade ({n} people)", "count": n}
        )
    for pid in problems.invalid_step[:100]:
        errors.append({"loc": ["personnel", pid], "msg": "step below 1"})
    if problems.no_schedule:
        raise NoScheduleInForce(
            "no pay schedule is in force for "
            + ", ".join(sorted(problems.no_schedule))
            + "; put one for the region or a prefix of it",
            errors=errors,
        )
    if problems.no_pay_for_post:
        posts = sorted(problems.no_pay_for_post)
        raise NoPayForPost(
            "the schedule in force has no position pay for post(s) " + ", ".join(posts),
            posts=posts,
            errors=errors,
        )
    if problems.no_pay_for_level:
        levels = sorted(problems.no_pay_for_level)
        raise NoPayForLevel(
            "the schedule in force has no level pay for level(s) " + ", ".join(map(str, levels)),
            levels=levels,
            errors=errors,
        )
    if problems.unknown_grade:
        raise UnknownGrade(
            "the roster reports unknown assessment grade(s) "
            + ", ".join(sorted(problems.unknown_grade)),
            errors=errors,
        )
    raise InvalidStep("the roster reports steps below 1", errors=errors)


async def _prefetched(chunks: Iterator[list[Any]]) -> AsyncGenerator[list[Any], None]:
    """The chunks of a (CPU-bound) generator, each calculated in a worker thread while the
    consumer writes the previous one."""
    pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
    try:
        while True:
            chunk = await pending
            if chunk is None:
                return
            pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
            yield chunk
    finally:
        if not pending.done():
            # the worker cannot be interrupted: let it finish, and drop its result
            await asyncio.wait([pending])
        if not pending.cancelled():
            pending.exception()


async def calculate(
    session: AsyncSession,
    principal: Principal,
    run: PayrollRun,
    up: Upstreams,
    *,
    check_etag: Any,
) -> PayrollRun:
    """(Re)calculate a draft or calculated run from a fresh roster snapshot. The old
    lines are replaced in the same transaction; any failure leaves the run as it was."""
    allowed = (RunStatus.DRAFT, RunStatus.CALCULATED)
    if run.status not in allowed:
        raise _refuse(run, "calculate", allowed)
    check_etag(run)
    first, last = period_bounds(run.period)
    snapshot = await upstream.personnel_snapshot(
        up.client,
        up.settings.roster_url,
        up.authorization,
        run.region,
        first,
        last,
        read_timeout=up.settings.roster_snapshot_timeout_seconds,
    )
    # Take the run (row lock until commit): a concurrent approval or calculation waits,
    # then finds the version changed.
    if not await repo.transition(session, run.id, expected=allowed, values={}):
        raise ConcurrentTransition(f"payroll run {run.id} changed while it was being calculated")
    resolver = await ScheduleResolver.load(session, run.region, first)
    ids = [p.id for p in snapshot.people]
    inputs = await repo.inputs_for(session, run.period, ids)
    ytd = await repo.year_to_date(session, run.id, run.period, ids)
    in_region = await repo.input_ids_in_region(session, run.period, run.region)
    orphan_inputs = sorted(in_region - set(ids))

    calc = RunCalculator(
        run_id=run.id,
        period=run.period,
        people=snapshot.people,
        schedule_for=resolver,
        inputs=inputs,
        ytd=ytd,
    )
    problems = await asyncio.to_thread(calc.check)
    if problems is not None:
        _raise_problems(problems)

    await repo.clear_lines(session, run.id)
    async with aclosing(_prefetched(calc.chunks(CHUNK_RECORDS))) as chunks:
        await repo.write_payslips(session, chunks)
    for key in sorted(calc.schedules_used):
        row = resolver.rows[key]
        session.add(PayrollRunSchedule(run_id=run.id, schedule_id=row.id))
    warnings = calc.warnings()
    if orphan_inputs:
        warnings.append(
            {
                "code": "inputs_without_person",
                "detail": f"{len(orphan_inputs)} inputs for {run.period} belong to people who "
                "are not in the roster snapshot of the period and were not paid",
                "personnel_ids": orphan_inputs[:100],
                "count": len(orphan_inputs),
            }
        )
    if snapshot.outside_region:
        warnings.append(
            {
                "code": "outside_region",
                "detail": f"the roster returned {len(snapshot.outside_region)} people outside "
                f"{run.region}; they were left out",
                "personnel_ids": snapshot.outside_region[:100],
                "count": len(snapshot.outside_region),
            }
        )
    await session.flush()
    await session.execute(
        update(PayrollRun)
        .where(PayrollRun.id == run.id)
        .values(
            status=RunStatus.CALCULATED,
            stale=False,
            headcount=calc.headcount,
            totals=calc.totals,
            warnings=warnings,
            calculated_by=principal.sub,
            calculated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return await _reload(session, run)


def _has_negative_net(run: PayrollRun) -> bool:
    return any(w.get("code") == "negative_net_pay" for w in run.warnings or [])


async def approve(
    session: AsyncSession, principal: Principal, run: PayrollRun, *, check_etag: Any
) -> PayrollRun:
    if run.status != RunStatus.CALCULATED:
        raise _refuse(run, "approve", (RunStatus.CALCULATED,))
    check_etag(run)
    if run.calculated_by == principal.sub:
        raise SeparationOfDuties(
            f"you calculated payroll run {run.id}; someone else with the county_admin role "
            "must approve it"
        )
    if run.stale:
        raise RunStale(
            f"inputs or schedules changed after payroll run {run.id} was calculated; "
            "recalculate it before approval"
        )
    if _has_negative_net(run):
        raise NegativeNetPay(
            f"payroll run {run.id} has payslips with a negative net pay; correct the inputs "
            "and recalculate"
        )
    now = utcnow()
    won = await repo.transition(
        session,
        run.id,
        expected=(RunStatus.CALCULATED,),
        version=run.version,
        require_fresh=True,
        values={"status": RunStatus.APPROVED, "approved_by": principal.sub, "approved_at": now},
    )
    if not won:
        raise ConcurrentTransition(
            f"payroll run {run.id} was changed by someone else at the same time; fetch it again"
        )
    await repo.add_to_tax_year(session, run.id, run.period)
    # Later months of the year that overlap were calculated without this run's tax.
    year_end = run.period[:4] + "-12"
    await repo.mark_stale_where(
        session,
        PayrollRun.period > run.period,
        PayrollRun.period <= year_end,
        repo.regions_overlap(PayrollRun.region, run.region),
    )
    run = await _reload(session, run)
    event_id = uuid.uuid4().hex
    await enqueue(
        session,
        KERNEL_TABLES.outbox,
        APPROVED_TOPIC,
        {
            "event_id": event_id,
            "type": APPROVED_TOPIC,
            "occurred_at": now.isoformat(),
            "region": run.region,
            "data": {
                "payroll_run_id": run.id,
                "period": run.period,
                "url": RUN_URL.format(id=run.id),
                "totals": _event_totals(run),
            },
        },
        event_id=event_id,
    )
    return run


def _event_totals(run: PayrollRun) -> dict[str, Any]:
    t = run.totals or {}
    keys = (
        "gross",
        "employee_contributions_total",
        "employer_contributions_total",
        "tax",
        "deductions",
        "net",
        "employer_cost",
    )
    out: dict[str, Any] = {"headcount": run.headcount}
    out.update({k: fen_str(int(t.get(k, 0))) for k in keys})
    return out


async def mark_paid(
    session: AsyncSession, principal: Principal, run: PayrollRun, *, check_etag: Any
) -> PayrollRun:
    if run.status != RunStatus.APPROVED:
        raise _refuse(run, "mark as paid", (RunStatus.APPROVED,))
    check_etag(run)
    won = await repo.transition(
        session,
        run.id,
        expected=(RunStatus.APPROVED,),
        version=run.version,
        values={"status": RunStatus.PAID, "paid_by": principal.sub, "paid_at": utcnow()},
    )
    if not won:
        raise ConcurrentTransition(f"payroll run {run.id} was changed by someone else")
    return await _reload(session, run)


async def cancel(
    session: AsyncSession, principal: Principal, run: PayrollRun, *, check_etag: Any
) -> PayrollRun:
    allowed = (RunStatus.DRAFT, RunStatus.CALCULATED)
    if run.status not in allowed:
        raise _refuse(run, "cancel", allowed)
    check_etag(run)
    won = await repo.transition(
        session,
        run.id,
        expected=allowed,
        version=run.version,
        values={
            "status": RunStatus.CANCELLED,
            "cancelled_by": principal.sub,
            "cancelled_at": utcnow(),
        },
    )
    if not won:
        raise ConcurrentTransition(f"payroll run {run.id} was changed by someone else")
    await repo.clear_lines(session, run.id)
    return await _reload(session, run)
