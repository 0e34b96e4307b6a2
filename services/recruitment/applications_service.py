"""Applications: registration with automatic eligibility (one by one, in bulk from a
table, or online by the applicant), the reviewer's override, withdrawal, and the
history of each application."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.pagination import PageParams, keyset, page_of
from services.common import resident_id
from services.recruitment import bulk, clock
from services.recruitment.campaign_state import CampaignContext
from services.recruitment.eligibility import NEGATIVE_LIST, ApplicantFacts, assess
from services.recruitment.errors import (
    ApplicationNotFound,
    DuplicateApplication,
    InvalidTransition,
    RegistrationNotOpen,
    ValidationProblem,
)
from services.recruitment.events import Event, record
from services.recruitment.models import (
    Application,
    ApplicationEvent,
    Campaign,
    Objection,
    PublicityNotice,
    ScoreEntry,
    table_of,
)
from services.recruitment.placement import Loss, lose
from services.recruitment.rules import LossCause
from services.recruitment.schemas import ApplicationIn
from services.recruitment.stages import Stage
from services.recruitment.tabular import parse_bool

A = table_of(Application)
# what the stage closes, score imports and lists filter, join and sort on: analysed
# after a registration that outdated the statistics
PLANNED_COLUMNS = ("id", "campaign_id", "status", "post")


@dataclass(frozen=True, slots=True)
class Registered:
    id: int
    values: dict[str, Any]


def _categories(body: ApplicationIn) -> frozenset[str]:
    cats = set(body.categories)
    if body.veteran:
        cats.add("veteran")
    if body.special_skill:
        cats.add("special_skill")
    return frozenset(cats)


def build(
    ctx: CampaignContext, body: ApplicationIn, *, source: str, actor: str, now: datetime
) -> dict[str, Any]:
    """The new application's columns; raises 422 `invalid_id_number` or `unknown_post`."""
    if body.post not in ctx.posts:
        raise ValidationProblem(
            f"the campaign has no post {body.post!r}; posts: {', '.join(ctx.posts)}",
            code="unknown_post",
        )
    try:
        facts = ApplicantFacts(
            id_number=body.id_number,
            education=body.education,
            veteran=body.veteran,
            special_skill=body.special_skill,
            height_cm=body.height_cm,
            vision=body.vision,
            hukou_region=body.hukou_region,
            declarations=body.declarations,
        )
    except resident_id.InvalidIdNumber as exc:
        raise ValidationProblem(
            f"id_number is not a valid resident ID number: {exc.reason}", code="invalid_id_number"
        ) from exc
    verdict = assess(facts, ctx.rules.post(body.post), ctx.reference_date)
    bonus = ctx.rules.bonus_for(body.post, _categories(body))
    person = facts.resident
    return {
        "campaign_id": ctx.id,
        "region": ctx.campaign.region,
        "post": body.post,
        "id_number": person.number,
        "name": body.name,
        "sex": person.sex.value,
        "birth_date": person.birth_date,
        "phone": body.phone,
        "education": body.education.value,
        "veteran": body.veteran,
        "special_skill": body.special_skill,
        "categories": sorted(set(body.categories)),
        "height_cm": body.height_cm,
        "vision": body.vision,
        "hukou_region": body.hukou_region,
        "declarations": dict(body.declarations),
        "source": source,
        "registered_by": actor,
        "registered_at": now,
        "eligibility": "eligible" if verdict.eligible else "ineligible",
        "eligibility_reasons": [{"code": r.code, "message": r.message} for r in verdict.reasons],
        "eligibility_override": None,
        "status": "applied" if verdict.eligible else "out",
        "reason": None if verdict.eligible else "ineligible",
        "bonus_written": bonus.written,
        "bonus_composite": bonus.composite,
        "priority": bonus.priority,
        "written_absent": False,
        "interview_absent": False,
        "fitness_absent": False,
        "medical_recheck_requested": False,
        "called": False,
        "owed_gates": [],
        "version": 1,
    }


def _registered_event(values: dict[str, Any], app_id: int, now: datetime) -> Event:
    if values["eligibility"] == "eligible":
        reason = "registered; eligible"
    else:
        reason = "registered; ineligible: " + ", ".join(
            r["code"] for r in values["eligibility_reasons"]
        )
    return Event(
        app_id,
        values["campaign_id"],
        now,
        values["registered_by"],
        "status",
        stage=Stage.REGISTRATION.value,
        from_status=None,
        to_status=values["status"],
        reason=reason,
        data={"source": values["source"]},
    )


async def register(
    session: AsyncSession, ctx: CampaignContext, body: ApplicationIn, *, source: str, actor: str
) -> int:
    ctx.ensure_active()
    now = clock.now()
    if not ctx.registration_accepting(now):
        raise RegistrationNotOpen(_window_text(ctx))
    values = build(ctx, body, source=source, actor=actor, now=now)
    existing = (
        await session.execute(
            select(A.c.id).where(A.c.campaign_id == ctx.id, A.c.id_number == values["id_number"])
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise DuplicateApplication("this person has already applied to this campaign")
    app_id = int((await session.execute(insert(A).values(**values).returning(A.c.id))).scalar_one())
    await record(session, [_registered_event(values, app_id, now)])
    return app_id


def _window_text(ctx: CampaignContext) -> str:
    c = ctx.campaign
    return (
        "registration is open from "
        f"{c.registration_opens.astimezone(clock.CHINA):%Y-%m-%d %H:%M} to "
        f"{c.registration_closes.astimezone(clock.CHINA):%Y-%m-%d %H:%M} (China time) "
        "while the registration stage is open"
    )


# --- bulk import ----------------------------------------------------------------------------

_IMPORT_COLUMNS = frozenset(
    {
        "id_number",
        "name",
        "post",
        "education",
        "veteran",
        "special_skill",
        "categories",
        "height_cm",
        "vision",
        "hukou_region",
        "phone",
        "negative_list_clear",
        *NEGATIVE_LIST,
    }
)


def _row_body(row: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key in ("id_number", "name", "post", "education", "hukou_region", "phone"):
        if row.get(key):
            body[key] = row[key]
    for key in ("height_cm", "vision"):
        if row.get(key):
            body[key] = row[key]
    for key in ("veteran", "special_skill"):
        value = parse_bool(row.get(key, ""))
        if value is not None:
            body[key] = value
    if row.get("categories"):
        body["categories"] = [c.strip() for c in row["categories"].split(";") if c.strip()]
    declarations: dict[str, bool] = {}
    if parse_bool(row.get("negative_list_clear", "")):
        declarations = dict.fromkeys(NEGATIVE_LIST, False)
    for key in NEGATIVE_LIST:
        value = parse_bool(row.get(key, ""))
        if value is not None:
            declarations[key] = value
    body["declarations"] = declarations
    return body


_JSON_COLUMNS = ("categories", "declarations", "eligibility_reasons", "owed_gates")


async def _insert_applications(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new applications (dicts from `build`, all with the same keys); their ids in
    the same order. PostgreSQL: ids drawn from the sequence in one statement, then one
    COPY (an INSERT ... RETURNING of 100,000 rows spends most of its time building
    parameters in SQLAlchemy); elsewhere an INSERT ... RETURNING."""
    if not bulk.is_postgres(session):
        result = await session.execute(
            insert(A).returning(A.c.id, sort_by_parameter_order=True), rows
        )
        return [int(r[0]) for r in result.all()]
    ids = sorted(
        int(i)
        for i in (
            await session.execute(
                text(
                    "SELECT array_agg(nextval(pg_get_serial_sequence('applications', 'id'))) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": len(rows)},
            )
        ).scalar_one()
    )
    columns = list(rows[0])
    values = itemgetter(*columns)
    await bulk.insert_rows(
        session,
        A,
        ["id", *columns],
        [(i, *values(row)) for i, row in zip(ids, rows, strict=True)],
        json_columns=_JSON_COLUMNS,
    )
    return ids


async def _already_applied(session: AsyncSession, campaign_id: int, numbers: list[str]) -> set[str]:
    """Which of `numbers` have applied to the campaign already. PostgreSQL: one join
    with the numbers as an array (linear whatever the plan: 500-value IN lists under a
    generic plan were a linear search per row, a minute for 100,000 applicants)."""
    if bulk.is_postgres(session):
        conn = await bulk.driver(session)
        rows = await conn.fetch(
            "SELECT a.id_number FROM applications AS a "
            "JOIN unnest($2::text[]) AS n(id_number) ON a.id_number = n.id_number "
            "WHERE a.campaign_id = $1",
            campaign_id,
            numbers,
        )
        return {r[0] for r in rows}
    existing: set[str] = set()
    for start in range(0, len(numbers), 500):
        existing.update(
            (
                await session.execute(
                    select(A.c.id_number).where(
                        A.c.campaign_id == campaign_id,
                        A.c.id_number.in_(numbers[start : start + 500]),
                    )
                )
            ).scalars()
        )
    return existing


async def import_rows(
    session: AsyncSession, ctx: CampaignContext, rows: Sequence[dict[str, str]], actor: str
) -> dict[str, Any]:
    """Valid rows land, bad rows are reported with their row number and code; a row is
    never half-written. Columns: the fields of an application, categories separated by
    ";", each negative-list declaration as a column, or negative_list_clear = yes."""
    ctx.ensure_active()
    now = clock.now()
    if not ctx.registration_accepting(now):
        raise RegistrationNotOpen(_window_text(ctx))
    if not rows:
        raise ValidationProblem("the file has no applications", code="empty_file")
    unknown = sorted(set(rows[0]) - _IMPORT_COLUMNS)
    if unknown:
        raise ValidationProblem(f"unknown columns: {', '.join(unknown)}", code="unknown_column")
    errors: list[dict[str, Any]] = []
    accepted: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows, start=1):
        try:
            body = ApplicationIn.model_validate(_row_body(row))
            values = build(ctx, body, source="import", actor=actor, now=now)
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first.get("loc", ()))
                detail = f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
            else:
                detail = str(exc)
            errors.append({"row": i, "code": "invalid_row", "detail": detail})
            continue
        except ValidationProblem as exc:
            errors.append({"row": i, "code": exc.code, "detail": exc.detail})
            continue
        number = values["id_number"]
        if number in seen:
            errors.append(
                {
                    "row": i,
                    "code": "duplicate_application",
                    "detail": f"the same person as row {seen[number]}",
                }
            )
            continue
        seen[number] = i
        accepted.append((i, values))
    rows_before = await bulk.estimated_rows(session, A.name)
    if accepted:
        existing = await _already_applied(session, ctx.id, [v["id_number"] for _, v in accepted])
        fresh = []
        for i, values in accepted:
            if values["id_number"] in existing:
                errors.append(
                    {
                        "row": i,
                        "code": "duplicate_application",
                        "detail": "this person has already applied to this campaign",
                    }
                )
            else:
                fresh.append(values)
        accepted_values = fresh
    else:
        accepted_values = []
    ids: list[int] = []
    if accepted_values:
        ids = await _insert_applications(session, accepted_values)
        await record(
            session,
            [_registered_event(v, i, now) for v, i in zip(accepted_values, ids, strict=True)],
        )
        if rows_before is not None and bulk.statistics_outdated(len(ids), rows_before):
            # the planner would take the campaign for as small as the table was: the
            # score imports and stage closes that follow ran 15-25% slower
            await bulk.refresh_statistics(session, A.name, PLANNED_COLUMNS)
    errors.sort(key=lambda e: e["row"])
    eligible = sum(v["eligibility"] == "eligible" for v in accepted_values)
    return {
        "received": len(rows),
        "created": len(ids),
        "eligible": eligible,
        "ineligible": len(ids) - eligible,
        "application_ids": ids,
        "errors": errors,
    }


# --- single applications --------------------------------------------------------------------


async def get_application(
    session: AsyncSession, principal: Principal | None, application_id: int
) -> Application:
    app = (
        await session.execute(
            select(Application)
            .where(Application.id == application_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if app is None or (principal is not None and not principal.sees(app.region)):
        raise ApplicationNotFound(f"application {application_id} not found")
    return app


async def campaign_of(session: AsyncSession, application_id: int, principal: Principal) -> int:
    row = (
        await session.execute(select(A.c.campaign_id, A.c.region).where(A.c.id == application_id))
    ).one_or_none()
    if row is None or not principal.sees(row.region):
        raise ApplicationNotFound(f"application {application_id} not found")
    return int(row.campaign_id)


async def override(
    session: AsyncSession,
    ctx: CampaignContext,
    principal: Principal,
    app: Application,
    eligible: bool,
    reason: str,
) -> None:
    """A reviewer's decision on eligibility, with the reason recorded; possible until the
    written test closes."""
    ctx.ensure_active()
    if not (ctx.is_open(Stage.REGISTRATION) or ctx.is_open(Stage.WRITTEN)):
        raise InvalidTransition(
            "eligibility can be overridden until the written test closes", code="stage_not_open"
        )
    if eligible:
        expected, target, target_reason = "out", "applied", None
        if app.status != "out" or app.reason != "ineligible":
            raise InvalidTransition(f"the application is {app.status}, not out as ineligible")
    else:
        expected, target, target_reason = "applied", "out", "ineligible"
        if app.status != "applied":
            raise InvalidTransition(f"the application is {app.status}, not in the running")
    changed = await session.execute(
        update(A)
        .where(A.c.id == app.id, A.c.status == expected)
        .values(
            status=target,
            reason=target_reason,
            eligibility="eligible" if eligible else "ineligible",
            eligibility_override=reason,
            version=A.c.version + 1,
        )
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the application changed at the same time; try again")
    await record(
        session,
        [
            Event(
                app.id,
                ctx.id,
                clock.now(),
                principal.sub,
                "override",
                stage=Stage.REGISTRATION.value,
                from_status=expected,
                to_status=target,
                reason=reason,
                data={"eligible": eligible, "automatic": app.eligibility_reasons},
            )
        ],
    )


async def withdraw(
    session: AsyncSession,
    ctx: CampaignContext,
    principal: Principal,
    app: Application,
    reason: str,
) -> Loss | None:
    """The applicant withdraws; a place given up is backfilled when the policy allows."""
    ctx.ensure_active()
    if app.status in ("place", "reserve"):
        return await lose(session, ctx, app.id, LossCause.WITHDRAWAL, principal.sub, reason)
    if app.status not in ("applied", "out") or (app.status == "out" and app.rank is not None):
        raise InvalidTransition(f"the application is {app.status} and cannot be withdrawn")
    changed = await session.execute(
        update(A)
        .where(A.c.id == app.id, A.c.status == app.status)
        .values(status="withdrawn", reason="withdrawn", version=A.c.version + 1)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition("the application changed at the same time; try again")
    await record(
        session,
        [
            Event(
                app.id,
                ctx.id,
                clock.now(),
                principal.sub,
                "status",
                from_status=app.status,
                to_status="withdrawn",
                reason=reason,
                data={"cause": "withdrawal"},
            )
        ],
    )
    return None


async def list_applications(
    session: AsyncSession,
    ctx: CampaignContext,
    params: PageParams,
    *,
    post: str | None,
    status: str | None,
    eligibility: str | None,
) -> tuple[list[Application], str | None]:
    stmt = select(Application).where(Application.campaign_id == ctx.id)
    if post:
        stmt = stmt.where(Application.post == post)
    if status:
        stmt = stmt.where(Application.status == status)
    if eligibility:
        stmt = stmt.where(Application.eligibility == eligibility)
    rows = list((await session.execute(keyset(stmt, Application.id, params))).scalars())
    return page_of(rows, params, key=lambda a: a.id)


async def history(session: AsyncSession, app: Application) -> list[dict[str, Any]]:
    E = table_of(ApplicationEvent)
    S = table_of(ScoreEntry)
    OBJ = table_of(Objection)
    items: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for e in (
        await session.execute(select(E).where(E.c.application_id == app.id).order_by(E.c.id))
    ).all():
        items.append(
            (
                e.at,
                0,
                e.id,
                {
                    "at": e.at,
                    "actor": e.actor,
                    "kind": e.kind,
                    "stage": e.stage,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "reason": e.reason,
                    "data": e.data,
                },
            )
        )
    for s in (
        await session.execute(select(S).where(S.c.application_id == app.id).order_by(S.c.id))
    ).all():
        items.append(
            (
                s.entered_at,
                1,
                s.id,
                {
                    "at": s.entered_at,
                    "actor": s.entered_by,
                    "kind": "score" if s.kind == "result" else s.kind,
                    "stage": s.stage,
                    "from_status": None,
                    "to_status": None,
                    "reason": s.reason,
                    "score": s.score,
                    "passed": s.passed,
                    "absent": s.absent,
                    "data": s.detail,
                },
            )
        )
    for o in (
        await session.execute(select(OBJ).where(OBJ.c.application_id == app.id).order_by(OBJ.c.id))
    ).all():
        items.append(
            (
                o.raised_at,
                2,
                o.id,
                {
                    "at": o.raised_at,
                    "actor": o.raised_by,
                    "kind": "objection",
                    "stage": Stage.PUBLICITY.value,
                    "from_status": None,
                    "to_status": None,
                    "reason": o.text,
                    "data": {"objection_id": o.id, "objector": o.objector},
                },
            )
        )
        if o.decided_at is not None:
            items.append(
                (
                    o.decided_at,
                    2,
                    o.id,
                    {
                        "at": o.decided_at,
                        "actor": o.decided_by,
                        "kind": "objection_decided",
                        "stage": Stage.PUBLICITY.value,
                        "from_status": None,
                        "to_status": None,
                        "reason": o.decision_reason,
                        "data": {"objection_id": o.id, "status": o.status},
                    },
                )
            )
    items.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in items]


async def details(
    session: AsyncSession, app: Application
) -> tuple[PublicityNotice | None, list[Objection]]:
    notice = (
        await session.get(PublicityNotice, app.publicity_notice_id)
        if app.publicity_notice_id
        else None
    )
    objections = list(
        (
            await session.execute(
                select(Objection).where(Objection.application_id == app.id).order_by(Objection.id)
            )
        ).scalars()
    )
    return notice, objections


async def campaign_row(session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    assert campaign is not None
    return campaign
