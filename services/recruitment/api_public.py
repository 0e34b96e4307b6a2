"""Open announcements and online registration, without a token (the gateway rate-limits
anonymous POSTs per address). Only campaigns whose registration is open are shown or
take applications; ID numbers are never echoed unmasked."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from kernel.errors import NotFound, problem_responses
from kernel.pagination import Page, PageParams, keyset, page_of, page_params
from kernel.routing import Session, TransactionalRoute
from kernel.schemas import PathId
from services.common.resident_id import mask
from services.recruitment import applications_service, clock
from services.recruitment.campaign_state import CampaignContext, load_campaign
from services.recruitment.errors import CampaignNotFound, ValidationProblem
from services.recruitment.models import Campaign, CampaignStage
from services.recruitment.schemas import AnnouncementOut, ApplicationIn, PublicApplicationOut
from services.recruitment.stages import Stage, StageState

router = APIRouter(prefix="/api/v1/recruitment", route_class=TransactionalRoute, tags=["public"])

PUBLIC = {"x-public": True}
Paging = Annotated[PageParams, Depends(page_params)]


class AnnouncementNotFound(NotFound):
    code, title = "announcement_not_found", "No open announcement with this id"


def _announcement(c: Campaign) -> dict[str, Any]:
    rules = c.rules
    return {
        "id": c.id,
        "region": c.region,
        "title": c.title,
        "description": c.description,
        "registration_opens": c.registration_opens,
        "registration_closes": c.registration_closes,
        "posts": [
            {
                "post": p.post,
                "post_category": p.post_category,
                "places": p.places,
                "conditions": {
                    **rules["posts"][p.post].get("eligibility", {}),
                    "entry_ratio": rules["posts"][p.post].get("entry_ratio"),
                    "written_pass_line": rules["posts"][p.post].get("written_pass_line"),
                    "interview_pass_line": rules["posts"][p.post].get("interview_pass_line"),
                },
            }
            for p in c.posts
        ],
        "scoring": {
            "weights": rules.get("weights"),
            "bonus": rules.get("bonus", []),
            "tie_break": rules.get("tie_break"),
            "publicity_working_days": rules.get("publicity_working_days"),
        },
    }


def _open_now() -> Any:
    now = clock.now()
    S = CampaignStage
    registration_open = (
        select(S.campaign_id)
        .where(S.stage == Stage.REGISTRATION.value, S.state == StageState.OPEN.value)
        .scalar_subquery()
    )
    return (
        Campaign.status == "active",
        Campaign.registration_opens <= now,
        Campaign.registration_closes > now,
        Campaign.id.in_(registration_open),
    )


async def _open_campaign(session: Session, campaign_id: int) -> CampaignContext:
    try:
        ctx = await load_campaign(session, None, campaign_id)
    except CampaignNotFound:
        raise AnnouncementNotFound(f"announcement {campaign_id} not found") from None
    if not ctx.registration_accepting(clock.now()) or ctx.campaign.status != "active":
        raise AnnouncementNotFound(f"announcement {campaign_id} is not open for registration")
    return ctx


@router.get("/public/announcements", openapi_extra=PUBLIC)
async def list_announcements(session: Session, params: Paging) -> Page[AnnouncementOut]:
    """Campaigns whose registration is open now, with posts, conditions and scoring."""
    stmt = select(Campaign).options(selectinload(Campaign.posts)).where(*_open_now())
    rows = list((await session.execute(keyset(stmt, Campaign.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda c: c.id)
    return Page[AnnouncementOut](
        items=[AnnouncementOut.model_validate(_announcement(c)) for c in rows],
        next_cursor=cursor,
    )


@router.get("/public/announcements/{id}", openapi_extra=PUBLIC, responses=problem_responses(404))
async def get_announcement(id: PathId, session: Session) -> AnnouncementOut:
    ctx = await _open_campaign(session, id)
    return AnnouncementOut.model_validate(_announcement(ctx.campaign))


@router.post(
    "/public/announcements/{id}/applications",
    status_code=201,
    openapi_extra=PUBLIC,
    responses=problem_responses(404, 409, 429),
)
async def apply_online(
    id: PathId, body: ApplicationIn, session: Session, response: Response
) -> PublicApplicationOut:
    """An applicant registers online: the same checks as a recruiter's entry, a phone
    number to be reached at, and the answer shows the ID number masked."""
    if body.phone is None:
        raise ValidationProblem("online applicants give a phone number", code="phone_required")
    ctx = await _open_campaign(session, id)
    ctx = await load_campaign(session, None, ctx.id, lock=True)
    app_id = await applications_service.register(
        session, ctx, body, source="online", actor="online-applicant"
    )
    app = await applications_service.get_application(session, None, app_id)
    response.headers["Cache-Control"] = "no-store"
    return PublicApplicationOut(
        application_id=app.id,
        campaign_id=app.campaign_id,
        post=app.post,
        name=app.name,
        id_number=mask(app.id_number),
        eligibility=app.eligibility,
        eligibility_reasons=app.eligibility_reasons,
    )
