"""Quota seats: the counters, their locks and the checks.

Every seat belongs to a *seat region*: a township (9 digits) draws on its county's quota,
any other region on its own. A seat region's occupancy is the sum of the counters of its
whole subtree (a county and its townships; a city and everything under it).

Counters are kept per exact region code and changed in the same transaction as the
change that moves them (a hire, a departure, a suspension, a reservation). Every
transaction that changes counters first locks *all* the counter rows of the seat
regions involved, in one statement ordered by region code:

- on PostgreSQL with `SELECT ... ORDER BY region FOR UPDATE`, so two transactions that
  take seats in the same seat region queue behind each other, and the second one reads
  the first one's committed counts before it checks the quota (READ COMMITTED re-reads
  locked rows). Rows are always locked in code order, so there are no lock cycles;
  reservation rows are locked before counters, everywhere;
- on SQLite, write transactions begin IMMEDIATE (kernel.db), so writers are serialised
  from their first statement.

Then the check `quota − headcount − reserved ≥ wanted` runs on counts nobody else can
change until commit, and two reservations that together exceed the free seats cannot
both succeed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.roster.errors import QuotaExceeded
from services.roster.models import RegionCounter
from services.roster.regions_service import QuotaLine, region_quota


def seat_region(code: str) -> str:
    """Whose quota a seat in `code` is taken from: a township's county, else itself."""
    return code[:6] if len(code) == 9 else code


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_nothing`."""
    if dialect_of(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


async def ensure_counters(session: AsyncSession, regions: Iterable[str]) -> None:
    """Create the missing counter rows (concurrent creators do not clash)."""
    wanted = sorted(set(regions))
    if not wanted:
        return
    existing = set(
        (
            await session.execute(
                select(RegionCounter.region).where(RegionCounter.region.in_(wanted))
            )
        ).scalars()
    )
    missing = [r for r in wanted if r not in existing]
    if not missing:
        return
    insert = insert_for(session)
    stmt = (
        insert(RegionCounter)
        .values([{"region": r, "headcount": 0, "reserved": 0} for r in missing])
        .on_conflict_do_nothing(index_elements=["region"])
    )
    await session.execute(stmt)


@dataclass(frozen=True, slots=True)
class Occupancy:
    headcount: int
    reserved: int

    @property
    def held(self) -> int:
        return self.headcount + self.reserved


async def lock_seats(
    session: AsyncSession, regions: Iterable[str], *, known: set[str] | None = None
) -> dict[str, Occupancy]:
    """Lock the counters of the seat regions of `regions`; their occupancy, by seat region.

    Call this before changing any counter, and after locking any reservation rows.
    `known` names regions whose counter rows exist already (they are never deleted);
    the ones ensured now are added to it.
    """
    regions = set(regions)
    seats = sorted({seat_region(r) for r in regions})
    wanted = regions | set(seats)
    if known is None or not wanted <= known:
        await ensure_counters(session, wanted - (known or set()))
        if known is not None:
            known |= wanted
    by_length: defaultdict[int, list[str]] = defaultdict(list)
    for seat in seats:
        by_length[len(seat)].append(seat)
    clauses = [
        func.substr(RegionCounter.region, 1, length).in_(codes)
        for length, codes in sorted(by_length.items())
    ]
    stmt = (
        select(RegionCounter.region, RegionCounter.headcount, RegionCounter.reserved)
        .where(or_(*clauses))
        .order_by(RegionCounter.region)
    )
    if dialect_of(session) == "postgresql":
        stmt = stmt.with_for_update()
    rows = (await session.execute(stmt)).all()
    totals: dict[str, list[int]] = {seat: [0, 0] for seat in seats}
    for region, headcount, reserved in rows:
        for n in range(len(region), 1, -1):
            seat = region[:n]
            if seat in totals:
                totals[seat][0] += headcount
                totals[seat][1] += reserved
    return {seat: Occupancy(h, r) for seat, (h, r) in totals.items()}


async def adjust(
    session: AsyncSession, region: str, *, headcount: int = 0, reserved: int = 0
) -> None:
    """Move a region's counters (its seat region must be locked by `lock_seats`)."""
    if not headcount and not reserved:
        return
    await session.execute(
        update(RegionCounter)
        .where(RegionCounter.region == region)
        .values(
            headcount=RegionCounter.headcount + headcount,
            reserved=RegionCounter.reserved + reserved,
        )
    )


async def seat_quota(session: AsyncSession, seat: str, on: date, occupancy: Occupancy) -> QuotaLine:
    """The seat region's quota line, with the occupancy read under the lock."""
    return await region_quota(session, seat, on, counts=(occupancy.headcount, occupancy.reserved))


def free_seats(line: QuotaLine) -> int:
    figures = line.figures
    return figures.quota - figures.headcount - figures.reserved


async def check_free(
    session: AsyncSession, seat: str, on: date, occupancy: Occupancy, wanted: int
) -> QuotaLine:
    """Raise 409 quota_exceeded unless `wanted` seats are free in the seat region."""
    line = await seat_quota(session, seat, on, occupancy)
    free = free_seats(line)
    if free < wanted:
        raise QuotaExceeded(
            f"region {seat} has {max(0, free)} free seat(s) of a quota of {line.figures.quota} "
            f"({line.figures.headcount} on the staff, {line.figures.reserved} reserved); "
            f"{wanted} wanted",
            region=seat,
            quota=line.figures.quota,
            headcount=line.figures.headcount,
            reserved=line.figures.reserved,
            available=max(0, free),
            requested=wanted,
        )
    return line


async def recount(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """The counters as stored (region → (headcount, reserved)), for checks and tests."""
    rows = await session.execute(
        select(RegionCounter.region, RegionCounter.headcount, RegionCounter.reserved)
    )
    return {r: (h, res) for r, h, res in rows if h or res}
