"""Budget projection and pay check, fed by the roster, recruitment and payslips."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.errors import DomainError
from kernel.service_client import ServiceTokenProvider
from services.common import region_code
from services.compensation import repository as repo
from services.compensation import upstream
from services.compensation.budget import CostLine, project_annual_cost
from services.compensation.errors import NoScheduleInForce
from services.compensation.models import PayrollRun, Payslip, RunStatus
from services.compensation.money import fen_to_decimal
from services.compensation.pay_check import PayLine, analyse_pay
from services.compensation.payroll_service import Upstreams
from services.compensation.run_calculation import SnapshotPerson, period_bounds
from services.compensation.schedule_rules import PaySchedule as ParsedSchedule
from services.compensation.schedules_service import ScheduleResolver, check_region
from services.compensation.schemas import (
    BelowMinimumOut,
    BudgetOut,
    BudgetPost,
    BudgetRegion,
    CostLineOut,
    PayCheckOut,
    PayCheckRun,
    PayDifferenceOut,
    PegShortfallOut,
    ScheduleRef,
    UnequalPayOut,
    UnpricedOut,
)

log = logging.getLogger("auxpol.compensation.reports")

MEMBERS_SHOWN = 200


def cost_out(line: CostLine) -> CostLineOut:
    return CostLineOut(
        headcount=line.headcount,
        fixed_pay=fen_to_decimal(line.fixed_pay),
        employer_contributions=fen_to_decimal(line.employer_contributions),
        total=fen_to_decimal(line.total),
    )


def _child_key(region: str, scope: str) -> str:
    """The direct child of ``scope`` that ``region`` lies in (or ``region`` itself)."""
    try:
        n = region_code.child_length(scope)
    except KeyError:
        return region
    return region[:n] if len(region) >= n else region


@dataclass
class _Group:
    schedule: tuple[str, date, ParsedSchedule] | None
    people: list[SnapshotPerson] = field(default_factory=list)
    plans: list[upstream.PlannedPosition] = field(default_factory=list)


async def budget(
    session: AsyncSession,
    principal: Principal,
    region: str,
    year: int,
    up: Upstreams,
    tokens: ServiceTokenProvider,
    *,
    today: date,
) -> BudgetOut:
    """Next year's cost of a region: current staff (today's roster) plus the open seats of
    approved recruitment plans, priced by the schedule in force on 1 January of ``year``."""
    check_region(principal, region)
    snapshot = await upstream.personnel_snapshot(
        up.client,
        up.settings.roster_url,
        up.authorization,
        region,
        today,
        today,
        read_timeout=up.settings.roster_snapshot_timeout_seconds,
    )
    warnings: list[str] = []
    plans: list[upstream.PlannedPosition] = []
    plans_available = True
    try:
        plans = await upstream.approved_plans(
            up.client, up.settings.recruitment_url, tokens, region
        )
    except (DomainError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        plans_available = False
        log.warning("recruitment plans unavailable", extra={"error": type(exc).__name__})
        reason = str(exc) if isinstance(exc, DomainError) else type(exc).__name__
        warnings.append(
            f"approved recruitment plans could not be read ({reason}); the projection "
            "covers current staff only"
        )
    plans = [p for p in plans if p.year <= year and p.open_seats > 0]

    on = date(year, 1, 1)
    resolver = await ScheduleResolver.load(session, region, on)
    groups: dict[tuple[str, tuple[str, date] | None], _Group] = {}

    def group(person_region: str) -> _Group:
        entry = resolver(person_region)
        key = (_child_key(person_region, region), None if entry is None else entry[:2])
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(entry)
        return g

    for person in snapshot.people:
        group(person.region).people.append(person)
    for plan in plans:
        group(plan.region).plans.append(plan)

    current, planned = CostLine(), CostLine()
    by_region: dict[str, tuple[CostLine, CostLine]] = {}
    by_post: dict[str, tuple[CostLine, CostLine]] = {}
    unpriced: dict[tuple[str, str, str, int, str], int] = defaultdict(int)
    used: set[tuple[str, date]] = set()
    own = resolver(region)
    entry_level = max(own[2].level_pay) if own is not None else None

    for (child, sched_key), g in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        if g.schedule is None:
            for person in g.people:
                unpriced[("person", child, person.post, person.level, "no schedule in force")] += 1
            for plan in g.plans:
                unpriced[("planned_hire", child, plan.post, 0, "no schedule in force")] += (
                    plan.open_seats
                )
            continue
        assert sched_key is not None
        used.add(sched_key)
        schedule = g.schedule[2]
        level = max(schedule.level_pay)
        projection = project_annual_cost(
            [(p.level, p.step, p.post, p.last_grade) for p in g.people],
            [(p.post, p.open_seats, level) for p in g.plans],
            schedule,
        )
        for u in projection.unpriced:
            if u.kind == "person":
                person = g.people[u.index]
                unpriced[("person", child, person.post, person.level, u.reason)] += 1
            else:
                plan = g.plans[u.index]
                unpriced[("planned_hire", child, plan.post, level, u.reason)] += plan.open_seats
        current += projection.current
        planned += projection.planned
        cur, plan_line = by_region.get(child, (CostLine(), CostLine()))
        by_region[child] = (cur + projection.current, plan_line + projection.planned)
        for post, cost in projection.by_post.items():
            cur, plan_line = by_post.get(post, (CostLine(), CostLine()))
            by_post[post] = (cur + cost.current, plan_line + cost.planned)

    return BudgetOut(
        region=region,
        year=year,
        months=12,
        as_of=today,
        schedules=[ScheduleRef(region_prefix=p, effective_from=d) for p, d in sorted(used)],
        entry_level=entry_level,
        current=cost_out(current),
        planned=cost_out(planned),
        total=cost_out(current + planned),
        by_region=[
            BudgetRegion(region=r, current=cost_out(c), planned=cost_out(p), total=cost_out(c + p))
            for r, (c, p) in sorted(by_region.items())
        ],
        by_post=[
            BudgetPost(post=k, current=cost_out(c), planned=cost_out(p), total=cost_out(c + p))
            for k, (c, p) in sorted(by_post.items())
        ],
        unpriced=[
            UnpricedOut(kind=kind, region=r, post=post, level=level, count=n, reason=reason)
            for (kind, r, post, level, reason), n in sorted(unpriced.items())
        ],
        plans_available=plans_available,
        warnings=warnings,
    )


# ------------------------------------------------------------------------ pay check


def _values(values: dict[int, int]) -> list[dict[str, str | int]]:
    return [
        {"amount": str(fen_to_decimal(amount)), "headcount": n}
        for amount, n in sorted(values.items())
    ]


async def pay_check(
    session: AsyncSession, principal: Principal, region: str, period: str
) -> PayCheckOut:
    """Pay against the peg and the minimum wage, from the payslips of the period's
    calculated, approved and paid runs covering ``region``. Fixed monthly pay is compared
    (base + performance + allowances), for people employed the whole month."""
    check_region(principal, region)
    first, _ = period_bounds(period)
    resolver = await ScheduleResolver.load(session, region, first)
    entry = resolver(region)
    if entry is None:
        raise NoScheduleInForce(f"no pay schedule is in force for {region} on {first}")
    prefix, effective_from, schedule = entry

    runs = list(
        (
            await session.execute(
                select(PayrollRun)
                .where(
                    PayrollRun.period == period,
                    PayrollRun.status.in_(
                        (RunStatus.CALCULATED, RunStatus.APPROVED, RunStatus.PAID)
                    ),
                    repo.regions_overlap(PayrollRun.region, region),
                )
                .order_by(PayrollRun.id)
            )
        ).scalars()
    )
    lines: list[PayLine] = []
    partial = 0
    if runs:
        p = Payslip
        stmt = (
            select(
                p.personnel_id,
                p.level,
                p.step,
                p.post,
                p.last_grade,
                p.level_pay,
                p.position_pay,
                p.performance_pay,
                p.allowances_total,
                p.allowance_items,
                p.days_employed,
                p.days_in_period,
            )
            .where(
                p.run_id.in_([r.id for r in runs]),
                p.region.startswith(region, autoescape=True),
            )
            .order_by(p.personnel_id)
        )
        for row in (await session.execute(stmt)).all():
            if row.days_employed != row.days_in_period:
                partial += 1
                continue
            components: dict[str, int] = {
                "level_pay": row.level_pay,
                "position_pay": row.position_pay,
                "performance_pay": row.performance_pay,
            }
            for name, amount in (row.allowance_items or {}).items():
                components[str(name)] = int(amount)
            lines.append(
                PayLine(
                    personnel_id=row.personnel_id,
                    level=row.level,
                    step=row.step,
                    post=row.post,
                    gross_fixed_fen=row.level_pay
                    + row.position_pay
                    + row.performance_pay
                    + row.allowances_total,
                    components=components,
                    last_grade=row.last_grade,
                )
            )
    check = analyse_pay(lines, schedule.local_average_wage, schedule.minimum_wage)

    def pid(value: Any) -> int:
        return int(value)

    return PayCheckOut(
        region=region,
        period=period,
        runs=[PayCheckRun(id=r.id, region=r.region, status=r.status) for r in runs],
        schedule=ScheduleRef(region_prefix=prefix, effective_from=effective_from),
        headcount=check.headcount,
        excluded_partial_month=partial,
        local_average_wage=fen_to_decimal(check.local_average_wage),
        minimum_wage=fen_to_decimal(check.minimum_wage),
        average_pay=None if check.average_pay is None else fen_to_decimal(check.average_pay),
        pct_of_local_average=check.pct_of_local_average,
        pct_of_minimum_wage=check.pct_of_minimum_wage,
        below_minimum=[
            BelowMinimumOut(
                personnel_id=pid(b.personnel_id),
                level=b.level,
                step=b.step,
                post=b.post,
                fixed_pay=fen_to_decimal(b.gross_fixed_fen),
                shortfall=fen_to_decimal(b.shortfall),
            )
            for b in check.below_minimum
        ],
        unequal_pay=[
            UnequalPayOut(
                level=u.level,
                step=u.step,
                post=u.post,
                headcount=len(u.members),
                lowest=fen_to_decimal(u.lowest),
                highest=fen_to_decimal(u.highest),
                spread=fen_to_decimal(u.spread),
                justified=u.justified,
                causes=[
                    PayDifferenceOut(
                        component=c.component, values=_values(c.values), reason=c.reason
                    )
                    for c in u.causes
                ],
                members=[
                    {"personnel_id": pid(m), "fixed_pay": str(fen_to_decimal(pay))}
                    for m, pay in u.members[:MEMBERS_SHOWN]
                ],
            )
            for u in check.unequal_pay
        ],
        below_peg=[
            PegShortfallOut(
                dimension=s.dimension,
                key=str(s.key),
                headcount=s.headcount,
                average_pay=fen_to_decimal(s.average_pay),
                pct_of_local_average=s.pct_of_local_average,
            )
            for s in check.below_peg
        ],
    )
