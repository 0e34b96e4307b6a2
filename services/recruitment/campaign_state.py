"""A campaign as the workflows see it: its rules, posts and stage states, loaded once per
request (locked for writes, which serialises every change to one campaign), and the
compare-and-set that moves a stage from one state to the next."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kernel.auth import Principal
from services.recruitment import clock
from services.recruitment.errors import CampaignClosed, CampaignNotFound, StageNotOpen
from services.recruitment.models import Campaign, CampaignPost, CampaignStage, table_of
from services.recruitment.rules import CampaignRules
from services.recruitment.stages import (
    PLACE_GATES,
    STAGE_ORDER,
    Stage,
    StageState,
    next_stage,
    ranking_stage,
)

SYSTEM_ACTOR = "system"


@dataclass
class CampaignContext:
    campaign: Campaign
    rules: CampaignRules
    posts: dict[str, CampaignPost]
    states: dict[Stage, StageState]
    stage_rows: dict[Stage, CampaignStage] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.campaign.id

    @property
    def fitness_scored(self) -> bool:
        return self.rules.fitness_scored

    @property
    def ranking_stage(self) -> Stage:
        return ranking_stage(self.fitness_scored)

    @property
    def ranked(self) -> bool:
        """The ranked lists exist (the ranking stage has closed)."""
        return self.states[self.ranking_stage] is StageState.CLOSED

    @property
    def open_stage(self) -> Stage | None:
        for stage in STAGE_ORDER:
            if self.states[stage] is StageState.OPEN:
                return stage
        return None

    def state(self, stage: Stage) -> StageState:
        return self.states[stage]

    def is_open(self, stage: Stage) -> bool:
        return self.states[stage] is StageState.OPEN

    def gates(self) -> tuple[Stage, ...]:
        """The pass/fail gates each holder of a place clears after the ranking."""
        return tuple(g for g in PLACE_GATES if not (g is Stage.FITNESS and self.fitness_scored))

    @property
    def promotion_stage(self) -> Stage:
        """The stage a backfilled candidate joins: the open gate, else publicity (all
        closed gates, publicity included, are then owed)."""
        for gate in self.gates():
            if self.states[gate] is not StageState.CLOSED:
                return gate
        return Stage.PUBLICITY

    def registration_accepting(self, now: datetime) -> bool:
        c = self.campaign
        return (
            self.states[Stage.REGISTRATION] is StageState.OPEN
            and c.registration_opens <= now < c.registration_closes
        )

    @property
    def reference_date(self) -> date:
        """The day ages are counted on: the last day of registration."""
        return clock.local_date(self.campaign.registration_closes - timedelta(microseconds=1))

    def ensure_active(self) -> None:
        if self.campaign.status != "active":
            raise CampaignClosed("the campaign is closed; nothing more can change in it")


async def load_campaign(
    session: AsyncSession,
    principal: Principal | None,
    campaign_id: int,
    *,
    lock: bool = False,
    actor: str | None = None,
) -> CampaignContext:
    """The campaign within the caller's jurisdiction (404 otherwise). With `lock`, the
    campaign row is locked for the transaction and a registration window that has ended
    is closed first (the next stage opens), as if someone had closed it on time."""
    stmt = (
        select(Campaign)
        .options(selectinload(Campaign.posts), selectinload(Campaign.stages))
        .where(Campaign.id == campaign_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update(of=Campaign)
    campaign = (await session.execute(stmt)).scalar_one_or_none()
    if campaign is None or (principal is not None and not principal.sees(campaign.region)):
        raise CampaignNotFound(f"campaign {campaign_id} not found")
    ctx = CampaignContext(
        campaign=campaign,
        rules=CampaignRules.model_validate(campaign.rules),
        posts={p.post: p for p in campaign.posts},
        states={Stage(s.stage): StageState(s.state) for s in campaign.stages},
        stage_rows={Stage(s.stage): s for s in campaign.stages},
    )
    if lock and campaign.status == "active":
        now = clock.now()
        if (
            ctx.states[Stage.REGISTRATION] is StageState.OPEN
            and now >= campaign.registration_closes
        ):
            await move_stage(session, ctx, Stage.REGISTRATION, SYSTEM_ACTOR, now)
    return ctx


def effective_states(ctx: CampaignContext, now: datetime) -> dict[Stage, StageState]:
    """The states as they are right now, for reading: a registration window that has
    ended reads as closed (and the written test as open) before anyone writes."""
    states = dict(ctx.states)
    if (
        ctx.campaign.status == "active"
        and states[Stage.REGISTRATION] is StageState.OPEN
        and now >= ctx.campaign.registration_closes
    ):
        states[Stage.REGISTRATION] = StageState.CLOSED
        states[Stage.WRITTEN] = StageState.OPEN
    return states


async def move_stage(
    session: AsyncSession, ctx: CampaignContext, stage: Stage, actor: str, now: datetime
) -> Stage | None:
    """Close `stage` (compare-and-set: only an open stage closes, once) and open the next
    one. Returns the stage opened, if any."""
    stages = table_of(CampaignStage)
    closed = await session.execute(
        update(stages)
        .where(
            stages.c.campaign_id == ctx.id,
            stages.c.stage == stage.value,
            stages.c.state == StageState.OPEN.value,
        )
        .values(state=StageState.CLOSED.value, closed_at=now, closed_by=actor)
    )
    if closed.rowcount != 1:  # type: ignore[attr-defined]
        raise StageNotOpen(f"the {stage.value} stage is not open")
    ctx.states[stage] = StageState.CLOSED
    campaigns = table_of(Campaign)
    await session.execute(
        update(campaigns).where(campaigns.c.id == ctx.id).values(version=campaigns.c.version + 1)
    )
    following = next_stage(stage)
    if following is not None:
        opened = await session.execute(
            update(stages)
            .where(
                stages.c.campaign_id == ctx.id,
                stages.c.stage == following.value,
                stages.c.state == StageState.PENDING.value,
            )
            .values(state=StageState.OPEN.value, opened_at=now)
        )
        if opened.rowcount != 1:  # type: ignore[attr-defined]
            raise StageNotOpen(f"the {following.value} stage cannot be opened")
        ctx.states[following] = StageState.OPEN
    return following
