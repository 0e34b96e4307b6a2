"""Regions, their population and police establishment per year, quota rules, and a
region's quota line.

A region's figures for a day are those of the latest year recorded that is not after
the day's year. Rules are immutable: a change is a new rule with a later
`effective_from`. A region's headcount and reserved seats are the sums of the counters
of its whole subtree (see `seats.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.errors import Unprocessable
from services.common import region_code as rc
from services.roster import quota as q
from services.roster.errors import (
    DuplicateQuotaRule,
    InvalidRegionCode,
    OverlappingPostCategories,
    RegionNotFound,
    field_error,
)
from services.roster.models import QuotaRuleRow, Region, RegionCounter, RegionDemographics
from services.roster.schemas import QuotaRuleIn, RegionPut


def check_code(code: str, field: str = "code") -> str:
    """A valid GB/T 2260 code, else 422 invalid_region_code."""
    try:
        return rc.validate(code)
    except rc.InvalidRegionCode as exc:
        raise InvalidRegionCode(str(exc), errors=[field_error(field, str(exc))]) from exc


def check_scope(prefix: str, field: str = "region_prefix") -> str:
    try:
        return rc.validate_scope(prefix)
    except rc.InvalidRegionCode as exc:
        raise InvalidRegionCode(str(exc), errors=[field_error(field, str(exc))]) from exc


async def visible_region(session: AsyncSession, principal: Principal, code: str) -> Region:
    """The region, if it exists and lies in the caller's jurisdiction; else 404."""
    check_code(code)
    if not principal.sees(code):
        raise RegionNotFound(f"region {code} not found")
    region = await session.get(Region, code)
    if region is None:
        raise RegionNotFound(f"region {code} not found")
    return region


async def put_region(
    session: AsyncSession, principal: Principal, code: str, body: RegionPut, now: datetime
) -> tuple[Region, bool]:
    """Create or update a region and, when given, its figures for a year."""
    check_code(code)
    if not principal.sees(code):
        raise RegionNotFound(f"region {code} not found")
    figures = body.population is not None or body.police_establishment is not None
    if figures and body.year is None:
        raise Unprocessable(
            "year is required with population or police_establishment",
            code="validation_error",
            errors=[field_error("year", "required with population or police_establishment")],
        )
    region = await session.get(Region, code)
    created = region is None
    if region is None:
        region = Region(
            code=code,
            name=body.name,
            parent=rc.parent(code),
            level=rc.level(code),
            created_at=now,
            updated_at=now,
            updated_by=principal.sub,
        )
        session.add(region)
        session.add(RegionCounter(region=code, headcount=0, reserved=0))
    else:
        region.name = body.name
        region.updated_at = now
        region.updated_by = principal.sub
    if figures and body.year is not None:
        row = (
            await session.execute(
                select(RegionDemographics).where(
                    RegionDemographics.region == code, RegionDemographics.year == body.year
                )
            )
        ).scalar_one_or_none()
        if row is None:
            row = RegionDemographics(region=code, year=body.year)
            session.add(row)
        row.population = body.population
        row.police_establishment = body.police_establishment
        row.recorded_at = now
        row.recorded_by = principal.sub
        if not created:
            # the figures are part of the region: a new version for ETag and If-Match
            region.updated_at = now
    await session.flush()
    return region, created


async def demographics_of(
    session: AsyncSession, codes: Sequence[str]
) -> dict[str, list[RegionDemographics]]:
    """Every recorded year of each region, latest first."""
    out: dict[str, list[RegionDemographics]] = {code: [] for code in codes}
    if not codes:
        return out
    rows = (
        await session.execute(
            select(RegionDemographics)
            .where(RegionDemographics.region.in_(list(codes)))
            .order_by(RegionDemographics.region, RegionDemographics.year.desc())
        )
    ).scalars()
    for row in rows:
        out[row.region].append(row)
    return out


@dataclass(frozen=True, slots=True)
class YearFigures:
    year: int | None
    demographics: q.Demographics
    # a figure the region lacks is the sum of its child regions' (recursively)
    derived: bool = False


async def figures_on(
    session: AsyncSession, codes: Iterable[str], on: date, *, within: str | None = None
) -> dict[str, YearFigures]:
    """Each region's population and police figures for `on`: those of the latest year
    recorded not after `on.year`. A region without a figure of its own (a city or
    province whose counties are recorded) gets the sum over its child regions, taken
    the same way, recursively. `within` narrows the read to one subtree that holds all
    of `codes` (a report's parent region)."""
    wanted = list(dict.fromkeys(codes))
    out = {code: YearFigures(None, q.Demographics()) for code in wanted}
    if not wanted:
        return out
    if within is None and len(wanted) > 8:
        within = _common_scope(wanted)
    if within is not None:
        scope: Any = RegionDemographics.region.startswith(within, autoescape=True)
    else:
        scope = or_(
            *(RegionDemographics.region.startswith(code, autoescape=True) for code in wanted)
        )
    latest = (
        select(
            RegionDemographics.region.label("region"),
            func.max(RegionDemographics.year).label("year"),
        )
        .where(scope, RegionDemographics.year <= on.year)
        .group_by(RegionDemographics.region)
        .subquery()
    )
    rows = await session.execute(
        select(
            RegionDemographics.region,
            RegionDemographics.year,
            RegionDemographics.population,
            RegionDemographics.police_establishment,
        ).join(
            latest,
            (RegionDemographics.region == latest.c.region)
            & (RegionDemographics.year == latest.c.year),
        )
    )
    records = {region: (year, population, police) for region, year, population, police in rows}
    tree = _Tree(records)
    for code in wanted:
        population = tree.value(code, 1)
        police = tree.value(code, 2)
        years = [y for y in (population[1], police[1]) if y is not None]
        out[code] = YearFigures(
            max(years) if years else None,
            q.Demographics(population=population[0], police_establishment=police[0]),
            derived=population[2] or police[2],
        )
    return out


def _common_scope(codes: list[str]) -> str:
    """The deepest region (or "") holding all of `codes`."""
    first, last = min(codes), max(codes)  # their common prefix is everyone's
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    prefix = first[:size]
    for length in (9, 6, 4, 2):
        if len(prefix) >= length:
            return prefix[:length]
    return ""


class _Tree:
    """Figures of regions and their sums over child regions."""

    def __init__(self, records: dict[str, tuple[int, int | None, int | None]]) -> None:
        self.records = records
        self.children: dict[str, set[str]] = {}
        for code in records:
            child: str = code
            parent = rc.parent(code)
            while parent is not None:
                self.children.setdefault(parent, set()).add(child)
                child, parent = parent, rc.parent(parent)
        self.memo: dict[tuple[str, int], tuple[int | None, int | None, bool]] = {}

    def value(self, code: str, field: int) -> tuple[int | None, int | None, bool]:
        """(figure, year, derived) of `field` (1 population, 2 police) for `code`."""
        key = (code, field)
        if key in self.memo:
            return self.memo[key]
        own = self.records.get(code)
        result: tuple[int | None, int | None, bool]
        if own is not None and own[field] is not None:
            result = (own[field], own[0], False)
        else:
            total, year, found = 0, None, False
            for child in sorted(self.children.get(code, ())):
                figure, child_year, _ = self.value(child, field)
                if figure is not None:
                    total += figure
                    found = True
                    year = child_year if year is None or (child_year or 0) > year else year
            result = (total, year, True) if found else (None, None, False)
        self.memo[key] = result
        return result


def _prefixes(codes: Iterable[str]) -> set[str]:
    prefixes = {""}
    for code in codes:
        prefixes.update(rc.ancestors_and_self(code))
    return prefixes


def to_rule(row: QuotaRuleRow) -> q.QuotaRule:
    return q.QuotaRule(
        id=row.id,
        region_prefix=row.region_prefix,
        basis=q.Basis(row.basis),
        value=row.value,
        post_categories=frozenset(row.post_categories),
        effective_from=row.effective_from,
    )


@dataclass
class RuleBook:
    """The rules that can apply to a set of regions, indexed for quick look-ups."""

    rows: dict[int, QuotaRuleRow]
    index: q.RuleIndex

    def in_force(self, code: str, on: date) -> list[q.QuotaRule]:
        return self.index.in_force(code, on)


async def rule_book(session: AsyncSession, codes: Iterable[str]) -> RuleBook:
    """The rules set on any ancestor of (or on) the given regions."""
    prefixes = _prefixes(codes)
    rows = list(
        (
            await session.execute(
                select(QuotaRuleRow).where(QuotaRuleRow.region_prefix.in_(sorted(prefixes)))
            )
        ).scalars()
    )
    return RuleBook({r.id: r for r in rows}, q.RuleIndex(to_rule(r) for r in rows))


async def subtree_counts(session: AsyncSession, code: str) -> tuple[int, int]:
    """(headcount, reserved) of a region and everything under it."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(RegionCounter.headcount), 0),
                func.coalesce(func.sum(RegionCounter.reserved), 0),
            ).where(RegionCounter.region.startswith(code, autoescape=True))
        )
    ).one()
    return int(row[0]), int(row[1])


async def children_counts(
    session: AsyncSession, parent: str, child_length: int
) -> dict[str, tuple[int, int]]:
    """(headcount, reserved) per descendant prefix of `child_length` digits under `parent`."""
    child = func.substr(RegionCounter.region, 1, child_length)
    rows = await session.execute(
        select(child, func.sum(RegionCounter.headcount), func.sum(RegionCounter.reserved))
        .where(
            RegionCounter.region.startswith(parent, autoescape=True),
            func.length(RegionCounter.region) >= child_length,
        )
        .group_by(child)
    )
    return {code: (int(h or 0), int(r or 0)) for code, h, r in rows}


@dataclass(frozen=True, slots=True)
class QuotaLine:
    code: str
    on: date
    year: int | None
    figures: q.QuotaFigures
    rules: tuple[q.QuotaRule, ...]


def quota_line(
    code: str,
    on: date,
    book: RuleBook,
    figures: YearFigures,
    headcount: int,
    reserved: int,
) -> QuotaLine:
    rules = tuple(book.in_force(code, on))
    computed = q.compute_quota(rules, figures.demographics, headcount, reserved)
    return QuotaLine(code, on, figures.year, computed, rules)


async def region_quota(
    session: AsyncSession,
    code: str,
    on: date,
    *,
    counts: tuple[int, int] | None = None,
) -> QuotaLine:
    """A region's quota line on `on`; `counts` overrides the subtree's (headcount, reserved)."""
    book = await rule_book(session, [code])
    figures = (await figures_on(session, [code], on))[code]
    headcount, reserved = counts if counts is not None else await subtree_counts(session, code)
    return quota_line(code, on, book, figures, headcount, reserved)


# --- rules -------------------------------------------------------------------------------


def categories_key(categories: Iterable[str]) -> str:
    return ",".join(sorted(set(categories)))


async def create_rule(
    session: AsyncSession, principal: Principal, body: QuotaRuleIn, now: datetime
) -> QuotaRuleRow:
    prefix = check_scope(body.region_prefix)
    if not principal.sees(prefix):
        raise RegionNotFound(f"region {prefix or '(national)'} not found")
    categories = sorted(set(body.post_categories))
    key = categories_key(categories)
    ancestors = set(rc.ancestors_and_self(prefix)) | {""} if prefix else {""}
    related = list(
        (
            await session.execute(
                select(QuotaRuleRow).where(
                    or_(
                        QuotaRuleRow.region_prefix.in_(sorted(ancestors)),
                        QuotaRuleRow.region_prefix.startswith(prefix, autoescape=True),
                    )
                )
            )
        ).scalars()
    )
    for other in related:
        if (
            other.region_prefix == prefix
            and other.categories_key == key
            and other.effective_from == body.effective_from
        ):
            raise DuplicateQuotaRule(
                f"rule {other.id} already covers {key} on {prefix or '(national)'} "
                f"from {other.effective_from.isoformat()}",
                rule_id=other.id,
            )
        theirs = set(other.post_categories)
        if theirs != set(categories) and theirs & set(categories):
            raise OverlappingPostCategories(
                f"rule {other.id} on {other.region_prefix or '(national)'} covers "
                f"{sorted(theirs)}, which overlaps {categories} without being equal: "
                "both would count the shared categories",
                rule_id=other.id,
            )
    row = QuotaRuleRow(
        region_prefix=prefix,
        basis=body.basis.value,
        value=body.value,
        post_categories=categories,
        categories_key=key,
        effective_from=body.effective_from,
        note=body.note,
        created_at=now,
        created_by=principal.sub,
    )
    session.add(row)
    await session.flush()
    return row
