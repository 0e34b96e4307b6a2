"""Campaigns: creation, stages, applications, results, ranking, publicity, hire, filing."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from kernel.auth import Principal, Role, require
from kernel.concurrency import etag_for, set_etag
from kernel.errors import problem_responses
from kernel.pagination import Page, PageParams, keyset, page_of, page_params
from kernel.routing import Idempotent, Session, TransactionalRoute
from kernel.schemas import MAX_ID, PathId
from kernel.tabular import LangQuery, ReportFormat
from services.recruitment import (
    applications_service,
    bulk,
    campaigns_service,
    filings,
    hire_service,
    plans_service,
    policy,
    publicity_service,
    results_service,
    tabular,
)
from services.recruitment.campaign_state import load_campaign
from services.recruitment.errors import RoleNotAllowed
from services.recruitment.models import Application, Campaign, PublicityNotice
from services.recruitment.schemas import (
    ApplicationBrief,
    ApplicationIn,
    ApplicationOut,
    ApplicationStatus,
    CampaignFilingOut,
    CampaignIn,
    CampaignOut,
    CampaignStatus,
    CampaignSummary,
    Eligibility,
    HireIn,
    HireOut,
    ImportOut,
    LossOut,
    NoticeOut,
    PublicityIn,
    RankingOut,
    ResultIn,
    ResultsOut,
    ResultStageName,
    StageCloseOut,
    StageName,
)
from services.recruitment.stages import Stage
from services.recruitment.tabular import XLSX
from services.recruitment.views import application_brief, application_view

router = APIRouter(prefix="/api/v1/recruitment", route_class=TransactionalRoute, tags=["campaigns"])

Reader = Annotated[Principal, Depends(require(*policy.CAMPAIGN_READ))]
Writer = Annotated[Principal, Depends(require(*policy.CAMPAIGN_WRITE))]
Scorer = Annotated[Principal, Depends(require(*policy.SCORES))]
CountyAdmin = Annotated[Principal, Depends(require(*policy.POLITICAL))]
Hirer = Annotated[Principal, Depends(require(*policy.HIRE))]
Paging = Annotated[PageParams, Depends(page_params)]

_RESULTS = TypeAdapter(list[ResultIn])


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its $defs inlined (for request bodies declared by hand)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


_UPLOAD = {
    "text/csv": {"schema": {"type": "string"}},
    XLSX: {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
            "required": ["file"],
        },
        # the file part says what it is (a part without a type is read by its content)
        "encoding": {"file": {"contentType": f"text/csv, {XLSX}"}},
    },
}
_RESULTS_BODY = {
    "requestBody": {
        "required": True,
        "description": "a JSON list, or a CSV/XLSX table with the same columns "
        "(examiner_scores separated by ';', fitness items as columns)",
        "content": {"application/json": {"schema": _inline(_RESULTS.json_schema())}, **_UPLOAD},
    }
}
_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "a CSV/XLSX table: id_number, name, post, education, veteran, "
        "special_skill, categories (';'), height_cm, vision, hukou_region, phone, one column "
        "per negative-list declaration or negative_list_clear",
        "content": _UPLOAD,
    }
}


async def _campaign_out(session: Session, campaign_id: int, who: Principal) -> CampaignOut:
    ctx = await load_campaign(session, who, campaign_id)
    counts = await campaigns_service.post_counts(session, ctx.id)
    rounds = await campaigns_service.backfill_rounds(session, ctx.id)
    return CampaignOut.model_validate(campaigns_service.campaign_view(ctx, counts, rounds))


# --- campaigns ------------------------------------------------------------------------------


@router.post(
    "/campaigns", status_code=201, dependencies=[Idempotent], responses=problem_responses(409)
)
async def create_campaign(
    body: CampaignIn, who: Writer, session: Session, response: Response
) -> CampaignOut:
    """A campaign for an approved plan: posts and headcounts come from the plan, `rules`
    (validated on input) from the body. Registration opens at once for its window."""
    campaign_id = await campaigns_service.create_campaign(session, who, body)
    out = await _campaign_out(session, campaign_id, who)
    set_etag(response, etag_for("campaign", out.id, out.version))
    response.headers["Location"] = f"/api/v1/recruitment/campaigns/{out.id}"
    return out


@router.get("/campaigns")
async def list_campaigns(
    who: Reader,
    session: Session,
    params: Paging,
    plan_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[CampaignStatus | None, Query()] = None,
) -> Page[CampaignSummary]:
    stmt = (
        select(Campaign)
        .options(selectinload(Campaign.stages))
        .where(who.region_filter(Campaign.region))
    )
    if plan_id is not None:
        stmt = stmt.where(Campaign.plan_id == plan_id)
    if status is not None:
        stmt = stmt.where(Campaign.status == status)
    rows = list((await session.execute(keyset(stmt, Campaign.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda c: c.id)
    items = [CampaignSummary.model_validate(campaigns_service.campaign_summary(c)) for c in rows]
    return Page[CampaignSummary](items=items, next_cursor=cursor)


@router.get("/campaigns/{id}", responses=problem_responses())
async def get_campaign(
    id: PathId, who: Reader, session: Session, response: Response
) -> CampaignOut:
    """The campaign with each stage's state and each post's counts."""
    out = await _campaign_out(session, id, who)
    set_etag(response, etag_for("campaign", out.id, out.version))
    return out


@router.post(
    "/campaigns/{id}/stages/{stage}/close",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def close_campaign_stage(
    id: PathId, stage: StageName, who: Writer, session: Session
) -> StageCloseOut:
    """Close an open stage and compute who goes on; the next stage opens. Refused (409
    `results_missing`) while a candidate of the stage has neither a result nor a recorded
    absence. The political and publicity stages are closed by the county administrator."""
    out = await campaigns_service.close_stage(session, who, id, Stage(stage))
    return StageCloseOut.model_validate(out)


# --- applications ----------------------------------------------------------------------------


@router.post(
    "/campaigns/{id}/applications",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_application(
    id: PathId, body: ApplicationIn, who: Writer, session: Session, response: Response
) -> ApplicationOut:
    """Register an applicant; eligibility is checked at once and its reasons listed. The
    same person applying twice to one campaign gets 409 `duplicate_application`."""
    ctx = await load_campaign(session, who, id, lock=True)
    app_id = await applications_service.register(
        session, ctx, body, source="recruiter", actor=who.sub
    )
    app = await applications_service.get_application(session, who, app_id)
    response.headers["Location"] = f"/api/v1/recruitment/applications/{app_id}"
    set_etag(response, etag_for("application", app.id, app.version))
    return ApplicationOut.model_validate(application_view(app, who, None, []))


@router.post(
    "/campaigns/{id}/applications/import",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409, 413, 415),
    openapi_extra=_IMPORT_BODY,
)
async def import_applications(
    id: PathId, request: Request, who: Writer, session: Session
) -> ImportOut:
    """Bulk registration from a CSV or XLSX table. Valid rows land, bad rows are reported
    with their row number and code."""
    content, kind = await tabular.upload(request)
    rows = tabular.read_rows(content, kind)
    ctx = await load_campaign(session, who, id, lock=True)
    out = await applications_service.import_rows(session, ctx, rows, who.sub)
    return ImportOut.model_validate(out)


@router.get("/campaigns/{id}/applications", responses=problem_responses())
async def list_campaign_applications(
    id: PathId,
    who: Reader,
    session: Session,
    params: Paging,
    post: Annotated[str | None, Query(max_length=50)] = None,
    status: Annotated[ApplicationStatus | None, Query()] = None,
    eligibility: Annotated[Eligibility | None, Query()] = None,
) -> Page[ApplicationBrief]:
    ctx = await load_campaign(session, who, id)
    rows, cursor = await applications_service.list_applications(
        session, ctx, params, post=post, status=status, eligibility=eligibility
    )
    return Page[ApplicationBrief](
        items=[ApplicationBrief.model_validate(application_brief(a, who)) for a in rows],
        next_cursor=cursor,
    )


# --- results --------------------------------------------------------------------------------


async def _read_results(request: Request) -> list[results_service.Result]:
    kind = tabular.media_type(request)
    if kind in ("application/json", ""):
        try:
            data = json.loads(await request.body())
        except ValueError as exc:
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "the body is not valid JSON", "type": "json_invalid"}]
            ) from exc
        try:
            items = _RESULTS.validate_python(data)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            ) from exc
        return results_service.from_json(items)
    content, table = await tabular.upload(request)
    with bulk.gc_paused():
        return results_service.from_table(*tabular.read_table(content, table))


@router.post(
    "/campaigns/{id}/results/{stage}",
    dependencies=[Idempotent],
    responses=problem_responses(409, 413, 415),
    openapi_extra=_RESULTS_BODY,
)
async def record_stage_results(
    id: PathId, stage: ResultStageName, request: Request, who: Scorer, session: Session
) -> ResultsOut:
    """Results of one stage: `[{"application_id", "score"}]` for the written test, the
    interview (or `examiner_scores`) and scored fitness; `[{"application_id", "passed",
    "reason"}]` for fitness, medical and political review; `absent: true` anywhere. As JSON
    or a CSV/XLSX upload. 409 `stage_not_open` unless the stage is open (or owed by a
    backfilled candidate); a recorded result changes only by a new entry with a
    `correction_reason`. Political review is recorded by the county administrator."""
    if stage == Stage.POLITICAL.value and not who.has(Role.COUNTY_ADMIN):
        raise RoleNotAllowed("political review is recorded by the county administrator")
    results = await _read_results(request)
    ctx = await load_campaign(session, who, id, lock=True)
    recorded = await results_service.record_results(session, ctx, who, Stage(stage), results)
    return ResultsOut(
        campaign_id=ctx.id,
        stage=stage,
        recorded=recorded.recorded,
        corrections=recorded.corrections,
        losses=[LossOut.model_validate(loss.as_dict()) for loss in recorded.losses],
    )


@router.get("/campaigns/{id}/ranking", responses=problem_responses(409))
async def get_ranking(
    id: PathId,
    who: Reader,
    session: Session,
    params: Paging,
    post: Annotated[str | None, Query(max_length=50)] = None,
) -> RankingOut:
    """A post's ordered list: place and reserve by rank, then those out."""
    ctx = await load_campaign(session, who, id)
    return RankingOut.model_validate(await campaigns_service.ranking(session, ctx, post, params))


# --- publicity and hire ---------------------------------------------------------------------


@router.post(
    "/campaigns/{id}/publicity",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def post_publicity(
    id: PathId, body: PublicityIn, who: CountyAdmin, session: Session
) -> NoticeOut:
    """A publicity notice from `starts` (a past day is allowed) for everyone who holds a
    place and has cleared every gate; it runs `publicity_working_days` working days."""
    ctx = await load_campaign(session, who, id, lock=True)
    return NoticeOut.model_validate(
        await publicity_service.post_notice(session, ctx, who, body.starts)
    )


@router.get("/campaigns/{id}/publicity", responses=problem_responses())
async def list_publicity(id: PathId, who: Reader, session: Session) -> list[NoticeOut]:
    ctx = await load_campaign(session, who, id)
    notices = list(
        (
            await session.execute(
                select(PublicityNotice)
                .where(PublicityNotice.campaign_id == ctx.id)
                .order_by(PublicityNotice.id)
            )
        ).scalars()
    )
    covered: dict[int, list[int]] = {n.id: [] for n in notices}
    if notices:
        for app_id, notice_id in (
            await session.execute(
                select(Application.id, Application.publicity_notice_id)
                .where(Application.publicity_notice_id.in_(list(covered)))
                .order_by(Application.id)
            )
        ).all():
            if notice_id is not None:
                covered[notice_id].append(app_id)
    days = ctx.rules.publicity_working_days
    return [
        NoticeOut(
            id=n.id,
            campaign_id=n.campaign_id,
            starts=n.starts,
            ends=n.ends,
            working_days=days,
            application_ids=covered[n.id],
            created_by=n.created_by,
            created_at=n.created_at,
        )
        for n in notices
    ]


@router.post(
    "/campaigns/{id}/hire",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def hire_candidates(
    id: PathId,
    who: Hirer,
    session: Session,
    request: Request,
    background: BackgroundTasks,
    body: HireIn | None = None,
) -> HireOut:
    """Hire everyone who has cleared publicity. The hires and one outbox entry per hire
    are committed together; the relay delivers them to the roster, which creates each
    person against the plan's reservation exactly once, even if it is down right now."""
    ctx = await load_campaign(session, who, id, lock=True)
    out = await hire_service.hire(session, ctx, who, body or HireIn())
    relay = request.app.state.relay
    if relay is not None:
        background.add_task(relay.wake)  # runs after the response, i.e. after the commit
    return HireOut.model_validate(out)


@router.get(
    "/campaigns/{id}/filing",
    responses={
        **problem_responses(),
        200: {
            "model": CampaignFilingOut,
            "description": "the post-recruitment filing, as JSON, CSV or XLSX",
            "content": {
                XLSX: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
)
async def get_campaign_filing(
    id: PathId,
    request: Request,
    who: Reader,
    session: Session,
    format: Annotated[ReportFormat | None, Query()] = None,
    lang: LangQuery = None,
) -> Response:
    """The post-recruitment filing (备案): the hires and each post's figures."""
    ctx = await load_campaign(session, who, id)
    plan = await plans_service.get_plan(session, None, ctx.campaign.plan_id)
    doc = await filings.campaign_filing(session, ctx, plan, who)
    fmt = filings.filing_format(request, format)
    if fmt != "json":
        return filings.filing_response(
            filings.campaign_filing_sheets(doc), 2, fmt, lang, f"campaign-{ctx.id}-filing"
        )
    return JSONResponse(jsonable_encoder(CampaignFilingOut.model_validate(doc)))
