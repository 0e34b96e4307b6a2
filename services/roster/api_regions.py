"""Routers: regions and their figures, quota rules, a region's quota, reservations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from kernel.concurrency import check_if_match, etag_for, set_etag
from kernel.db import utcnow
from kernel.errors import problem_responses
from kernel.pagination import Page, PageParams, keyset, page_of, page_params
from kernel.routing import Idempotent, Session, TransactionalRoute
from kernel.schemas import Day
from services.common import region_code as rc
from services.roster import regions_service as regions
from services.roster import reservations
from services.roster.clock import today
from services.roster.deps import (
    ProvinceAdmin,
    RegionPath,
    ReservationReader,
    ReservationWriter,
    ResourceId,
    RosterReader,
)
from services.roster.models import QuotaReservation, QuotaRuleRow, Region
from services.roster.schemas import (
    QuotaOut,
    QuotaRuleIn,
    QuotaRuleOut,
    RegionOut,
    RegionPut,
    ReservationIn,
    ReservationOut,
    ReservationStatus,
)
from services.roster.seats import seat_region
from services.roster.views import quota_out, region_out, reservation_out, rule_out

router = APIRouter(prefix="/api/v1/roster", route_class=TransactionalRoute, tags=["regions"])


def _region_etag(region: Region) -> str:
    return etag_for("region", region.code, region.version)


@router.put(
    "/regions/{code}",
    responses={201: {"model": RegionOut, "description": "Created"}, **problem_responses(412)},
)
async def put_region(
    code: RegionPath,
    body: RegionPut,
    request: Request,
    response: Response,
    who: ProvinceAdmin,
    session: Session,
) -> RegionOut:
    """Create or update a region; with `year`, record its population and police
    establishment for that year. The parent follows from the code."""
    regions.check_code(code)
    if who.sees(code):
        existing = await session.get(Region, code)
        if existing is not None:
            check_if_match(request, _region_etag(existing))
    region, created = await regions.put_region(session, who, code, body, utcnow())
    demographics = (await regions.demographics_of(session, [code]))[code]
    response.status_code = 201 if created else 200
    set_etag(response, _region_etag(region))
    return region_out(region, demographics)


@router.get("/regions/{code}")
async def get_region(
    code: RegionPath, response: Response, who: RosterReader, session: Session
) -> RegionOut:
    region = await regions.visible_region(session, who, code)
    demographics = (await regions.demographics_of(session, [code]))[code]
    set_etag(response, _region_etag(region))
    return region_out(region, demographics)


@router.get("/regions")
async def list_regions(
    who: RosterReader,
    session: Session,
    params: Annotated[PageParams, Depends(page_params)],
    parent: Annotated[
        str | None, Query(max_length=9, description="direct children of this code")
    ] = None,
    level: Annotated[
        str | None, Query(pattern="^(province|city|county|township)$", description="level")
    ] = None,
    within: Annotated[
        str | None, Query(max_length=9, description="everything under this code")
    ] = None,
) -> Page[RegionOut]:
    stmt = select(Region).where(who.region_filter(Region.code))
    if parent is not None:
        stmt = stmt.where(Region.parent == parent)
    if level is not None:
        stmt = stmt.where(Region.level == level)
    if within is not None:
        stmt = stmt.where(Region.code.startswith(within, autoescape=True))
    rows = list((await session.execute(keyset(stmt, Region.code, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda r: r.code)
    demographics = await regions.demographics_of(session, [r.code for r in rows])
    return Page(items=[region_out(r, demographics[r.code]) for r in rows], next_cursor=cursor)


@router.get("/regions/{code}/quota")
async def get_region_quota(
    code: RegionPath,
    who: RosterReader,
    session: Session,
    on: Annotated[Day | None, Query(description="rules and figures in force on; today")] = None,
) -> QuotaOut:
    """The region's quota line: quota from the most specific rules in force, headcount
    (probation and active) and reserved seats of the whole region, and what is free."""
    region = await regions.visible_region(session, who, code)
    day = on or today()
    book = await regions.rule_book(session, [code])
    figures = (await regions.figures_on(session, [code], day))[code]
    headcount, reserved = await regions.subtree_counts(session, code)
    line = regions.quota_line(code, day, book, figures, headcount, reserved)
    return quota_out(region, line, book, seat_region(code), figures.derived)


@router.post(
    "/quota-rules",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_quota_rule(
    body: QuotaRuleIn, who: ProvinceAdmin, session: Session
) -> QuotaRuleOut:
    """A rule on a region-code prefix for a group of post categories. Rules are never
    edited: set a new one with a later `effective_from`. Groups that overlap another
    rule's group without being equal are refused (both would count the overlap)."""
    row = await regions.create_rule(session, who, body, utcnow())
    return rule_out(row)


@router.get("/quota-rules")
async def list_quota_rules(
    who: RosterReader,
    session: Session,
    params: Annotated[PageParams, Depends(page_params)],
    region: Annotated[
        str | None, Query(max_length=9, description="the rules in force for this region")
    ] = None,
    on: Annotated[Day | None, Query(description="in force on this day; today")] = None,
) -> Page[QuotaRuleOut]:
    """With `region`: the most specific rule in force for each group. Without: every
    rule that applies in the caller's jurisdiction, superseded ones included."""
    if region is not None:
        await regions.visible_region(session, who, region)
        book = await regions.rule_book(session, [region])
        in_force = book.in_force(region, on or today())
        return Page(items=[rule_out(book.rows[int(r.id)]) for r in in_force], next_cursor=None)
    scope = set(rc.ancestors_and_self(who.region)) | {""} if who.region else {""}
    stmt = select(QuotaRuleRow).where(
        QuotaRuleRow.region_prefix.in_(sorted(scope))
        | who.region_filter(QuotaRuleRow.region_prefix)
    )
    rows = list((await session.execute(keyset(stmt, QuotaRuleRow.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda r: r.id)
    return Page(items=[rule_out(r) for r in rows], next_cursor=cursor)


# --- reservations ---------------------------------------------------------------------------


@router.post(
    "/quota-reservations",
    status_code=201,
    dependencies=[Idempotent],
    responses={
        200: {"model": ReservationOut, "description": "The reservation with that reference"},
        **problem_responses(409),
    },
)
async def create_quota_reservation(
    body: ReservationIn, response: Response, who: ReservationWriter, session: Session
) -> ReservationOut:
    """Hold seats for a recruitment plan. The same reference again answers the same
    reservation (200); 409 quota_exceeded when the seats are not free."""
    reservation, created = await reservations.create(session, who, body, today(), utcnow())
    response.status_code = 201 if created else 200
    return reservation_out(reservation)


@router.get("/quota-reservations")
async def list_quota_reservations(
    who: ReservationReader,
    session: Session,
    params: Annotated[PageParams, Depends(page_params)],
    region: Annotated[str | None, Query(max_length=9, description="region prefix")] = None,
    status: ReservationStatus | None = None,
    reference: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[ReservationOut]:
    stmt = select(QuotaReservation).where(who.region_filter(QuotaReservation.region))
    if region:
        stmt = stmt.where(QuotaReservation.region.startswith(region, autoescape=True))
    if status is not None:
        stmt = stmt.where(QuotaReservation.status == status.value)
    if reference is not None:
        stmt = stmt.where(QuotaReservation.reference == reference)
    rows = list((await session.execute(keyset(stmt, QuotaReservation.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda r: r.id)
    return Page(items=[reservation_out(r) for r in rows], next_cursor=cursor)


@router.get("/quota-reservations/{id}")
async def get_quota_reservation(
    reservation_id: ResourceId, who: ReservationReader, session: Session
) -> ReservationOut:
    return reservation_out(await reservations.visible_reservation(session, who, reservation_id))


@router.post(
    "/quota-reservations/{id}/release", dependencies=[Idempotent], responses=problem_responses()
)
async def release_quota_reservation(
    reservation_id: ResourceId, who: ReservationWriter, session: Session
) -> ReservationOut:
    """Give back the seats not converted into hires (the plan closed). Idempotent."""
    reservation = await reservations.release(session, who, reservation_id, utcnow())
    return reservation_out(reservation)
