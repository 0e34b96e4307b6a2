"""Plans: create, submit, approve (reserving seats in the roster), reject, close, file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from kernel.auth import Principal, require
from kernel.concurrency import check_if_match, etag_for, set_etag
from kernel.errors import problem_responses
from kernel.pagination import Page, PageParams, page_params
from kernel.routing import Idempotent, Session, TransactionalRoute
from kernel.schemas import PathId
from kernel.tabular import LangQuery, ReportFormat
from services.recruitment import filings, plans_service, policy
from services.recruitment.models import Plan
from services.recruitment.schemas import (
    ApproveIn,
    PlanFilingOut,
    PlanIn,
    PlanOut,
    PlanStatus,
    RejectIn,
)
from services.recruitment.tabular import XLSX

router = APIRouter(prefix="/api/v1/recruitment", route_class=TransactionalRoute, tags=["plans"])

PlanReader = Annotated[Principal, Depends(require(*policy.PLAN_READ))]
PlanWriter = Annotated[Principal, Depends(require(*policy.PLAN_WRITE))]
Approver = Annotated[Principal, Depends(require(*policy.PROVINCE))]
Paging = Annotated[PageParams, Depends(page_params)]


async def _view(session: Session, plan: Plan) -> PlanOut:
    campaigns, filled = await plans_service.plan_extras(session, [plan.id])
    return PlanOut.model_validate(plans_service.plan_view(plan, campaigns.get(plan.id), filled))


def _etag(plan: Plan) -> str:
    return etag_for("plan", plan.id, plan.version)


@router.post(
    "/plans",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(403),
)
async def create_plan(
    body: PlanIn, who: PlanWriter, session: Session, response: Response
) -> PlanOut:
    """A draft plan: posts × headcount for a year in a region of the caller's jurisdiction."""
    plan = await plans_service.create_plan(session, who, body)
    view = await _view(session, plan)
    set_etag(response, _etag(plan))
    response.headers["Location"] = f"/api/v1/recruitment/plans/{plan.id}"
    return view


@router.get("/plans")
async def list_plans(
    who: PlanReader,
    session: Session,
    params: Paging,
    region: Annotated[
        str | None,
        Query(max_length=9, pattern="^[0-9]*$", description="region code prefix, e.g. 3713"),
    ] = None,
    status: Annotated[PlanStatus | None, Query()] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Page[PlanOut]:
    """Plans in the caller's jurisdiction, with positions (headcount and filled)."""
    plans, cursor = await plans_service.list_plans(
        session, who, params, region=region, status=status, year=year
    )
    campaigns, filled = await plans_service.plan_extras(session, [p.id for p in plans])
    return Page[PlanOut](
        items=[
            PlanOut.model_validate(plans_service.plan_view(p, campaigns.get(p.id), filled))
            for p in plans
        ],
        next_cursor=cursor,
    )


@router.get("/plans/{id}", responses=problem_responses())
async def get_plan(id: PathId, who: PlanReader, session: Session, response: Response) -> PlanOut:
    plan = await plans_service.get_plan(session, who, id)
    set_etag(response, _etag(plan))
    return await _view(session, plan)


async def _after(session: Session, who: Principal, plan_id: int, response: Response) -> PlanOut:
    plan = await plans_service.get_plan(session, who, plan_id)
    set_etag(response, _etag(plan))
    return await _view(session, plan)


@router.post("/plans/{id}/submit", dependencies=[Idempotent], responses=problem_responses(409, 412))
async def submit_plan(
    id: PathId, request: Request, response: Response, who: PlanWriter, session: Session
) -> PlanOut:
    """draft → submitted."""
    plan = await plans_service.get_plan(session, who, id, lock=True)
    check_if_match(request, _etag(plan))
    await plans_service.submit(session, who, plan)
    return await _after(session, who, id, response)


@router.post(
    "/plans/{id}/approve",
    dependencies=[Idempotent],
    responses=problem_responses(409, 412, 503),
)
async def approve_plan(
    id: PathId,
    request: Request,
    response: Response,
    who: Approver,
    session: Session,
    body: ApproveIn | None = None,
) -> PlanOut:
    """submitted → approved, reserving the seats in the roster with the approver's token
    (409 `quota_exceeded` when they do not fit; 503 `roster_unavailable`). The approver
    is a province administrator whose region lies strictly above the plan's."""
    plan = await plans_service.get_plan(session, who, id, lock=True)
    check_if_match(request, _etag(plan))
    await plans_service.approve(
        request.app,
        session,
        who,
        plan,
        request.headers.get("authorization", ""),
        body.note if body else None,
    )
    return await _after(session, who, id, response)


@router.post("/plans/{id}/reject", dependencies=[Idempotent], responses=problem_responses(409, 412))
async def reject_plan(
    id: PathId,
    request: Request,
    response: Response,
    who: Approver,
    session: Session,
    body: RejectIn | None = None,
) -> PlanOut:
    """submitted → rejected, with the reason."""
    plan = await plans_service.get_plan(session, who, id, lock=True)
    check_if_match(request, _etag(plan))
    await plans_service.reject(session, who, plan, body.reason if body else None)
    return await _after(session, who, id, response)


@router.post("/plans/{id}/close", dependencies=[Idempotent], responses=problem_responses(409, 412))
async def close_plan(
    id: PathId, request: Request, response: Response, who: PlanWriter, session: Session
) -> PlanOut:
    """approved (or rejected) → closed; the unfilled seats are released in the roster
    and the plan's campaign ends. Refused while hires are on their way to the roster."""
    plan = await plans_service.get_plan(session, who, id, lock=True)
    check_if_match(request, _etag(plan))
    await plans_service.close(session, who, plan)
    return await _after(session, who, id, response)


@router.get(
    "/plans/{id}/filing",
    responses={
        **problem_responses(409),
        200: {
            "model": PlanFilingOut,
            "description": "the pre-recruitment report, as JSON, CSV or XLSX",
            "content": {
                XLSX: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
)
async def get_plan_filing(
    id: PathId,
    request: Request,
    who: PlanReader,
    session: Session,
    format: Annotated[ReportFormat | None, Query()] = None,
    lang: LangQuery = None,
) -> Response:
    """The pre-recruitment report (报备) of an approved plan. `?format=xlsx` or
    `Accept: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet` for XLSX."""
    plan = await plans_service.get_plan(session, who, id)
    plans_service.ensure_filed(plan)
    campaigns, _ = await plans_service.plan_extras(session, [plan.id])
    doc = filings.plan_filing(plan, campaigns.get(plan.id))
    fmt = filings.filing_format(request, format)
    if fmt != "json":
        return filings.filing_response(
            filings.plan_filing_sheets(doc), 1, fmt, lang, f"plan-{plan.id}-filing"
        )
    return JSONResponse(jsonable_encoder(PlanFilingOut.model_validate(doc)))
