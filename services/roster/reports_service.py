"""Provincial reports: quota fulfilment per child region, structure as of a date,
turnover by year, and who is due for promotion.

"On the staff on day d" means hired on or before d, not gone before d (`left_date` is
the last day on the staff) and not suspended on d. The quota roll-up reads the region
counters (a few rows per child), never the personnel table; structure and turnover
group in SQL.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.errors import Unprocessable
from services.common import region_code as rc
from services.common.education import Education
from services.common.resident_id import Sex, age_on
from services.roster import contracts as lcl
from services.roster import quota as q
from services.roster import regions_service as regions
from services.roster import reports as pure
from services.roster.errors import field_error
from services.roster.level_config import LevelPolicies
from services.roster.levels import Grade, PersonForPromotion, PromotionStatus, promotions_due
from services.roster.models import Assessment, Personnel, Region, Suspension
from services.roster.schemas import (
    PromotionOut,
    QuotaLine,
    QuotaReportOut,
    QuotaTotal,
    StructureOut,
    TurnoverOut,
)
from services.roster.seats import seat_region
from services.roster.statuses import HEADCOUNT_STATUSES, DepartureReason

LEVEL_LENGTHS = {"city": 4, "county": 6, "township": 9}


def scope_filter(principal: Principal, region: str | None) -> ColumnElement[bool]:
    clause = principal.region_filter(Personnel.region)
    if region:
        clause = and_(clause, Personnel.region.startswith(region, autoescape=True))
    return clause


def on_staff(day: date) -> ColumnElement[bool]:
    suspended = exists().where(
        Suspension.personnel_id == Personnel.id,
        Suspension.start <= day,
        or_(Suspension.end.is_(None), Suspension.end > day),
    )
    return and_(
        Personnel.hire_date <= day,
        or_(Personnel.left_date.is_(None), Personnel.left_date >= day),
        ~suspended,
    )


# --- quota ----------------------------------------------------------------------------------


def _fraction(part: int, whole: int) -> Decimal | None:
    return pure.fulfilment(part, whole)


async def quota_report(
    session: AsyncSession,
    principal: Principal,
    code: str,
    on: date,
    level: str | None,
    target: Decimal | None,
) -> QuotaReportOut:
    region = await regions.visible_region(session, principal, code)
    if level is not None:
        length = LEVEL_LENGTHS[level]
        if length <= len(code):
            message = f"a {rc.level(code)} has no {level} below it"
            raise Unprocessable(
                message, code="invalid_level", errors=[field_error("level", message)]
            )
    else:
        if len(code) == 9:
            message = "a township has no child regions"
            raise Unprocessable(
                message, code="no_children", errors=[field_error("region", message)]
            )
        length = rc.child_length(code)
    children = list(
        (
            await session.execute(
                select(Region)
                .where(
                    Region.code.startswith(code, autoescape=True),
                    func.length(Region.code) == length,
                )
                .order_by(Region.code)
            )
        ).scalars()
    )
    codes = [c.code for c in children]
    book = await regions.rule_book(session, codes)
    figures = await regions.figures_on(session, codes, on, within=code)
    counts = await regions.children_counts(session, code, length)
    lines: list[QuotaLine] = []
    computed: list[tuple[str, q.QuotaFigures]] = []
    gap_total = 0
    headcount_with_population = 0
    for child in children:
        headcount, reserved = counts.get(child.code, (0, 0))
        line = regions.quota_line(child.code, on, book, figures[child.code], headcount, reserved)
        f = line.figures
        computed.append((child.code, f))
        gap = (
            pure.gap_to_target(f.population, f.headcount, target)
            if target is not None and f.population is not None
            else None
        )
        if f.population is not None:
            headcount_with_population += f.headcount
        if gap is not None:
            gap_total += gap
        lines.append(
            QuotaLine(
                region=child.code,
                name=child.name,
                level=child.level,
                quota=f.quota,
                headcount=f.headcount,
                reserved=f.reserved,
                available=f.available,
                over_quota=f.over_quota,
                population=f.population,
                police_establishment=f.police_establishment,
                per_10k_population=f.per_10k_population,
                per_police=f.per_police,
                fulfilment=_fraction(f.headcount, f.quota),
                gap_to_target=gap,
                incomplete=f.incomplete,
                figures_derived=figures[child.code].derived,
            )
        )
    totals = q.rollup(computed)
    total_gap = None
    if target is not None and totals.population is not None:
        total_gap = pure.gap_to_target(totals.population, headcount_with_population, target)
    return QuotaReportOut(
        region=region.code,
        name=region.name,
        on=on,
        target_per_10k=target,
        lines=lines,
        total=QuotaTotal(
            regions=totals.regions,
            quota=totals.quota,
            headcount=totals.headcount,
            reserved=totals.reserved,
            available=totals.available,
            over_quota=totals.over_quota,
            population=totals.population,
            police_establishment=totals.police_establishment,
            per_10k_population=totals.per_10k_population,
            per_police=totals.per_police,
            fulfilment=_fraction(totals.headcount, totals.quota),
            gap_to_target=total_gap,
            missing_population=totals.missing_population,
            missing_police=totals.missing_police,
            incomplete=totals.incomplete,
        ),
    )


# --- structure ------------------------------------------------------------------------------


def _years_before(day: date, years: int) -> date:
    """The latest birth date of someone at least `years` old on `day`."""
    return lcl.add_years(day, -years)


async def structure_report(
    session: AsyncSession, principal: Principal, region: str, as_of: date
) -> StructureOut:
    t30, t40, t50 = (_years_before(as_of, n) for n in (30, 40, 50))
    band = case(
        (Personnel.birth_date > t30, "<30"),
        (Personnel.birth_date > t40, "30-40"),
        (Personnel.birth_date > t50, "40-50"),
        else_=">=50",
    ).label("band")
    stmt = (
        select(
            Personnel.post_category,
            Personnel.post,
            Personnel.level,
            Personnel.education,
            Personnel.sex,
            band,
            func.count(),
        )
        .where(scope_filter(principal, region), on_staff(as_of))
        .group_by(
            Personnel.post_category,
            Personnel.post,
            Personnel.level,
            Personnel.education,
            Personnel.sex,
            band,
        )
    )
    by_category: Counter[str] = Counter()
    by_post: Counter[str] = Counter()
    by_level: Counter[int | None] = Counter()
    by_education: Counter[Education] = Counter()
    by_sex: Counter[Sex] = Counter()
    by_band: Counter[str] = Counter()
    total = 0
    for category, post, level, education, sex, age_band, n in await session.execute(stmt):
        total += n
        by_category[category] += n
        by_post[post] += n
        by_level[level] += n
        by_education[Education(education)] += n
        by_sex[Sex(sex)] += n
        by_band[age_band] += n
    counts = pure.StructureCounts(
        total=total,
        by_post_category=by_category,
        by_post=by_post,
        by_level=by_level,
        by_age_band=by_band,
        by_education=by_education,
        by_sex=by_sex,
        under_30=by_band["<30"],
        share_under_30=pure.share(by_band["<30"], total),
    )
    plain = counts.as_dict()
    return StructureOut(
        region=region,
        as_of=as_of,
        total=plain["total"],
        by_post_category=plain["by_post_category"],
        by_post=plain["by_post"],
        by_level=plain["by_level"],
        by_age_band=plain["by_age_band"],
        by_education=plain["by_education"],
        by_sex=plain["by_sex"],
        under_30=plain["under_30"],
        share_under_30=counts.share_under_30,
        percent_under_30=counts.percent_under_30,
    )


# --- turnover -------------------------------------------------------------------------------


async def _headcount_on(session: AsyncSession, principal: Principal, region: str, day: date) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).where(scope_filter(principal, region), on_staff(day))
            )
        ).scalar_one()
    )


async def turnover_report(
    session: AsyncSession, principal: Principal, region: str, year: int, today: date
) -> TurnoverOut:
    first = date(year, 1, 1)
    last = min(date(year, 12, 31), today)
    if last < first:
        message = "the year has not begun"
        raise Unprocessable(message, code="invalid_year", errors=[field_error("year", message)])
    rows = await session.execute(
        select(Personnel.departure_reason, Personnel.birth_date, Personnel.left_date).where(
            scope_filter(principal, region),
            Personnel.left_date >= first,
            Personnel.left_date <= last,
        )
    )
    leavers = [
        (reason, pure.age_band(age_on(birth, left)))
        for reason, birth, left in rows
        if reason is not None and left is not None
    ]
    start = await _headcount_on(session, principal, region, first)
    end = await _headcount_on(session, principal, region, last)
    result = pure.turnover(leavers, start, end)
    return TurnoverOut(
        region=region,
        year=year,
        leavers=result.leavers,
        headcount_start=result.headcount_start,
        headcount_end=result.headcount_end,
        average_headcount=result.average_headcount,
        rate=result.rate,
        rate_percent=result.rate_percent,
        by_reason={r.value: result.by_reason[r] for r in DepartureReason},
        by_age_band={band: result.by_age_band[band] for band in pure.AGE_BANDS},
    )


# --- promotions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Facts:
    id: int
    name: str
    region: str
    unit: str
    post: str


def _seat_of(column: Any) -> Any:
    """seats.seat_region in SQL: a township's county, else the region itself."""
    return case((func.length(column) == 9, func.substr(column, 1, 6)), else_=column)


async def promotions_report(
    session: AsyncSession,
    principal: Principal,
    policies: LevelPolicies,
    region: str,
    as_of: date,
    statuses: Sequence[PromotionStatus],
) -> list[PromotionOut]:
    """Who is due (or eligible, or capped) on `as_of`, and why.

    Caps are counted per seat region (a county with its townships), over its whole
    headcount, even when the caller sees only part of it. Unless `not_due` is asked
    for, only people who can have served long enough in their level are assessed; the
    seats taken under the caps are counted in SQL.
    """
    cohort = seat_region(region) if region else ""
    on_staff_now = Personnel.status.in_([s.value for s in HEADCOUNT_STATUSES])
    scope: list[ColumnElement[bool]] = [on_staff_now]
    if cohort:
        scope.append(Personnel.region.startswith(cohort, autoescape=True))
    seat = _seat_of(Personnel.region)
    totals: defaultdict[str, int] = defaultdict(int)
    levels: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for seat_code, level, n in await session.execute(
        select(seat, Personnel.level, func.count()).where(*scope).group_by(seat, Personnel.level)
    ):
        totals[seat_code] += n
        levels[seat_code][level] += n

    wanted = set(statuses)
    candidates = list(scope)
    if PromotionStatus.NOT_DUE not in wanted:
        cutoff = lcl.add_years(as_of, -policies.min_years_in_level())
        candidates += [
            Personnel.level > 1,
            Personnel.level_since <= cutoff,
            Personnel.hire_date <= cutoff,
        ]
    people = (
        await session.execute(
            select(
                Personnel.id,
                Personnel.name,
                Personnel.region,
                Personnel.unit,
                Personnel.post,
                Personnel.level,
                Personnel.level_since,
                Personnel.hire_date,
                Personnel.probation_months,
                Personnel.education,
            ).where(*candidates)
        )
    ).all()
    grades: defaultdict[int, dict[int, Grade]] = defaultdict(dict)
    for pid, year, grade in await session.execute(
        select(Assessment.personnel_id, Assessment.year, Assessment.grade)
        .join(Personnel, Personnel.id == Assessment.personnel_id)
        .where(*candidates)
    ):
        grades[pid][year] = Grade(grade)
    groups: defaultdict[str, list[Any]] = defaultdict(list)
    for row in people:
        groups[seat_region(row.region)].append(row)
    out: list[PromotionOut] = []
    for seat_code, rows in groups.items():
        policy = policies.for_region(seat_code, as_of)
        cohort_people = [
            PersonForPromotion(
                id=row.id,
                # a file from an older, longer scheme counts as at the bottom of this one
                level=min(row.level, policy.levels),
                level_since=row.level_since,
                service_start=lcl.regular_from(row.hire_date, row.probation_months),
                assessments=grades.get(row.id, {}),
                education=Education(row.education),
            )
            for row in rows
        ]
        facts = {row.id: _Facts(row.id, row.name, row.region, row.unit, row.post) for row in rows}
        assessed = promotions_due(
            cohort_people,
            as_of,
            policy,
            totals[seat_code],
            current_counts=levels[seat_code],
        )
        for assessment in assessed:
            fact = facts[int(assessment.person_id)]
            if assessment.status not in wanted:
                continue
            if not principal.sees(fact.region) or (region and not fact.region.startswith(region)):
                continue
            out.append(
                PromotionOut(
                    personnel_id=fact.id,
                    name=fact.name,
                    region=fact.region,
                    unit=fact.unit,
                    post=fact.post,
                    from_level=assessment.from_level,
                    to_level=assessment.to_level,
                    status=assessment.status,
                    reasons=list(assessment.reasons),
                    dismissal_grounds=(
                        list(assessment.dismissal_grounds) if assessment.dismissal_grounds else None
                    ),
                )
            )
    out.sort(key=lambda p: p.personnel_id)
    return out
