"""Single applications: read, history, override, medical re-examination, objections,
withdrawal, redelivery of a refused hire."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response

from kernel.auth import Principal, require
from kernel.concurrency import check_if_match, etag_for, set_etag
from kernel.errors import problem_responses
from kernel.routing import Idempotent, Session, TransactionalRoute
from kernel.schemas import PathId
from services.recruitment import (
    applications_service,
    hire_service,
    policy,
    publicity_service,
    results_service,
)
from services.recruitment.campaign_state import CampaignContext, load_campaign
from services.recruitment.models import Application
from services.recruitment.schemas import (
    ApplicationOut,
    DecideIn,
    DecisionOut,
    HistoryOut,
    LossOut,
    ObjectionIn,
    ObjectionOut,
    OverrideIn,
    RecheckIn,
    WithdrawIn,
    WithdrawOut,
)
from services.recruitment.views import application_view, objection_view

router = APIRouter(
    prefix="/api/v1/recruitment", route_class=TransactionalRoute, tags=["applications"]
)

Reader = Annotated[Principal, Depends(require(*policy.CAMPAIGN_READ))]
Writer = Annotated[Principal, Depends(require(*policy.CAMPAIGN_WRITE))]
Scorer = Annotated[Principal, Depends(require(*policy.SCORES))]
CountyAdmin = Annotated[Principal, Depends(require(*policy.POLITICAL))]
Hirer = Annotated[Principal, Depends(require(*policy.HIRE))]


def _etag(app: Application) -> str:
    return etag_for("application", app.id, app.version)


async def _view(session: Session, who: Principal, app: Application) -> ApplicationOut:
    notice, objections = await applications_service.details(session, app)
    return ApplicationOut.model_validate(application_view(app, who, notice, objections))


async def _for_write(
    session: Session, who: Principal, application_id: int, request: Request
) -> tuple[CampaignContext, Application]:
    """The application's campaign, locked, then the application itself (If-Match checked)."""
    campaign_id = await applications_service.campaign_of(session, application_id, who)
    ctx = await load_campaign(session, who, campaign_id, lock=True)
    app = await applications_service.get_application(session, who, application_id)
    check_if_match(request, _etag(app))
    return ctx, app


async def _fresh(
    session: Session, who: Principal, application_id: int, response: Response
) -> ApplicationOut:
    app = await applications_service.get_application(session, who, application_id)
    set_etag(response, _etag(app))
    return await _view(session, who, app)


@router.get("/applications/{id}", responses=problem_responses())
async def get_application(
    id: PathId, who: Reader, session: Session, response: Response
) -> ApplicationOut:
    """One application: eligibility, standing, results, publicity, hire and objections.
    The ID number is masked unless the role may read it."""
    return await _fresh(session, who, id, response)


@router.get("/applications/{id}/history", responses=problem_responses())
async def get_application_history(id: PathId, who: Reader, session: Session) -> HistoryOut:
    """Every status change, result entry and correction, override, backfill move,
    publicity step and hire of the application, with who, when and why."""
    app = await applications_service.get_application(session, who, id)
    items = await applications_service.history(session, app)
    return HistoryOut.model_validate({"application_id": app.id, "items": items})


@router.post(
    "/applications/{id}/eligibility-override",
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def override_eligibility(
    id: PathId,
    body: OverrideIn,
    request: Request,
    response: Response,
    who: Writer,
    session: Session,
) -> ApplicationOut:
    """A reviewer overrides the automatic eligibility, with the reason recorded (until the
    written test closes)."""
    ctx, app = await _for_write(session, who, id, request)
    await applications_service.override(session, ctx, who, app, body.eligible, body.reason)
    return await _fresh(session, who, id, response)


@router.post(
    "/applications/{id}/medical-recheck",
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def request_medical_recheck(
    id: PathId,
    request: Request,
    response: Response,
    who: Scorer,
    session: Session,
    body: RecheckIn | None = None,
) -> ApplicationOut:
    """The one medical re-examination, requested after a failed first examination while
    the medical stage is open (or owed); its result is then posted like any other."""
    ctx, app = await _for_write(session, who, id, request)
    await results_service.request_recheck(session, ctx, who, app.id, body.reason if body else None)
    return await _fresh(session, who, id, response)


@router.post(
    "/applications/{id}/withdraw",
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def withdraw_application(
    id: PathId, request: Request, who: Writer, session: Session, body: WithdrawIn | None = None
) -> WithdrawOut:
    """The applicant withdraws; a place given up is backfilled when the policy allows."""
    ctx, app = await _for_write(session, who, id, request)
    loss = await applications_service.withdraw(
        session, ctx, who, app, (body or WithdrawIn()).reason
    )
    return WithdrawOut(
        application_id=app.id,
        status="withdrawn",
        loss=LossOut.model_validate(loss.as_dict()) if loss else None,
    )


@router.post(
    "/applications/{id}/objections",
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def raise_objection(
    id: PathId, body: ObjectionIn, request: Request, who: CountyAdmin, session: Session
) -> ObjectionOut:
    """An objection against a candidate under a publicity notice."""
    ctx, app = await _for_write(session, who, id, request)
    objection = await publicity_service.raise_objection(
        session, ctx, who, app, body.text, body.objector
    )
    return ObjectionOut.model_validate(objection_view(objection))


@router.post(
    "/applications/{id}/objections/{oid}/decide",
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def decide_objection(
    id: PathId, oid: PathId, body: DecideIn, request: Request, who: CountyAdmin, session: Session
) -> DecisionOut:
    """Decide an objection; an upheld one removes the candidate and backfills the place
    when the policy allows."""
    ctx, app = await _for_write(session, who, id, request)
    objection = await publicity_service.get_objection(session, app, oid)
    loss = await publicity_service.decide(
        session, ctx, who, app, objection, body.is_upheld, body.why
    )
    objection = await publicity_service.get_objection(session, app, oid)
    return DecisionOut(
        objection=ObjectionOut.model_validate(objection_view(objection)),
        loss=LossOut.model_validate(loss.as_dict()) if loss else None,
    )


@router.post(
    "/applications/{id}/redeliver",
    status_code=202,
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def redeliver_hire(
    id: PathId,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    who: Hirer,
    session: Session,
) -> ApplicationOut:
    """Send a hire the roster refused once more, after the cause has been fixed."""
    ctx, app = await _for_write(session, who, id, request)
    await hire_service.redeliver(session, ctx, who, app)
    relay = request.app.state.relay
    if relay is not None:
        background.add_task(relay.wake)
    return await _fresh(session, who, id, response)
