"""Routers: personnel files, their life events and history, the streamed snapshot,
posts and the level scheme in force."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from kernel.concurrency import check_if_match, etag_for, set_etag
from kernel.db import utcnow
from kernel.errors import Unprocessable, problem_responses
from kernel.pagination import Page, PageParams, keyset, page_of, page_params
from kernel.routing import Idempotent, Session, TransactionalRoute
from kernel.schemas import Day
from services.common.education import Education
from services.roster import personnel_service as svc
from services.roster import snapshot
from services.roster.clock import today
from services.roster.deps import (
    PersonnelCreator,
    PersonnelReader,
    PersonnelWriter,
    Policies,
    ResourceId,
    RosterReader,
    UnitEvents,
)
from services.roster.levels import Grade
from services.roster.models import Personnel, PersonnelEvent, Post
from services.roster.schemas import (
    AssessmentIn,
    AssessmentOut,
    ContractIn,
    ContractOut,
    DepartureIn,
    HistoryEntry,
    LevelChangeIn,
    LevelChangeOut,
    PersonnelFileOut,
    PersonnelIn,
    PersonnelOut,
    PersonnelPatch,
    PostCategory,
    PunishmentIn,
    PunishmentOut,
    RewardIn,
    RewardOut,
    StatusChangeIn,
    StatusChangeOut,
    TrainingIn,
    TrainingOut,
)
from services.roster.statuses import Status
from services.roster.views import assessment_out, personnel_file_out, personnel_out

router = APIRouter(prefix="/api/v1/roster", route_class=TransactionalRoute, tags=["personnel"])


def _etag(person: Personnel) -> str:
    return etag_for("personnel", person.id, person.version)


def _ctx(session: Any, who: Any, policies: Any) -> svc.Ctx:
    return svc.Ctx(session, who, policies, today(), utcnow())


@router.post(
    "/personnel",
    status_code=201,
    dependencies=[Idempotent],
    responses={
        200: {"model": PersonnelOut, "description": "The file with that external_reference"},
        **problem_responses(409),
    },
)
async def create_personnel(
    body: PersonnelIn,
    response: Response,
    who: PersonnelCreator,
    session: Session,
    policies: Policies,
) -> PersonnelOut:
    """Open a file. Birth date and sex come from the ID number. It takes a free quota
    seat, or a seat of the reservation named by `reservation_reference`; without either
    409 quota_exceeded. A file with the same `external_reference` is answered as is (200)."""
    ctx = _ctx(session, who, policies)
    person, created = await svc.create_person(ctx, body)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/api/v1/roster/personnel/{person.id}"
    set_etag(response, _etag(person))
    return personnel_out(person, who, ctx.today)


@router.get("/personnel")
async def list_personnel(
    who: PersonnelReader,
    session: Session,
    params: Annotated[PageParams, Depends(page_params)],
    region: Annotated[str | None, Query(max_length=9, description="region prefix")] = None,
    status: Annotated[list[Status] | None, Query(description="one or more statuses")] = None,
    post_category: PostCategory | None = None,
    post: Annotated[str | None, Query(max_length=40)] = None,
    level: Annotated[int | None, Query(ge=1, le=9)] = None,
    unit: Annotated[str | None, Query(max_length=100)] = None,
    education: Education | None = None,
    external_reference: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[PersonnelOut]:
    # plain rows, not ORM objects: nothing is changed, and 500 are read at a time
    stmt = select(*Personnel.__table__.c).where(who.region_filter(Personnel.region))
    if region:
        stmt = stmt.where(Personnel.region.startswith(region, autoescape=True))
    if status:
        stmt = stmt.where(Personnel.status.in_([s.value for s in status]))
    if post_category is not None:
        stmt = stmt.where(Personnel.post_category == post_category.value)
    if post is not None:
        stmt = stmt.where(Personnel.post == post)
    if level is not None:
        stmt = stmt.where(Personnel.level == level)
    if unit is not None:
        stmt = stmt.where(Personnel.unit == unit)
    if education is not None:
        stmt = stmt.where(Personnel.education == education.value)
    if external_reference is not None:
        stmt = stmt.where(Personnel.external_reference == external_reference)
    rows = list((await session.execute(keyset(stmt, Personnel.id, params))).all())
    rows, cursor = page_of(rows, params, key=lambda p: p.id)
    day = today()
    return Page(items=[personnel_out(p, who, day) for p in rows], next_cursor=cursor)


@router.get(
    "/personnel-snapshot",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "one JSON object per line (NDJSON), streamed",
            "content": {"application/x-ndjson": {"schema": snapshot.SNAPSHOT_SCHEMA}},
        }
    },
)
async def personnel_snapshot(
    request: Request,
    who: PersonnelReader,
    from_: Annotated[Day, Query(alias="from", description="first day of the period")],
    to: Annotated[Day, Query(description="last day of the period")],
    region: Annotated[str | None, Query(max_length=9, description="region prefix")] = None,
) -> StreamingResponse:
    """Everyone who was on probation or active on some day in [from, to], streamed as
    NDJSON in id order, for payroll snapshots."""
    if to < from_:
        raise Unprocessable(
            "to is before from",
            code="validation_error",
            errors=[{"loc": ["query", "to"], "msg": "before from"}],
        )
    db = request.app.state.db
    batch = getattr(request.app.state.settings, "snapshot_batch_size", 2000)
    rows = snapshot.stream(db, who, region, from_, to, batch)
    return StreamingResponse(rows, media_type="application/x-ndjson")


@router.get("/personnel/{id}", responses=problem_responses())
async def get_personnel(
    personnel_id: ResourceId, response: Response, who: PersonnelReader, session: Session
) -> PersonnelFileOut:
    """The whole file: the person with every contract, assessment, level change, status
    change, reward, punishment and training."""
    person = await svc.visible_person(session, who, personnel_id, whole_file=True)
    set_etag(response, _etag(person))
    return personnel_file_out(person, who, today())


@router.patch("/personnel/{id}", responses=problem_responses(409, 412))
async def update_personnel(
    personnel_id: ResourceId,
    body: PersonnelPatch,
    request: Request,
    response: Response,
    who: PersonnelWriter,
    session: Session,
    policies: Policies,
) -> PersonnelOut:
    """Correct or update the file (name, unit, post within its category, education,
    veteran, political status, phone) or transfer it to another region, which takes a
    seat there. Levels and statuses change through their own events. Send `If-Match`."""
    person = await svc.visible_person(session, who, personnel_id)
    check_if_match(request, _etag(person))
    ctx = _ctx(session, who, policies)
    person = await svc.patch_person(ctx, person, body)
    set_etag(response, _etag(person))
    return personnel_out(person, who, ctx.today)


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    next_cursor: str | None = None


@router.get("/personnel/{id}/history")
async def personnel_history(
    personnel_id: ResourceId,
    who: PersonnelReader,
    session: Session,
    params: Annotated[PageParams, Depends(page_params)],
) -> HistoryPage:
    """Every change to the file, oldest first, with who made it, when and why."""
    person = await svc.visible_person(session, who, personnel_id)
    stmt = select(PersonnelEvent).where(PersonnelEvent.personnel_id == person.id)
    rows = list((await session.execute(keyset(stmt, PersonnelEvent.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda e: e.id)
    items = [
        HistoryEntry(
            id=e.id,
            kind=e.kind,
            effective=e.effective,
            reason=e.reason,
            data=e.data,
            recorded_at=e.recorded_at,
            recorded_by=e.recorded_by,
        )
        for e in rows
    ]
    if params.cursor is None:
        items.insert(0, HistoryEntry(**svc.creation_entry(person)))
    return HistoryPage(items=items, next_cursor=cursor)


# --- life events ----------------------------------------------------------------------------


async def _event_target(session: Any, who: Any, personnel_id: int) -> Personnel:
    return await svc.visible_person(session, who, personnel_id)


@router.post(
    "/personnel/{id}/departures",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def record_departure(
    personnel_id: ResourceId,
    body: DepartureIn,
    who: PersonnelWriter,
    session: Session,
    policies: Policies,
) -> StatusChangeOut:
    """The person leaves on `date` (their last day) for `reason`; the seat is freed."""
    person = await _event_target(session, who, personnel_id)
    change = await svc.depart(_ctx(session, who, policies), person, body)
    return StatusChangeOut.model_validate(change)


@router.post(
    "/personnel/{id}/status-changes",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def record_status_change(
    personnel_id: ResourceId,
    body: StatusChangeIn,
    who: PersonnelWriter,
    session: Session,
    policies: Policies,
) -> StatusChangeOut:
    """End of probation (probation → active), suspension (active → suspended, frees the
    seat) or reinstatement (suspended → active, takes a free seat again)."""
    person = await _event_target(session, who, personnel_id)
    change = await svc.change_status(_ctx(session, who, policies), person, body)
    return StatusChangeOut.model_validate(change)


@router.post(
    "/personnel/{id}/assessments",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def record_assessment(
    personnel_id: ResourceId,
    body: AssessmentIn,
    who: UnitEvents,
    session: Session,
    policies: Policies,
) -> AssessmentOut:
    """The annual grade; a year is assessed once. `dismissal_grounds` names two
    consecutive years graded incompetent."""
    person = await _event_target(session, who, personnel_id)
    row, grounds = await svc.add_assessment(_ctx(session, who, policies), person, body)
    return assessment_out(row, grounds)


@router.post(
    "/personnel/{id}/level-changes",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def record_level_change(
    personnel_id: ResourceId,
    body: LevelChangeIn,
    who: PersonnelWriter,
    session: Session,
    policies: Policies,
) -> LevelChangeOut:
    """A promotion, demotion or step change. Entering capped levels (e.g. levels 1–3
    ≤ 30%) needs a free seat under the cap: 409 level_cap_exceeded."""
    person = await _event_target(session, who, personnel_id)
    change = await svc.change_level(_ctx(session, who, policies), person, body)
    return LevelChangeOut.model_validate(change)


@router.post(
    "/personnel/{id}/contracts",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def record_contract(
    personnel_id: ResourceId,
    body: ContractIn,
    who: PersonnelWriter,
    session: Session,
    policies: Policies,
) -> ContractOut:
    """A new (renewal) contract: after the last one ends; probation only once and within
    art. 19's limits; a dispatch contract runs two years or more."""
    person = await _event_target(session, who, personnel_id)
    row = await svc.add_contract(_ctx(session, who, policies), person, body)
    return ContractOut.model_validate(row)


@router.post(
    "/personnel/{id}/rewards",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def record_reward(
    personnel_id: ResourceId,
    body: RewardIn,
    who: UnitEvents,
    session: Session,
    policies: Policies,
) -> RewardOut:
    person = await _event_target(session, who, personnel_id)
    row = await svc.add_reward(_ctx(session, who, policies), person, body)
    return RewardOut.model_validate(row)


@router.post(
    "/personnel/{id}/punishments",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def record_punishment(
    personnel_id: ResourceId,
    body: PunishmentIn,
    who: UnitEvents,
    session: Session,
    policies: Policies,
) -> PunishmentOut:
    person = await _event_target(session, who, personnel_id)
    row = await svc.add_punishment(_ctx(session, who, policies), person, body)
    return PunishmentOut.model_validate(row)


@router.post(
    "/personnel/{id}/trainings",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def record_training(
    personnel_id: ResourceId,
    body: TrainingIn,
    who: UnitEvents,
    session: Session,
    policies: Policies,
) -> TrainingOut:
    person = await _event_target(session, who, personnel_id)
    row = await svc.add_training(_ctx(session, who, policies), person, body)
    return TrainingOut.model_validate(row)


# --- catalogue --------------------------------------------------------------------------------


class PostOut(BaseModel):
    name: str
    category: PostCategory


@router.get("/posts")
async def list_posts(
    who: RosterReader,
    session: Session,
    params: Annotated[PageParams, Depends(page_params)],
    category: PostCategory | None = None,
) -> Page[PostOut]:
    """The posts in use; each belongs to one category for good."""
    stmt = select(Post)
    if category is not None:
        stmt = stmt.where(Post.category == category.value)
    rows = list((await session.execute(keyset(stmt, Post.name, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda p: p.name)
    return Page(
        items=[PostOut(name=p.name, category=PostCategory(p.category)) for p in rows],
        next_cursor=cursor,
    )


class PromotionRuleOut(BaseModel):
    leaving_level: int
    years_in_level: int
    min_grade: Grade
    min_service_years: int
    min_education: Education | None


class LevelCapOut(BaseModel):
    levels: list[int]
    max_share: str
    description: str


class LevelPolicyOut(BaseModel):
    region_prefix: str
    effective_from: date
    levels: int
    entry_by_education: dict[str, int]
    promotion: list[PromotionRuleOut]
    competitive_levels: list[int]
    caps: list[LevelCapOut]
    require_complete_assessments: bool


@router.get("/level-policy")
async def get_level_policy(
    who: RosterReader,
    policies: Policies,
    region: Annotated[str, Query(max_length=9, description="a region code")],
    on: Annotated[Day | None, Query(description="in force on; today")] = None,
) -> LevelPolicyOut:
    """The level scheme configured for a region: entry levels by education, promotion
    requirements, competitive levels and caps."""
    from services.roster.regions_service import check_code

    check_code(region, "region")
    scoped = policies.scoped(region, on or today())
    policy = scoped.policy
    return LevelPolicyOut(
        region_prefix=scoped.region_prefix,
        effective_from=scoped.effective_from,
        levels=policy.levels,
        entry_by_education={e.value: n for e, n in policy.entry_by_education.items()},
        promotion=[
            PromotionRuleOut(
                leaving_level=level,
                years_in_level=rule.years_in_level,
                min_grade=rule.min_grade,
                min_service_years=rule.min_service_years,
                min_education=rule.min_education,
            )
            for level, rule in sorted(policy.promotion.items(), reverse=True)
        ],
        competitive_levels=sorted(policy.competitive_levels),
        caps=[
            LevelCapOut(
                levels=sorted(cap.levels),
                max_share=f"{cap.max_share.normalize():f}",
                description=cap.describe(),
            )
            for cap in policy.caps
        ],
        require_complete_assessments=policy.require_complete_assessments,
    )
