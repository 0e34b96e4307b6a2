"""Personnel files and their life events.

Every change after creation is appended as a `PersonnelEvent` (who, when, why); life
events are appended to their own tables and never edited. Status changes that move
the headcount change the seat counters in the same transaction (see `seats.py`), and
updates of the file row are protected by its version column (a concurrent change gets
412), so two concurrent transitions of one file never both succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kernel.auth import Principal
from kernel.errors import Conflict, Unprocessable
from services.roster import contracts as lcl
from services.roster import events, reservations
from services.roster.errors import (
    AssessmentExists,
    DuplicateIdNumber,
    InvalidStatusTransition,
    LevelCapExceeded,
    PersonnelNotFound,
    PostCategoryMismatch,
    ReferenceConflict,
    ReservationExhausted,
    ReservationNotFound,
    field_error,
    invalid,
)
from services.roster.level_config import LevelPolicies
from services.roster.levels import Grade, dismissal_grounds
from services.roster.models import (
    Assessment,
    Contract,
    LevelChange,
    Personnel,
    PersonnelEvent,
    Post,
    Punishment,
    Reward,
    StatusChange,
    Suspension,
    Training,
)
from services.roster.personnel_rules import ContractTerms, FieldProblem, NewPerson, prepare
from services.roster.regions_service import visible_region
from services.roster.schemas import (
    AssessmentIn,
    ContractIn,
    DepartureIn,
    LevelChangeIn,
    PersonnelIn,
    PersonnelPatch,
    PunishmentIn,
    RewardIn,
    StatusChangeIn,
    TrainingIn,
)
from services.roster.seats import adjust, check_free, insert_for, lock_seats, seat_region
from services.roster.statuses import (
    HEADCOUNT_STATUSES,
    InvalidTransition,
    Status,
    counts_toward_headcount,
    transition,
)
from services.roster.views import jsonable_changes

# Inline, so that the planner can use the partial unique index (status <> 'left') even
# with a generic plan for a prepared statement.
ON_STAFF = Personnel.status != literal(Status.LEFT.value, literal_execute=True)


class PersonnelLeft(Conflict):
    code, title = "personnel_left", "The person has left"


class ReservationRegionMismatch(Conflict):
    code, title = "reservation_region_mismatch", "The reservation is for another region"


@dataclass(frozen=True)
class Ctx:
    session: AsyncSession
    principal: Principal
    policies: LevelPolicies
    today: date
    now: datetime


_FILE_SECTIONS = (
    Personnel.contracts,
    Personnel.assessments,
    Personnel.level_changes,
    Personnel.status_changes,
    Personnel.rewards,
    Personnel.punishments,
    Personnel.trainings,
)


async def visible_person(
    session: AsyncSession, principal: Principal, personnel_id: int, *, whole_file: bool = False
) -> Personnel:
    stmt = select(Personnel).where(Personnel.id == personnel_id)
    if whole_file:
        stmt = stmt.options(*(selectinload(section) for section in _FILE_SECTIONS))
    person = (await session.execute(stmt)).scalar_one_or_none()
    if person is None or not principal.sees(person.region):
        raise PersonnelNotFound(f"personnel {personnel_id} not found")
    return person


def problem(exc: FieldProblem) -> Unprocessable:
    return Unprocessable(exc.message, code=exc.code, errors=[field_error(exc.field, exc.message)])


def _record(
    ctx: Ctx,
    person: Personnel,
    kind: str,
    effective: date | None,
    reason: str | None,
    data: dict[str, Any],
) -> None:
    """Append a life event to the file's audit log: what, when, who and why. The file
    itself changed now."""
    person.updated_at = ctx.now
    ctx.session.add(
        PersonnelEvent(
            personnel_id=person.id,
            kind=kind,
            effective=effective,
            reason=reason,
            data=data,
            recorded_at=ctx.now,
            recorded_by=ctx.principal.sub,
        )
    )


def _alive(person: Personnel) -> None:
    if person.status == Status.LEFT.value:
        raise PersonnelLeft(f"personnel {person.id} left on {person.left_date}")


def _date_window(person: Personnel, day: date, ctx: Ctx, field: str = "date") -> None:
    if day < person.hire_date:
        raise invalid(field, f"before the hire date {person.hire_date.isoformat()}", "invalid_date")
    if day > ctx.today:
        raise invalid(field, "in the future", "invalid_date")
    if person.left_date is not None and day > person.left_date:
        raise invalid(
            field, f"after the departure on {person.left_date.isoformat()}", "invalid_date"
        )


def _after_last_change(person: Personnel, day: date) -> None:
    if day < person.status_since and person.status != Status.PROBATION.value:
        message = f"before the last status change on {person.status_since.isoformat()}"
        raise invalid("date", message, "invalid_date")


# --- posts ----------------------------------------------------------------------------------


async def ensure_post(
    session: AsyncSession, name: str, category: str, who: str, now: datetime, field: str = "post"
) -> None:
    """A post keeps the category of its first use; another category is refused."""
    post = await session.get(Post, name)
    if post is None:
        insert = insert_for(session)
        await session.execute(
            insert(Post)
            .values(name=name, category=category, created_at=now, created_by=who)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        post = await session.get(Post, name, populate_existing=True)
    if post is not None and post.category != category:
        message = f"post {name} is a {post.category} post, not {category}"
        raise PostCategoryMismatch(message, errors=[field_error(field, message)])


# --- creation -------------------------------------------------------------------------------


def new_person(body: PersonnelIn) -> NewPerson:
    contract = body.contract
    return NewPerson(
        id_number=body.id_number,
        name=body.name,
        region=body.region,
        unit=body.unit,
        post_category=body.post_category.value,
        post=body.post,
        education=body.education.value,
        veteran=body.veteran,
        political_status=body.political_status.value if body.political_status else None,
        phone=body.phone,
        hire_date=body.hire_date,
        level=body.level,
        step=body.step,
        probation_months=body.probation_months,
        contract=(
            ContractTerms(
                contract.kind.value,
                contract.start,
                contract.end,
                contract.probation_months,
                contract.note,
            )
            if contract
            else None
        ),
        reservation_reference=body.reservation_reference,
        external_reference=body.external_reference,
        level_since=body.level_since,
    )


async def _by_external_reference(session: AsyncSession, reference: str) -> Personnel | None:
    return (
        await session.execute(select(Personnel).where(Personnel.external_reference == reference))
    ).scalar_one_or_none()


def _existing_for_reference(ctx: Ctx, person: Personnel) -> Personnel:
    if not ctx.principal.sees(person.region):
        raise ReferenceConflict("external_reference is already used by another file")
    return person


async def current_with_id_number(session: AsyncSession, number: str) -> Personnel | None:
    return (
        await session.execute(select(Personnel).where(Personnel.id_number == number, ON_STAFF))
    ).scalar_one_or_none()


async def create_person(ctx: Ctx, body: PersonnelIn) -> tuple[Personnel, bool]:
    """Create a file on a free seat or a reservation's seat; (file, created now)."""
    session = ctx.session
    if body.external_reference:
        found = await _by_external_reference(session, body.external_reference)
        if found is not None:
            return _existing_for_reference(ctx, found), False
    await visible_region(session, ctx.principal, body.region)
    policy = ctx.policies.for_region(body.region, body.hire_date)
    try:
        ready = prepare(new_person(body), policy, ctx.today)
    except FieldProblem as exc:
        raise problem(exc) from exc
    await ensure_post(session, body.post, body.post_category.value, ctx.principal.sub, ctx.now)

    reservation = None
    if body.reservation_reference:
        reservation = await reservations.by_reference(
            session, body.reservation_reference, lock=True
        )
        if reservation is None or not ctx.principal.sees(reservation.region):
            raise ReservationNotFound("no reservation with that reference")
        if seat_region(reservation.region) != seat_region(body.region):
            raise ReservationRegionMismatch(
                f"the reservation holds seats of region {seat_region(reservation.region)}, "
                f"not of {seat_region(body.region)}"
            )
        occupancy = await lock_seats(session, [body.region, reservation.region])
    else:
        occupancy = await lock_seats(session, [body.region])

    # under the seat lock: a concurrent creation in the same seat region has committed
    if body.external_reference:
        found = await _by_external_reference(session, body.external_reference)
        if found is not None:
            return _existing_for_reference(ctx, found), False
    if await current_with_id_number(session, ready.id_number) is not None:
        raise DuplicateIdNumber(
            "a person with this ID number is already on the staff",
            errors=[field_error("id_number", "already on the staff")],
        )
    if reservation is not None:
        if reservation.held <= 0:
            raise ReservationExhausted(
                f"reservation {reservation.id} has no seat left "
                f"({reservation.converted} converted, {reservation.released} released "
                f"of {reservation.seats})"
            )
        await reservations.convert_seat(session, reservation, ctx.now)
        await adjust(session, reservation.region, reserved=-1)
    else:
        seat = seat_region(body.region)
        await check_free(session, seat, ctx.today, occupancy[seat], 1)

    person = Personnel(
        id_number=ready.id_number,
        name=body.name,
        sex=ready.sex,
        birth_date=ready.birth_date,
        region=body.region,
        unit=body.unit,
        post_category=body.post_category.value,
        post=body.post,
        education=body.education.value,
        veteran=body.veteran,
        political_status=body.political_status.value if body.political_status else None,
        phone=body.phone,
        hire_date=body.hire_date,
        probation_months=ready.probation_months,
        probation_end=ready.probation_end,
        level=ready.level,
        step=body.step,
        level_since=ready.level_since,
        status=ready.status,
        status_since=ready.status_since,
        left_date=None,
        departure_reason=None,
        external_reference=body.external_reference,
        reservation_id=reservation.id if reservation is not None else None,
        created_at=ctx.now,
        created_by=ctx.principal.sub,
        updated_at=ctx.now,
    )
    session.add(person)
    await adjust(session, body.region, headcount=1)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        text = str(exc.orig).lower()
        if "external_reference" in text:
            raise ReferenceConflict("external_reference is already used by another file") from None
        if "id_number" in text:
            raise DuplicateIdNumber(
                "a person with this ID number is already on the staff",
                errors=[field_error("id_number", "already on the staff")],
            ) from None
        raise
    if ready.person.contract is not None:
        terms = ready.person.contract
        session.add(
            Contract(
                personnel_id=person.id,
                kind=terms.kind,
                start=terms.start,
                end=terms.end,
                probation_months=terms.probation_months,
                note=terms.note,
                recorded_at=ctx.now,
                recorded_by=ctx.principal.sub,
            )
        )
    await events.personnel_created(session, person, ctx.now)
    await session.flush()
    return person, True


# --- updates ----------------------------------------------------------------------------------


_PLAIN_FIELDS = ("name", "unit", "veteran", "phone")


async def patch_person(ctx: Ctx, person: Personnel, body: PersonnelPatch) -> Personnel:
    session = ctx.session
    given = body.model_fields_set - {"reason"}
    changes: dict[str, tuple[Any, Any]] = {}
    for field in _PLAIN_FIELDS:
        if field in given:
            new = getattr(body, field)
            if new is None and field != "phone":
                raise invalid(field, "may not be null")
            if getattr(person, field) != new:
                changes[field] = (getattr(person, field), new)
    for field in ("education", "political_status"):
        if field in given:
            value = getattr(body, field)
            if value is None and field == "education":
                raise invalid(field, "may not be null")
            new = value.value if value is not None else None
            if getattr(person, field) != new:
                changes[field] = (getattr(person, field), new)
    if "post" in given:
        if body.post is None:
            raise invalid("post", "may not be null")
        if body.post != person.post:
            await ensure_post(session, body.post, person.post_category, ctx.principal.sub, ctx.now)
            changes["post"] = (person.post, body.post)
    if "region" in given:
        if body.region is None:
            raise invalid("region", "may not be null")
        if body.region != person.region:
            _alive(person)
            await visible_region(session, ctx.principal, body.region)
            if counts_toward_headcount(person.status):
                old_seat, new_seat = seat_region(person.region), seat_region(body.region)
                occupancy = await lock_seats(session, [person.region, body.region])
                if new_seat != old_seat:
                    await check_free(session, new_seat, ctx.today, occupancy[new_seat], 1)
                await adjust(session, person.region, headcount=-1)
                await adjust(session, body.region, headcount=1)
            changes["region"] = (person.region, body.region)
    if not changes:
        return person
    for field, (_, new) in changes.items():
        setattr(person, field, new)
    kind = "transferred" if "region" in changes else "updated"
    _record(ctx, person, kind, ctx.today, body.reason, {"changes": jsonable_changes(changes)})
    await session.flush()
    return person


async def depart(ctx: Ctx, person: Personnel, body: DepartureIn) -> StatusChange:
    session = ctx.session
    try:
        transition(person.status, Status.LEFT, body.reason)
    except InvalidTransition as exc:
        raise InvalidStatusTransition(exc.message, code=exc.code) from exc
    _date_window(person, body.date, ctx)
    _after_last_change(person, body.date)
    previous = person.status
    if counts_toward_headcount(previous):
        await lock_seats(session, [person.region])
        await adjust(session, person.region, headcount=-1)
    await _close_suspension(session, person, body.date, leaving=True)
    change = StatusChange(
        personnel_id=person.id,
        from_status=previous,
        to_status=Status.LEFT.value,
        effective=body.date,
        departure_reason=body.reason.value,
        note=body.note,
        recorded_at=ctx.now,
        recorded_by=ctx.principal.sub,
    )
    session.add(change)
    person.status = Status.LEFT.value
    person.status_since = body.date
    person.left_date = body.date
    person.departure_reason = body.reason.value
    _record(
        ctx,
        person,
        "departed",
        body.date,
        body.note,
        {"from_status": previous, "departure_reason": body.reason.value},
    )
    await session.flush()
    await events.personnel_departed(session, person, body.date, body.reason.value, ctx.now)
    return change


async def _close_suspension(
    session: AsyncSession, person: Personnel, day: date, *, leaving: bool
) -> None:
    open_one = (
        await session.execute(
            select(Suspension).where(Suspension.personnel_id == person.id, Suspension.end.is_(None))
        )
    ).scalar_one_or_none()
    if open_one is not None:
        # suspended periods are [start, end): leaving ends it after the last day
        open_one.end = day + timedelta(days=1) if leaving else day


async def change_status(ctx: Ctx, person: Personnel, body: StatusChangeIn) -> StatusChange:
    session = ctx.session
    target = Status(body.status)
    try:
        transition(person.status, target)
    except InvalidTransition as exc:
        raise InvalidStatusTransition(exc.message, code=exc.code) from exc
    _date_window(person, body.date, ctx)
    _after_last_change(person, body.date)
    previous = Status(person.status)
    before, after = previous in HEADCOUNT_STATUSES, target in HEADCOUNT_STATUSES
    if before != after:
        seat = seat_region(person.region)
        occupancy = await lock_seats(session, [person.region])
        if after:  # reinstatement takes a free seat again
            await check_free(session, seat, ctx.today, occupancy[seat], 1)
        await adjust(session, person.region, headcount=1 if after else -1)
    if target is Status.SUSPENDED:
        session.add(Suspension(personnel_id=person.id, start=body.date, end=None))
    elif previous is Status.SUSPENDED:
        await _close_suspension(session, person, body.date, leaving=False)
    change = StatusChange(
        personnel_id=person.id,
        from_status=previous.value,
        to_status=target.value,
        effective=body.date,
        departure_reason=None,
        note=body.reason,
        recorded_at=ctx.now,
        recorded_by=ctx.principal.sub,
    )
    session.add(change)
    person.status = target.value
    person.status_since = body.date
    kind = {
        (Status.PROBATION, Status.ACTIVE): "probation_passed",
        (Status.ACTIVE, Status.SUSPENDED): "suspended",
        (Status.SUSPENDED, Status.ACTIVE): "reinstated",
    }.get((previous, target), "status_changed")
    _record(ctx, person, kind, body.date, body.reason, {"from": previous.value, "to": target.value})
    await session.flush()
    return change


async def add_assessment(
    ctx: Ctx, person: Personnel, body: AssessmentIn
) -> tuple[Assessment, tuple[int, int] | None]:
    session = ctx.session
    if body.year < person.hire_date.year:
        raise invalid("year", f"before the hire year {person.hire_date.year}", "invalid_year")
    if body.year > ctx.today.year:
        raise invalid("year", "in the future", "invalid_year")
    if person.left_date is not None and body.year > person.left_date.year:
        raise invalid("year", f"after the departure in {person.left_date.year}", "invalid_year")
    result = await session.execute(
        select(Assessment.year, Assessment.grade).where(Assessment.personnel_id == person.id)
    )
    grades: dict[int, str] = dict(result.all())
    if body.year in grades:
        raise AssessmentExists(
            f"{body.year} is already assessed ({grades[body.year]}); assessments are not edited"
        )
    row = Assessment(
        personnel_id=person.id,
        year=body.year,
        grade=body.grade.value,
        note=body.note,
        recorded_at=ctx.now,
        recorded_by=ctx.principal.sub,
    )
    session.add(row)
    if person.last_assessment_year is None or body.year >= person.last_assessment_year:
        person.last_assessment_year = body.year
        person.last_assessment_grade = body.grade.value
    _record(
        ctx,
        person,
        "assessment",
        date(body.year, 12, 31),
        body.note,
        {"year": body.year, "grade": body.grade.value},
    )
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise AssessmentExists(f"{body.year} is already assessed") from None
    grades[body.year] = body.grade.value
    grounds = dismissal_grounds({y: Grade(g) for y, g in grades.items()})
    return row, grounds if grounds and body.year in grounds else None


async def change_level(ctx: Ctx, person: Personnel, body: LevelChangeIn) -> LevelChange:
    session = ctx.session
    _alive(person)
    _date_window(person, body.date, ctx)
    policy = ctx.policies.for_region(person.region, body.date)
    if not 1 <= body.level <= policy.levels:
        raise invalid("level", f"level must be 1 (top) to {policy.levels} (entry)", "invalid_level")
    if body.level == person.level and body.step == person.step:
        raise invalid("level", "the person is already at that level and step", "no_change")
    if body.level < person.level:
        kind = "promotion"
    elif body.level > person.level:
        kind = "demotion"
    else:
        kind = "step"
    entered = [
        cap for cap in policy.caps if body.level in cap.levels and person.level not in cap.levels
    ]
    if entered and counts_toward_headcount(person.status):
        seat = seat_region(person.region)
        occupancy = (await lock_seats(session, [person.region]))[seat]
        for cap in entered:
            holders = int(
                (
                    await session.execute(
                        select(func.count()).where(
                            Personnel.region.startswith(seat, autoescape=True),
                            Personnel.status.in_([s.value for s in HEADCOUNT_STATUSES]),
                            Personnel.level.in_(sorted(cap.levels)),
                        )
                    )
                ).scalar_one()
            )
            allowed = cap.seats(occupancy.headcount)
            if holders + 1 > allowed:
                raise LevelCapExceeded(
                    f"cap {cap.describe()} of {occupancy.headcount} in region {seat} allows "
                    f"{allowed}; {holders} already hold those levels",
                    allowed=allowed,
                    holders=holders,
                )
    change = LevelChange(
        personnel_id=person.id,
        from_level=person.level,
        from_step=person.step,
        to_level=body.level,
        to_step=body.step,
        effective=body.date,
        kind=kind,
        reason=body.reason,
        recorded_at=ctx.now,
        recorded_by=ctx.principal.sub,
    )
    session.add(change)
    if body.level != person.level:
        person.level_since = body.date
    person.level, person.step = body.level, body.step
    _record(
        ctx,
        person,
        "level_change",
        body.date,
        body.reason,
        {
            "kind": kind,
            "from": {"level": change.from_level, "step": change.from_step},
            "to": {"level": body.level, "step": body.step},
        },
    )
    await session.flush()
    return change


async def add_contract(ctx: Ctx, person: Personnel, body: ContractIn) -> Contract:
    session = ctx.session
    _alive(person)
    if body.start < person.hire_date:
        raise invalid("start", f"before the hire date {person.hire_date}", "invalid_contract")
    earlier = list(
        (
            await session.execute(
                select(Contract).where(Contract.personnel_id == person.id).order_by(Contract.id)
            )
        ).scalars()
    )
    problems = lcl.validate_contract(
        body.kind.value,
        body.start,
        body.end,
        body.probation_months,
        earlier_probation=any(c.probation_months > 0 for c in earlier)
        or person.probation_months > 0,
    )
    if problems:
        raise Unprocessable(
            "; ".join(problems),
            code="invalid_contract",
            errors=[field_error("contract", p) for p in problems],
        )
    for other in earlier:
        if other.end is None or other.end >= body.start:
            until = other.end.isoformat() if other.end else "open-ended"
            raise Unprocessable(
                f"overlaps contract {other.id} ({other.start.isoformat()} to {until})",
                code="contract_overlap",
                errors=[field_error("start", "overlaps an earlier contract")],
            )
    row = Contract(
        personnel_id=person.id,
        kind=body.kind.value,
        start=body.start,
        end=body.end,
        probation_months=body.probation_months,
        note=body.note,
        recorded_at=ctx.now,
        recorded_by=ctx.principal.sub,
    )
    session.add(row)
    _record(
        ctx,
        person,
        "contract",
        body.start,
        body.note,
        {
            "kind": body.kind.value,
            "start": body.start.isoformat(),
            "end": body.end.isoformat() if body.end else None,
            "probation_months": body.probation_months,
        },
    )
    await session.flush()
    return row


async def add_reward(ctx: Ctx, person: Personnel, body: RewardIn) -> Reward:
    _date_window(person, body.date, ctx)
    row = Reward(
        personnel_id=person.id,
        awarded_on=body.date,
        kind=body.kind.value,
        description=body.description,
        authority=body.authority,
        amount=body.amount,
        recorded_at=ctx.now,
        recorded_by=ctx.principal.sub,
    )
    ctx.session.add(row)
    _record(
        ctx,
        person,
        "reward",
        body.date,
        body.description,
        {
            "kind": body.kind.value,
            "authority": body.authority,
            "amount": None if body.amount is None else f"{body.amount:.2f}",
        },
    )
    await ctx.session.flush()
    return row


async def add_punishment(ctx: Ctx, person: Personnel, body: PunishmentIn) -> Punishment:
    _date_window(person, body.date, ctx)
    row = Punishment(
        personnel_id=person.id,
        imposed_on=body.date,
        kind=body.kind.value,
        description=body.description,
        authority=body.authority,
        recorded_at=ctx.now,
        recorded_by=ctx.principal.sub,
    )
    ctx.session.add(row)
    _record(
        ctx,
        person,
        "punishment",
        body.date,
        body.description,
        {"kind": body.kind.value, "authority": body.authority},
    )
    await ctx.session.flush()
    return row


async def add_training(ctx: Ctx, person: Personnel, body: TrainingIn) -> Training:
    _date_window(person, body.start, ctx, "start")
    if body.end is not None and body.end < body.start:
        raise invalid("end", "before the start", "invalid_date")
    row = Training(
        personnel_id=person.id,
        course=body.course,
        start=body.start,
        end=body.end,
        hours=body.hours,
        result=body.result.value if body.result else None,
        provider=body.provider,
        recorded_at=ctx.now,
        recorded_by=ctx.principal.sub,
    )
    ctx.session.add(row)
    _record(
        ctx,
        person,
        "training",
        body.start,
        None,
        {
            "course": body.course,
            "end": body.end.isoformat() if body.end else None,
            "hours": body.hours,
            "result": body.result.value if body.result else None,
        },
    )
    await ctx.session.flush()
    return row


def creation_entry(person: Personnel) -> dict[str, Any]:
    """The first entry of a file's history, from the file row itself."""
    source = (
        {"import_id": person.import_id, "line": person.import_line}
        if person.import_id is not None
        else {}
    )
    return {
        "id": 0,
        "kind": "created",
        "effective": person.hire_date,
        "reason": (
            f"imported (import {person.import_id}, line {person.import_line})"
            if person.import_id is not None
            else "hired"
        ),
        # Only what never changes: later values are in the events' from/to fields.
        "data": {
            "hire_date": person.hire_date.isoformat(),
            "external_reference": person.external_reference,
            "reservation_id": person.reservation_id,
            **source,
        },
        "recorded_at": person.created_at,
        "recorded_by": person.created_by,
    }
