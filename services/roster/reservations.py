"""Quota reservations: seats held by approved recruitment plans.

- create: idempotent on `reference` (the same reference with the same region and seats
  is the same reservation; with other figures it is a 409 reference_conflict);
- convert: one seat at a time, when a person is hired against it (`personnel_service`);
- release: gives back the seats not converted; releasing again changes nothing.

Locks: the reservation row (FOR UPDATE on PostgreSQL) before the seat counters.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from services.roster.errors import ReferenceConflict, ReservationNotFound
from services.roster.models import QuotaReservation
from services.roster.regions_service import visible_region
from services.roster.schemas import ReservationIn, ReservationStatus
from services.roster.seats import adjust, check_free, dialect_of, lock_seats, seat_region


def _locked(session: AsyncSession, stmt: Select[QuotaReservation]) -> Select[QuotaReservation]:
    stmt = stmt.execution_options(populate_existing=True)
    if dialect_of(session) == "postgresql":
        stmt = stmt.with_for_update()
    return stmt


async def by_reference(
    session: AsyncSession, reference: str, *, lock: bool = False
) -> QuotaReservation | None:
    stmt = select(QuotaReservation).where(QuotaReservation.reference == reference)
    if lock:
        stmt = _locked(session, stmt)
    return (await session.execute(stmt)).scalar_one_or_none()


async def visible_reservation(
    session: AsyncSession, principal: Principal, reservation_id: int, *, lock: bool = False
) -> QuotaReservation:
    stmt = select(QuotaReservation).where(QuotaReservation.id == reservation_id)
    if lock:
        stmt = _locked(session, stmt)
    reservation = (await session.execute(stmt)).scalar_one_or_none()
    if reservation is None or not principal.sees(reservation.region):
        raise ReservationNotFound(f"reservation {reservation_id} not found")
    return reservation


def _same(reservation: QuotaReservation, body: ReservationIn) -> bool:
    return reservation.region == body.region and reservation.seats == body.seats


def _conflict(reference: str) -> ReferenceConflict:
    return ReferenceConflict(
        f"reference {reference!r} already names a reservation with another region or number "
        "of seats"
    )


async def create(
    session: AsyncSession, principal: Principal, body: ReservationIn, on: date, now: datetime
) -> tuple[QuotaReservation, bool]:
    """The reservation for `body.reference`, and whether it was created now."""
    existing = await by_reference(session, body.reference)
    if existing is not None:
        if not principal.sees(existing.region) or not _same(existing, body):
            raise _conflict(body.reference)
        return existing, False
    await visible_region(session, principal, body.region)
    seat = seat_region(body.region)
    occupancy = (await lock_seats(session, [body.region]))[seat]
    # A concurrent request with the same reference in the same seat region committed
    # while we waited for the lock: it is the same reservation.
    existing = await by_reference(session, body.reference)
    if existing is not None:
        if not principal.sees(existing.region) or not _same(existing, body):
            raise _conflict(body.reference)
        return existing, False
    await check_free(session, seat, on, occupancy, body.seats)
    reservation = QuotaReservation(
        region=body.region,
        seats=body.seats,
        converted=0,
        released=0,
        reference=body.reference,
        status=ReservationStatus.OPEN.value,
        created_at=now,
        created_by=principal.sub,
        updated_at=now,
        closed_at=None,
    )
    session.add(reservation)
    await adjust(session, body.region, reserved=body.seats)
    await session.flush()
    return reservation, True


async def convert_seat(session: AsyncSession, reservation: QuotaReservation, now: datetime) -> None:
    """Turn one held seat into a hire (the reservation row is locked, seats checked)."""
    reservation.converted += 1
    reservation.updated_at = now
    if reservation.converted == reservation.seats:
        reservation.status = ReservationStatus.FILLED.value
        reservation.closed_at = now


async def release(
    session: AsyncSession, principal: Principal, reservation_id: int, now: datetime
) -> QuotaReservation:
    reservation = await visible_reservation(session, principal, reservation_id, lock=True)
    if reservation.status != ReservationStatus.OPEN.value:
        return reservation
    held = reservation.held
    await lock_seats(session, [reservation.region])
    reservation.released += held
    reservation.status = ReservationStatus.RELEASED.value
    reservation.closed_at = now
    reservation.updated_at = now
    await adjust(session, reservation.region, reserved=-held)
    await session.flush()
    return reservation
