"""Pay schedules: put (create or replace), read, and resolve the one in force."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.db import utcnow
from services.common import region_code
from services.compensation import repository as repo
from services.compensation.errors import InvalidScheduleProblem, RegionNotVisible, ScheduleInUse
from services.compensation.models import PaySchedule
from services.compensation.schedule_rules import InvalidSchedule, resolve_most_specific
from services.compensation.schedule_rules import PaySchedule as ParsedSchedule
from services.compensation.schemas import ScheduleIn


def check_region(principal: Principal, region: str, what: str = "region") -> str:
    """A region code inside the caller's jurisdiction (404 otherwise, as if absent)."""
    if not region_code.is_valid(region):
        raise RegionNotVisible(f"{what} {region!r} is not a region code")
    if not principal.sees(region):
        raise RegionNotVisible(f"{what} {region} not found")
    return region


def parse_payload(payload: dict[str, Any]) -> ParsedSchedule:
    try:
        return ParsedSchedule.from_payload(payload)
    except InvalidSchedule as exc:
        raise InvalidScheduleProblem(
            str(exc),
            errors=[{"loc": p.loc, "msg": p.msg} for p in exc.problems],
        ) from None


@dataclass
class PutResult:
    schedule: PaySchedule
    created: bool


async def put_schedule(
    session: AsyncSession,
    principal: Principal,
    prefix: str,
    effective_from: date,
    body: ScheduleIn,
    *,
    check_etag: Any,
) -> PutResult:
    """Create or replace a schedule. ``check_etag(current_etag)`` enforces If-Match."""
    check_region(principal, prefix, "region prefix")
    payload = body.model_dump(mode="json")
    parse_payload(payload)
    now = utcnow()
    existing = await repo.get_schedule(session, prefix, effective_from)
    if existing is None:
        schedule = PaySchedule(
            region_prefix=prefix,
            effective_from=effective_from,
            payload=payload,
            created_by=principal.sub,
            created_at=now,
            updated_by=principal.sub,
            updated_at=now,
        )
        session.add(schedule)
        created = True
    else:
        check_etag(existing)
        if await repo.schedule_in_use(session, existing.id):
            raise ScheduleInUse(
                f"the schedule {prefix}/{effective_from} priced an approved payroll run and "
                "cannot change; put a new schedule with a later effective date instead"
            )
        existing.payload = payload
        existing.updated_by = principal.sub
        existing.updated_at = now
        schedule = existing
        created = False
    await session.flush()
    # Calculations under this prefix may now price differently.
    await repo.mark_stale_where(session, repo.regions_overlap(repo.PayrollRun.region, prefix))
    return PutResult(schedule, created)


class ScheduleResolver:
    """The schedule in force on one day, per region; each payload parsed once."""

    def __init__(self, rows: list[PaySchedule], on: date) -> None:
        self.on = on
        self._entries = [(r.region_prefix, r.effective_from, r) for r in rows]
        self._parsed: dict[int, ParsedSchedule] = {}
        self._by_region: dict[str, tuple[str, date, ParsedSchedule] | None] = {}
        self.rows: dict[tuple[str, date], PaySchedule] = {
            (r.region_prefix, r.effective_from): r for r in rows
        }

    @classmethod
    async def load(cls, session: AsyncSession, region: str, on: date) -> ScheduleResolver:
        return cls(await repo.schedules_for_region(session, region, on), on)

    def row(self, region: str) -> PaySchedule | None:
        entry = resolve_most_specific(self._entries, region, self.on)
        return None if entry is None else entry[2]

    def __call__(self, region: str) -> tuple[str, date, ParsedSchedule] | None:
        if region in self._by_region:
            return self._by_region[region]
        entry = resolve_most_specific(self._entries, region, self.on)
        result: tuple[str, date, ParsedSchedule] | None = None
        if entry is not None:
            prefix, effective_from, row = entry
            parsed = self._parsed.get(row.id)
            if parsed is None:
                parsed = self._parsed[row.id] = parse_payload(row.payload)
            result = (prefix, effective_from, parsed)
        self._by_region[region] = result
        return result
