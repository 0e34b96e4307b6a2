"""Campaigns: creation from an approved plan, the stage machine and the ranked lists.

Closing a stage is refused unless it is open and every candidate in it has a result or
a recorded absence; the close itself is a compare-and-set on the stage row (under the
campaign lock), so two closes never both succeed. What a close decides:

- registration: nothing more (ineligible applicants were set out when they applied);
- written: per post, the top ⌈places × ratio⌉ by written + bonus enter the interview,
  everyone tied at the boundary too (`ranking.written_cut`);
- interview (or scored fitness): per post, the composite, the rank with the tie-break
  rules, and who holds a place or is a reserve (`ranking.rank_post`);
- fitness (pass/fail), medical, political: every holder of a place has a result; first
  medical failures without a re-examination request become final (the place is lost and
  backfilled);
- publicity: every notice has run its course and every objection is decided.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal, Role
from kernel.errors import Conflict
from kernel.pagination import PageParams, encode_cursor
from services.recruitment import bulk, clock, plans_service
from services.recruitment.campaign_state import (
    CampaignContext,
    effective_states,
    load_campaign,
    move_stage,
)
from services.recruitment.errors import (
    CampaignExists,
    PlanNotApproved,
    RankingNotAvailable,
    ResultsMissing,
    RoleNotAllowed,
    StageNotOpen,
    ValidationProblem,
)
from services.recruitment.events import Event, record, record_many
from services.recruitment.models import (
    Application,
    Campaign,
    CampaignPost,
    CampaignStage,
    Objection,
    PublicityNotice,
    table_of,
)
from services.recruitment.ranking import (
    RankingCandidate,
    Status,
    WrittenCandidate,
    rank_post,
    written_cut,
)
from services.recruitment.results_service import finalise_medical_failures
from services.recruitment.schemas import CampaignIn
from services.recruitment.stages import (
    STAGE_ORDER,
    MedicalOutcome,
    Stage,
    StageState,
    medical_outcome,
)

A = table_of(Application)
APPLIED = "applied"


# --- creation ------------------------------------------------------------------------------


async def create_campaign(session: AsyncSession, principal: Principal, body: CampaignIn) -> int:
    plan = await plans_service.get_plan(session, principal, body.plan_id)
    if plan.status != "approved":
        raise PlanNotApproved(f"plan {plan.id} is {plan.status}; a campaign needs an approved plan")
    if (
        await session.execute(select(Campaign.id).where(Campaign.plan_id == plan.id))
    ).scalar_one_or_none() is not None:
        raise CampaignExists(f"plan {plan.id} already has a campaign")
    plan_posts = {p.post for p in plan.positions}
    rule_posts = set(body.rules.posts)
    if plan_posts != rule_posts:
        missing = sorted(plan_posts - rule_posts)
        extra = sorted(rule_posts - plan_posts)
        raise ValidationProblem(
            "rules.posts must name exactly the plan's posts"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not in the plan: {', '.join(extra)}" if extra else ""),
            code="rules_posts_mismatch",
        )
    opens = body.registration_opens
    closes = body.registration_closes
    opens_at = opens if isinstance(opens, datetime) else clock.start_of_day(opens)
    closes_at = closes if isinstance(closes, datetime) else clock.end_of_day(closes)
    if closes_at <= opens_at:
        raise ValidationProblem(
            "registration_closes must be after registration_opens", code="invalid_window"
        )
    now = clock.now()
    campaign = Campaign(
        plan_id=plan.id,
        region=plan.region,
        title=body.title or f"{plan.year}年辅警招聘 {plan.region}",
        description=body.description,
        registration_opens=opens_at,
        registration_closes=closes_at,
        rules=body.rules.model_dump(mode="json"),
        status="active",
        created_by=principal.sub,
        created_at=now,
        version=1,
        posts=[
            CampaignPost(
                post=p.post, post_category=p.post_category, places=p.headcount, unit=p.unit
            )
            for p in plan.positions
        ],
        stages=[
            CampaignStage(
                stage=s.value,
                state=(StageState.OPEN if s is Stage.REGISTRATION else StageState.PENDING).value,
                opened_at=now if s is Stage.REGISTRATION else None,
            )
            for s in STAGE_ORDER
        ],
    )
    session.add(campaign)
    await session.flush()
    return campaign.id


# --- reading ------------------------------------------------------------------------------


async def post_counts(session: AsyncSession, campaign_id: int) -> dict[str, dict[str, int]]:
    rows = (
        await session.execute(
            select(A.c.post, A.c.status, A.c.eligibility, func.count())
            .where(A.c.campaign_id == campaign_id)
            .group_by(A.c.post, A.c.status, A.c.eligibility)
        )
    ).all()
    counts: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(
            ("applicants", "eligible", "applied", "place", "reserve", "out", "withdrawn", "hired"),
            0,
        )
    )
    for post, status, eligibility, n in rows:
        c = counts[post]
        c["applicants"] += n
        if eligibility == "eligible":
            c["eligible"] += n
        c[status] += n
    return counts


async def backfill_rounds(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    from services.recruitment.models import ApplicationEvent

    E = table_of(ApplicationEvent)
    rows = (
        await session.execute(
            select(A.c.post, func.count())
            .select_from(E.join(A, A.c.id == E.c.application_id))
            .where(A.c.campaign_id == campaign_id, E.c.kind == "backfill")
            .group_by(A.c.post)
        )
    ).all()
    return {post: int(n) for post, n in rows}


def campaign_view(
    ctx: CampaignContext, counts: dict[str, dict[str, int]], rounds: dict[str, int]
) -> dict[str, Any]:
    c = ctx.campaign
    now = clock.now()
    states = effective_states(ctx, now)
    current = next((s for s in STAGE_ORDER if states[s] is StageState.OPEN), None)
    empty = dict.fromkeys(
        ("applicants", "eligible", "applied", "place", "reserve", "out", "withdrawn", "hired"), 0
    )
    return {
        "id": c.id,
        "plan_id": c.plan_id,
        "region": c.region,
        "title": c.title,
        "description": c.description,
        "registration_opens": c.registration_opens,
        "registration_closes": c.registration_closes,
        "registration_open": c.status == "active"
        and states[Stage.REGISTRATION] is StageState.OPEN
        and c.registration_opens <= now,
        "rules": c.rules,
        "status": c.status,
        "current_stage": current.value if current and c.status == "active" else None,
        "stages": [_stage_view(ctx, s, states[s]) for s in STAGE_ORDER],
        "posts": [
            {
                "post": p.post,
                "post_category": p.post_category,
                "places": p.places,
                "unit": p.unit,
                "entry_k": p.entry_k,
                "entry_boundary": p.entry_boundary,
                "backfill_rounds": rounds.get(p.post, 0),
                "counts": counts.get(p.post, empty),
            }
            for p in ctx.posts.values()
        ],
        "created_by": c.created_by,
        "created_at": c.created_at,
        "version": c.version,
    }


def campaign_summary(c: Campaign) -> dict[str, Any]:
    """A list row: the campaign with its current stage (stages loaded)."""
    states = {Stage(s.stage): StageState(s.state) for s in c.stages}
    now = clock.now()
    if (
        c.status == "active"
        and states[Stage.REGISTRATION] is StageState.OPEN
        and now >= c.registration_closes
    ):
        states[Stage.REGISTRATION], states[Stage.WRITTEN] = StageState.CLOSED, StageState.OPEN
    current = next((s for s in STAGE_ORDER if states[s] is StageState.OPEN), None)
    return {
        "id": c.id,
        "plan_id": c.plan_id,
        "region": c.region,
        "title": c.title,
        "status": c.status,
        "current_stage": current.value if current and c.status == "active" else None,
        "registration_opens": c.registration_opens,
        "registration_closes": c.registration_closes,
    }


def _stage_view(ctx: CampaignContext, stage: Stage, state: StageState) -> dict[str, Any]:
    row = ctx.stage_rows[stage]
    if state is ctx.states[stage]:
        return {
            "stage": stage.value,
            "state": state.value,
            "opened_at": row.opened_at,
            "closed_at": row.closed_at,
            "closed_by": row.closed_by,
        }
    # the registration window ended and nobody has written since (see effective_states)
    deadline = ctx.campaign.registration_closes
    return {
        "stage": stage.value,
        "state": state.value,
        "opened_at": row.opened_at if stage is Stage.REGISTRATION else deadline,
        "closed_at": deadline if stage is Stage.REGISTRATION else None,
        "closed_by": "system" if stage is Stage.REGISTRATION else None,
    }


async def ranking(
    session: AsyncSession, ctx: CampaignContext, post: str | None, params: PageParams
) -> dict[str, Any]:
    if not ctx.ranked:
        raise RankingNotAvailable(
            f"the ranking is computed when the {ctx.ranking_stage.value} stage closes"
        )
    if post is None:
        if len(ctx.posts) != 1:
            raise ValidationProblem(
                "this campaign has several posts; give ?post=", code="post_required"
            )
        post = next(iter(ctx.posts))
    if post not in ctx.posts:
        raise ValidationProblem(f"the campaign has no post {post!r}", code="unknown_post")
    rows = (
        await session.execute(
            select(
                A.c.id,
                A.c.name,
                A.c.written,
                A.c.bonus_written,
                A.c.bonus_composite,
                A.c.interview,
                A.c.fitness_score,
                A.c.composite,
                A.c.rank,
                A.c.status,
                A.c.reason,
            ).where(A.c.campaign_id == ctx.id, A.c.post == post)
        )
    ).all()

    def key(r: Any) -> tuple[Any, ...]:
        written_total = None if r.written is None else r.written + r.bonus_written
        return (
            r.rank is None,
            r.rank or 0,
            r.composite is None,
            -(r.composite or 0),
            written_total is None,
            -(written_total or 0),
            r.id,
        )

    ordered = sorted(rows, key=key)
    start = 0
    if params.cursor:
        position = params.after()
        if not isinstance(position, int) or position < 0:
            raise ValidationProblem("the cursor is not one this API issued", code="invalid_cursor")
        start = position
    page = ordered[start : start + params.limit]
    following = start + params.limit
    fitness_scored = ctx.fitness_scored
    return {
        "campaign_id": ctx.id,
        "post": post,
        "places": ctx.posts[post].places,
        "items": [
            {
                "application_id": r.id,
                "name": r.name,
                "written": r.written,
                "bonus": r.bonus_written + r.bonus_composite,
                "interview": r.interview,
                "fitness": r.fitness_score if fitness_scored else None,
                "composite": r.composite,
                "rank": r.rank,
                "status": r.status if r.status != APPLIED else Status.OUT.value,
                "reason": r.reason,
            }
            for r in page
        ],
        "next_cursor": encode_cursor(following) if following < len(ordered) else None,
    }


# --- closing stages ------------------------------------------------------------------------


COUNTY_ONLY = frozenset({Stage.POLITICAL, Stage.PUBLICITY})


async def close_stage(
    session: AsyncSession, principal: Principal, campaign_id: int, stage: Stage
) -> dict[str, Any]:
    ctx = await load_campaign(session, principal, campaign_id, lock=True)
    ctx.ensure_active()
    if stage in COUNTY_ONLY and not principal.has(Role.COUNTY_ADMIN):
        raise RoleNotAllowed(f"closing the {stage.value} stage is for the county administrator")
    if not ctx.is_open(stage):
        raise StageNotOpen(f"the {stage.value} stage is {ctx.state(stage).value}, not open")
    actor = principal.sub
    now = clock.now()
    summary: dict[str, Any]
    if stage is Stage.REGISTRATION:
        await move_stage(session, ctx, stage, actor, now)
        summary = {}
    elif stage is Stage.WRITTEN:
        with bulk.gc_paused():
            summary = await _close_written(session, ctx, actor)
    elif stage is ctx.ranking_stage:
        with bulk.gc_paused():
            summary = await _close_ranking(session, ctx, actor, stage)
    elif stage is Stage.INTERVIEW:  # fitness is scored: the interview only filters absentees
        summary = await _close_interview_before_fitness(session, ctx, actor)
    elif stage is Stage.PUBLICITY:
        summary = await _close_publicity(session, ctx, actor)
    else:
        summary = await _close_gate(session, ctx, actor, stage)
    following = next((s for s in STAGE_ORDER if ctx.states[s] is StageState.OPEN), None)
    return {
        "campaign_id": ctx.id,
        "stage": stage.value,
        "state": "closed",
        "next_stage": following.value if following else None,
        "summary": summary,
    }


def _missing(ids: list[int], stage: Stage) -> None:
    if ids:
        raise ResultsMissing(
            f"{len(ids)} candidate(s) of the {stage.value} stage have neither a result nor a "
            "recorded absence: " + ", ".join(str(i) for i in ids[:20]),
            application_ids=ids[:100],
            missing=len(ids),
        )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


class _Lines:
    """History lines of a stage close, gathered column by column."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.kinds: list[str] = []
        self.froms: list[str | None] = []
        self.tos: list[str | None] = []
        self.reasons: list[str | None] = []

    def add(
        self, app_id: int, kind: str, from_: str | None, to: str | None, reason: str | None
    ) -> None:
        self.ids.append(app_id)
        self.kinds.append(kind)
        self.froms.append(from_)
        self.tos.append(to)
        self.reasons.append(reason)

    def extend(
        self,
        app_ids: list[int],
        kind: str,
        from_: str | None,
        to: str | Sequence[str | None] | None,
        reason: str | Sequence[str | None] | None,
    ) -> None:
        """Many lines at once: `to` and `reason` given once for all or per line."""
        n = len(app_ids)
        self.ids += app_ids
        self.kinds += [kind] * n
        self.froms += [from_] * n
        self.tos += [to] * n if to is None or isinstance(to, str) else to
        self.reasons += [reason] * n if reason is None or isinstance(reason, str) else reason

    async def write(
        self, session: AsyncSession, ctx: CampaignContext, actor: str, stage: Stage, now: datetime
    ) -> None:
        await record_many(
            session,
            campaign_id=ctx.id,
            at=now,
            actor=actor,
            stage=stage.value,
            application_ids=self.ids,
            kinds=_uniform(self.kinds),
            from_statuses=_uniform(self.froms),
            to_statuses=self.tos,
            reasons=self.reasons,
        )


def _uniform(values: list[Any]) -> Any:
    """The single value of a column that is the same on every line, else the list."""
    first = values[0] if values else None
    return first if all(v == first for v in values) else values


async def _close_written(session: AsyncSession, ctx: CampaignContext, actor: str) -> dict[str, Any]:
    rows = await bulk.fetch(
        session,
        select(A.c.id, A.c.post, A.c.written, A.c.written_absent, A.c.bonus_written).where(
            A.c.campaign_id == ctx.id, A.c.status == APPLIED
        ),
    )
    _missing([r[0] for r in rows if r[2] is None and not r[3]], Stage.WRITTEN)
    now = clock.now()
    await move_stage(session, ctx, Stage.WRITTEN, actor, now)
    by_post: dict[str, list[WrittenCandidate]] = defaultdict(list)
    for app_id, post, written, absent, bonus in rows:
        by_post[post].append(WrittenCandidate(app_id, None if absent else written, bonus))
    out_by_reason: dict[str, list[int]] = defaultdict(list)
    lines = _Lines()
    post_updates: list[tuple[int, int, Decimal | None]] = []
    summary: dict[str, Any] = {}
    for post, cp in ctx.posts.items():
        post_rules = ctx.rules.post(post)
        ratio = ctx.rules.entry_ratio_for(post, cp.places)
        cut = written_cut(
            by_post.get(post, ()),
            cp.places,
            ratio,
            post_rules.written_pass_line,
            bonus_counts_toward_pass_line=ctx.rules.bonus_counts_toward_pass_line,
        )
        advance_note = (
            f"enters the interview: {cut.k} = ⌈{cp.places} × {ratio}⌉ by written + bonus, "
            f"boundary {_text(cut.boundary)}"
        )
        for app_id, reason in cut.out.items():
            out_by_reason[reason].append(int(app_id))
            lines.add(int(app_id), "status", APPLIED, "out", reason)
        lines.extend([int(i) for i in cut.advancing], "advanced", None, None, advance_note)
        post_updates.append((cp.id, cut.k, cut.boundary))
        summary[post] = {
            "k": cut.k,
            "ratio": f"{ratio}",
            "boundary": _text(cut.boundary),
            "advancing": len(cut.advancing),
            "ties_at_boundary": max(0, len(cut.advancing) - cut.k),
            "out": len(cut.out),
        }
    for reason, ids in out_by_reason.items():
        await bulk.update_ids(
            session, A, ids, {"status": "out", "reason": reason}, where=A.c.status == APPLIED
        )
    await bulk.update_rows(
        session,
        table_of(CampaignPost),
        (("entry_k", "integer"), ("entry_boundary", "numeric")),
        post_updates,
        bump_version=False,
    )
    await lines.write(session, ctx, actor, Stage.WRITTEN, now)
    return summary


async def _close_interview_before_fitness(
    session: AsyncSession, ctx: CampaignContext, actor: str
) -> dict[str, Any]:
    rows = (
        await session.execute(
            select(A.c.id, A.c.interview, A.c.interview_absent).where(
                A.c.campaign_id == ctx.id, A.c.status == APPLIED
            )
        )
    ).all()
    _missing(
        [r.id for r in rows if r.interview is None and not r.interview_absent], Stage.INTERVIEW
    )
    now = clock.now()
    await move_stage(session, ctx, Stage.INTERVIEW, actor, now)
    absent = [r.id for r in rows if r.interview_absent]
    await bulk.update_ids(
        session,
        A,
        absent,
        {"status": "out", "reason": "absent_interview"},
        where=A.c.status == APPLIED,
    )
    await record(
        session,
        [
            Event(i, ctx.id, now, actor, "status", "interview", APPLIED, "out", "absent_interview")
            for i in absent
        ],
    )
    return {"absent": len(absent), "to_fitness": len(rows) - len(absent)}


async def _close_ranking(
    session: AsyncSession, ctx: CampaignContext, actor: str, stage: Stage
) -> dict[str, Any]:
    tie_break = set(ctx.rules.tie_break)
    scored = ctx.fitness_scored
    columns = [
        A.c.id,
        A.c.post,
        A.c.written,
        A.c.written_absent,
        A.c.interview,
        A.c.interview_absent,
        A.c.bonus_written,
        A.c.bonus_composite,
    ]
    # only what this campaign's composite and tie-break read (100,000 rows)
    optional = [
        (A.c.fitness_score, scored),
        (A.c.fitness_absent, scored),
        (A.c.priority, "priority" in tie_break),
        (A.c.registered_at, "registration" in tie_break),
    ]
    columns += [c for c, wanted in optional if wanted]
    rows = await bulk.fetch(
        session, select(*columns).where(A.c.campaign_id == ctx.id, A.c.status == APPLIED)
    )
    at_fitness = 8
    at_priority = 8 + 2 * scored
    at_registered = at_priority + ("priority" in tie_break)
    if stage is Stage.INTERVIEW:
        missing = [r[0] for r in rows if r[4] is None and not r[5]]
    else:
        missing = [r[0] for r in rows if r[at_fitness] is None and not r[at_fitness + 1]]
    _missing(missing, stage)
    now = clock.now()
    await move_stage(session, ctx, stage, actor, now)
    by_post: dict[str, list[RankingCandidate]] = defaultdict(list)
    for r in rows:
        by_post[r[1]].append(
            RankingCandidate(
                r[0],
                None if r[3] else r[2],
                None if r[5] else r[4],
                (None if r[at_fitness + 1] else r[at_fitness]) if scored else None,
                r[6],
                r[7],
                bool(r[at_priority]) if "priority" in tie_break else False,
                r[at_registered] if "registration" in tie_break else None,
            )
        )
    # column by column: id, status, reason, composite, rank, history note (100,000 rows)
    ids: list[int] = []
    statuses: list[str] = []
    reasons: list[str | None] = []
    composites: list[Decimal | None] = []
    ranks: list[int | None] = []
    notes: list[str | None] = []
    summary: dict[str, Any] = {}
    place, reserve = Status.PLACE, Status.RESERVE
    for post, cp in ctx.posts.items():
        entries = rank_post(by_post.get(post, ()), cp.places, ctx.rules, post)
        post_statuses = [
            "place" if e.status is place else "reserve" if e.status is reserve else e.status.value
            for e in entries
        ]
        ids += [int(e.application_id) for e in entries]
        statuses += post_statuses
        reasons += [e.reason for e in entries]
        composites += [e.composite for e in entries]
        ranks += [e.rank for e in entries]
        notes += [
            f"rank {e.rank}, composite {_text(e.composite)}"
            if e.rank is not None
            else (e.reason or "out")
            for e in entries
        ]
        summary[post] = {"places": cp.places, **Counter(post_statuses)}
    # written in application order (see bulk.update_columns, events.record_many): sorted
    # once here for both
    ids, statuses, reasons, composites, ranks, notes = bulk.in_order(
        ids, statuses, reasons, composites, ranks, notes
    )
    await bulk.update_columns(
        session,
        A,
        ids,
        (
            ("status", "text", statuses),
            ("reason", "text", reasons),
            ("composite", "numeric", composites),
            ("rank", "integer", ranks),
            ("called", "boolean", [status == "place" for status in statuses]),
        ),
    )
    lines = _Lines()
    lines.extend(ids, "status", APPLIED, statuses, notes)
    await lines.write(session, ctx, actor, stage, now)
    return summary


def _gate_missing(stage: Stage, r: Any) -> bool:
    if stage is Stage.FITNESS:
        return r.fitness_passed is None and not r.fitness_absent
    if stage is Stage.POLITICAL:
        return r.political_passed is None
    outcome = medical_outcome(r.medical_first, r.medical_recheck, r.medical_recheck_requested)
    return outcome in (MedicalOutcome.PENDING, MedicalOutcome.RECHECK_PENDING)


async def _close_gate(
    session: AsyncSession, ctx: CampaignContext, actor: str, stage: Stage
) -> dict[str, Any]:
    holders = (
        await session.execute(
            select(
                A.c.id,
                A.c.fitness_passed,
                A.c.fitness_absent,
                A.c.medical_first,
                A.c.medical_recheck,
                A.c.medical_recheck_requested,
                A.c.political_passed,
            ).where(A.c.campaign_id == ctx.id, A.c.status == Status.PLACE.value)
        )
    ).all()
    _missing([r.id for r in holders if _gate_missing(stage, r)], stage)
    await move_stage(session, ctx, stage, actor, clock.now())
    losses = await finalise_medical_failures(session, ctx, actor)
    return {"holders": len(holders), "losses": [loss.as_dict() for loss in losses]}


class ObjectionsPending(Conflict):
    code, title = "objections_pending", "Objections are still undecided"


class PublicityRunning(Conflict):
    code, title = "publicity_running", "A publicity notice is still running"


def cleared_gates(ctx: CampaignContext) -> Any:
    """SQL condition: the application has passed every gate before publicity."""
    conds = [
        A.c.political_passed.is_(True),
        (A.c.medical_first.is_(True)) | (A.c.medical_recheck.is_(True)),
    ]
    if not ctx.fitness_scored:
        conds.append(A.c.fitness_passed.is_(True))
    return conds


async def _close_publicity(
    session: AsyncSession, ctx: CampaignContext, actor: str
) -> dict[str, Any]:
    OBJ = table_of(Objection)
    pending = (
        await session.execute(
            select(func.count()).where(OBJ.c.campaign_id == ctx.id, OBJ.c.status == "pending")
        )
    ).scalar_one()
    if pending:
        raise ObjectionsPending(f"{pending} objection(s) are undecided")
    today: date = clock.today()
    N = table_of(PublicityNotice)
    running = (
        await session.execute(
            select(func.count()).where(N.c.campaign_id == ctx.id, N.c.ends >= today)
        )
    ).scalar_one()
    if running:
        raise PublicityRunning(f"{running} notice(s) have not run their course yet")
    waiting = [
        r.id
        for r in (
            await session.execute(
                select(A.c.id).where(
                    A.c.campaign_id == ctx.id,
                    A.c.status == Status.PLACE.value,
                    A.c.publicity_notice_id.is_(None),
                    *cleared_gates(ctx),
                )
            )
        ).all()
    ]
    if waiting:
        raise ResultsMissing(
            f"{len(waiting)} holder(s) of a place have cleared every gate but have not been "
            "publicised: " + ", ".join(str(i) for i in waiting[:20]),
            application_ids=waiting[:100],
        )
    await move_stage(session, ctx, Stage.PUBLICITY, actor, clock.now())
    losses = await finalise_medical_failures(session, ctx, actor)
    return {"losses": [loss.as_dict() for loss in losses]}


__all__ = [
    "campaign_view",
    "close_stage",
    "create_campaign",
    "load_campaign",
    "post_counts",
    "ranking",
]
