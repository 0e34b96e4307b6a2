"""Request and response models of the recruitment API.

Requests subclass `StrictModel` (unknown fields are refused with 422). Scores and other
non-money decimals are serialised as decimal strings ("85.50").
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from kernel.schemas import Day, EnumName, RefId, StrictModel, decimal_text
from services.common import region_code
from services.common.education import Education
from services.common.resident_id import Sex
from services.recruitment.eligibility import NEGATIVE_LIST
from services.recruitment.fitness import FitnessItem
from services.recruitment.rules import CampaignRules

# Post names follow the roster's rule (a post belongs to one category there for good).
PostName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        examples=["patrol"],
        description="a post, e.g. patrol, traffic, clerk",
    ),
]
PostCategory = Annotated[Literal["duty", "civilian"], EnumName("PostCategory")]
PlanStatus = Annotated[
    Literal["draft", "submitted", "approved", "rejected", "closed"], EnumName("PlanStatus")
]
StageState = Annotated[Literal["pending", "open", "closed"], EnumName("StageState")]
CampaignStatus = Annotated[Literal["active", "closed"], EnumName("CampaignStatus")]
MedicalState = Annotated[
    Literal["pending", "passed", "recheck_pending", "failed"], EnumName("MedicalState")
]
HireDelivery = Annotated[Literal["pending", "delivered", "failed"], EnumName("HireDelivery")]
ObjectionStatus = Annotated[Literal["pending", "upheld", "dismissed"], EnumName("ObjectionStatus")]
ApplicationSource = Annotated[
    Literal["recruiter", "online", "import"], EnumName("ApplicationSource")
]
Eligibility = Annotated[Literal["eligible", "ineligible"], EnumName("Eligibility")]
ApplicationStatus = Annotated[
    Literal["applied", "place", "reserve", "out", "withdrawn", "hired"],
    EnumName("ApplicationStatus"),
]
RankingStatus = Annotated[
    Literal["place", "reserve", "out", "withdrawn", "hired"], EnumName("RankingStatus")
]
ObjectionDecision = Annotated[Literal["upheld", "dismissed"], EnumName("ObjectionDecision")]
Reason = Annotated[str, Field(min_length=1, max_length=2000, description="why, for the record")]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 -]{4,19}$", max_length=20)]


def _region(value: Any) -> Any:
    if isinstance(value, str) and not region_code.is_valid(value.strip()):
        raise ValueError("a region code has 2, 4, 6 or 9 digits")
    return value


RegionCode = Annotated[
    str, BeforeValidator(_region), Field(examples=["371327"], description="GB/T 2260 code")
]


def _day_or_instant(value: Any) -> Any:
    """ "2026-03-01" is a calendar day; anything longer must be a full, zoned instant."""
    if isinstance(value, str) and len(value.strip()) == 10:
        return date.fromisoformat(value.strip())
    return value


DayOrInstant = Annotated[
    date | AwareDatetime,
    BeforeValidator(_day_or_instant),
    Field(description="a day (China time; opens at its start, closes at its end) or an instant"),
]


# --- plans ----------------------------------------------------------------------------------


class PositionIn(StrictModel):
    post_category: PostCategory
    post: PostName
    headcount: int = Field(ge=1, le=10_000)
    unit: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="where hires of this post start work; default: the county bureau",
    )


class PlanIn(StrictModel):
    region: RegionCode
    year: int = Field(ge=2000, le=2100)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    positions: list[PositionIn] = Field(min_length=1, max_length=500)

    @field_validator("positions")
    @classmethod
    def _unique_posts(cls, value: list[PositionIn]) -> list[PositionIn]:
        posts = [p.post for p in value]
        if len(set(posts)) != len(posts):
            raise ValueError("a post appears twice in the plan")
        return value


class RejectIn(StrictModel):
    reason: str | None = Field(default=None, min_length=1, max_length=2000)


class ApproveIn(StrictModel):
    note: str | None = Field(default=None, max_length=2000)


class PositionOut(BaseModel):
    post_category: PostCategory
    post: str
    headcount: int
    unit: str | None
    filled: int = Field(description="hired so far against this position")


class ReservationOut(BaseModel):
    id: str | None
    reference: str | None
    seats: int | None


class PlanOut(BaseModel):
    id: int
    region: str
    year: int
    title: str | None
    status: PlanStatus
    positions: list[PositionOut]
    headcount: int = Field(description="sum of the positions' headcounts")
    filled: int
    reservation: ReservationOut | None
    campaign_id: int | None
    created_by: str
    created_at: datetime
    submitted_by: str | None
    submitted_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    closed_by: str | None
    closed_at: datetime | None
    version: int


class PlanFilingPosition(BaseModel):
    post_category: PostCategory
    post: str
    headcount: int
    unit: str | None


class PlanFilingOut(BaseModel):
    """The pre-recruitment report (招聘计划报备) of an approved plan."""

    document: Literal["pre_recruitment_report"]
    plan_id: int
    region: str
    year: int
    title: str | None
    status: str
    positions: list[PlanFilingPosition]
    headcount: int
    reservation: ReservationOut
    drawn_up_by: str
    submitted_by: str | None
    submitted_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    campaign_id: int | None
    generated_at: datetime


# --- campaigns ------------------------------------------------------------------------------


class CampaignIn(StrictModel):
    plan_id: RefId
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    registration_opens: DayOrInstant
    registration_closes: DayOrInstant
    rules: CampaignRules


StageName = Annotated[
    Literal["registration", "written", "interview", "fitness", "medical", "political", "publicity"],
    EnumName("StageName"),
]
ResultStageName = Annotated[
    Literal["written", "interview", "fitness", "medical", "political"], EnumName("ResultStage")
]


class StageOut(BaseModel):
    stage: StageName
    state: StageState
    opened_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None


class PostCounts(BaseModel):
    applicants: int
    eligible: int
    applied: int = Field(description="still in the running before the ranking")
    place: int
    reserve: int
    out: int
    withdrawn: int
    hired: int


class CampaignPostOut(BaseModel):
    post: str
    post_category: PostCategory
    places: int
    unit: str | None
    entry_k: int | None = Field(description="⌈places × ratio⌉ at the written cut")
    entry_boundary: Decimal | None = Field(description="lowest written + bonus that advanced")
    backfill_rounds: int
    counts: PostCounts


class CampaignOut(BaseModel):
    id: int
    plan_id: int
    region: str
    title: str
    description: str | None
    registration_opens: datetime
    registration_closes: datetime
    registration_open: bool = Field(description="applications are accepted right now")
    rules: dict[str, Any]
    status: CampaignStatus
    current_stage: StageName | None = Field(description="the open stage, if any")
    stages: list[StageOut]
    posts: list[CampaignPostOut]
    created_by: str
    created_at: datetime
    version: int


class CampaignSummary(BaseModel):
    id: int
    plan_id: int
    region: str
    title: str
    status: CampaignStatus
    current_stage: StageName | None
    registration_opens: datetime
    registration_closes: datetime


class StageCloseOut(BaseModel):
    campaign_id: int
    stage: StageName
    state: Literal["closed"]
    next_stage: StageName | None
    summary: dict[str, Any] = Field(description="what the close decided, per post")


# --- applications ---------------------------------------------------------------------------


class ApplicationIn(StrictModel):
    id_number: str = Field(min_length=15, max_length=20, description="GB 11643 resident ID")
    name: str = Field(min_length=1, max_length=50)
    post: str = Field(min_length=1, max_length=50)
    education: Education
    veteran: bool = False
    special_skill: bool = False
    categories: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list,
        max_length=10,
        description="bonus categories besides veteran (e.g. martyr_family)",
    )
    height_cm: Annotated[Decimal, Field(gt=0, le=250, decimal_places=1), *decimal_text()] | None = (
        None
    )
    vision: Annotated[Decimal, Field(ge=3, le=6, decimal_places=1), *decimal_text()] | None = None
    hukou_region: RegionCode | None = None
    phone: Phone | None = None
    declarations: dict[str, bool] = Field(
        default_factory=dict,
        description="the negative list: each key declared true or false "
        f"({', '.join(NEGATIVE_LIST)})",
    )

    @field_validator("declarations")
    @classmethod
    def _known_declarations(cls, value: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(value) - set(NEGATIVE_LIST))
        if unknown:
            raise ValueError(f"unknown declarations: {', '.join(unknown)}")
        return value


class ReasonOut(BaseModel):
    code: str
    message: str


class ScoresOut(BaseModel):
    written: Decimal | None
    written_absent: bool
    bonus_written: Decimal
    bonus_composite: Decimal
    interview: Decimal | None
    interview_absent: bool
    fitness: Decimal | None
    fitness_passed: bool | None
    fitness_absent: bool
    medical: MedicalState
    medical_recheck_requested: bool
    political_passed: bool | None


class PublicityOut(BaseModel):
    notice_id: int
    starts: date
    ends: date


class HireStateOut(BaseModel):
    state: HireDelivery
    hire_date: date | None
    hired_at: datetime | None
    roster_person_id: str | None
    error: str | None


class ObjectionOut(BaseModel):
    id: int
    application_id: int
    text: str
    objector: str | None
    status: ObjectionStatus
    raised_by: str
    raised_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


class ApplicationOut(BaseModel):
    id: int
    campaign_id: int
    post: str
    id_number: str = Field(description="masked unless the role may read ID numbers")
    name: str
    sex: Sex
    birth_date: date
    phone: str | None
    education: Education
    veteran: bool
    special_skill: bool
    categories: list[str]
    height_cm: Decimal | None
    vision: Decimal | None
    hukou_region: str | None
    declarations: dict[str, bool]
    source: ApplicationSource
    registered_at: datetime
    eligibility: Eligibility
    eligibility_reasons: list[ReasonOut]
    eligibility_override: str | None
    status: ApplicationStatus
    reason: str | None
    scores: ScoresOut
    composite: Decimal | None
    rank: int | None
    called: bool
    owed_gates: list[str]
    publicity: PublicityOut | None
    hire: HireStateOut | None
    objections: list[ObjectionOut]
    version: int


class ApplicationBrief(BaseModel):
    id: int
    post: str
    id_number: str
    name: str
    eligibility: Eligibility
    status: ApplicationStatus
    reason: str | None
    written: Decimal | None
    interview: Decimal | None
    composite: Decimal | None
    rank: int | None


class ImportRowError(BaseModel):
    row: int = Field(description="1-based data row (the header is row 0)")
    code: str
    detail: str


class ImportOut(BaseModel):
    received: int
    created: int
    eligible: int
    ineligible: int
    application_ids: list[int]
    errors: list[ImportRowError]


class OverrideIn(StrictModel):
    eligible: bool
    reason: Reason


class WithdrawIn(StrictModel):
    reason: str = Field(
        default="withdrawn at the applicant's request", min_length=1, max_length=2000
    )


class RecheckIn(StrictModel):
    reason: str | None = Field(default=None, max_length=2000)


class HistoryItem(BaseModel):
    at: datetime
    actor: str
    kind: str = Field(description="status, score, correction, recheck, override, backfill, ...")
    stage: str | None
    from_status: str | None
    to_status: str | None
    reason: str | None
    score: Decimal | None = None
    passed: bool | None = None
    absent: bool | None = None
    data: dict[str, Any] | None = None


class HistoryOut(BaseModel):
    application_id: int
    items: list[HistoryItem]
    next_cursor: str | None = None


# --- results --------------------------------------------------------------------------------


ScoreValue = Annotated[Decimal, Field(allow_inf_nan=False), *decimal_text()]


class ResultIn(StrictModel):
    """One result. Scored stages take `score` (interview also `examiner_scores`); pass/fail
    stages take `passed` (fitness also `measurements`, judged by the standard); any stage
    takes `absent`. `correction_reason` replaces an existing result with a new entry."""

    application_id: RefId
    score: ScoreValue | None = None
    examiner_scores: list[ScoreValue] | None = Field(default=None, min_length=1, max_length=15)
    passed: bool | None = None
    measurements: dict[FitnessItem, str | int | Decimal] | None = None
    absent: bool = False
    reason: str | None = Field(default=None, max_length=2000)
    correction_reason: str | None = Field(default=None, min_length=1, max_length=2000)


class LossOut(BaseModel):
    application_id: int
    cause: str
    promoted: int | None
    decision: str = Field(description="backfilled, or why nobody was promoted")
    owed_gates: list[str]


class ResultsOut(BaseModel):
    campaign_id: int
    stage: ResultStageName
    recorded: int
    corrections: int
    losses: list[LossOut]


class RankingEntry(BaseModel):
    application_id: int
    name: str
    written: Decimal | None
    bonus: Decimal
    interview: Decimal | None
    fitness: Decimal | None
    composite: Decimal | None
    rank: int | None
    status: RankingStatus
    reason: str | None


class RankingOut(BaseModel):
    campaign_id: int
    post: str
    places: int
    items: list[RankingEntry]
    next_cursor: str | None


# --- publicity, objections, withdrawal, hire -------------------------------------------------


class PublicityIn(StrictModel):
    starts: Day


class NoticeOut(BaseModel):
    id: int
    campaign_id: int
    starts: date
    ends: date
    working_days: int
    application_ids: list[int]
    created_by: str
    created_at: datetime


class ObjectionIn(StrictModel):
    text: str = Field(
        min_length=1,
        max_length=5000,
        validation_alias=AliasChoices("text", "reason"),
        description="what is objected (also accepted as `reason`)",
    )
    objector: str | None = Field(default=None, min_length=1, max_length=200)


class DecideIn(StrictModel):
    """`upheld` true or false, or `decision` "upheld" or "dismissed"."""

    upheld: bool | None = None
    decision: ObjectionDecision | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _one_verdict(self) -> DecideIn:
        if (self.upheld is None) == (self.decision is None):
            raise ValueError('give either "upheld" (true or false) or "decision"')
        return self

    @property
    def is_upheld(self) -> bool:
        return self.upheld if self.upheld is not None else self.decision == "upheld"

    @property
    def why(self) -> str:
        return self.reason or ("objection upheld" if self.is_upheld else "objection dismissed")


class DecisionOut(BaseModel):
    objection: ObjectionOut
    loss: LossOut | None


class WithdrawOut(BaseModel):
    application_id: int
    status: Literal["withdrawn"]
    loss: LossOut | None


class HireIn(StrictModel):
    hire_date: Day | None = Field(default=None, description="default: today (China)")
    probation_months: int = Field(default=3, ge=0, le=6)
    units: dict[RefId, Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=dict,
        description="application id → unit, overriding the position's",
        # the keys are application ids (JSON object keys are strings)
        json_schema_extra={"propertyNames": {"pattern": "^[1-9][0-9]{0,17}$"}},
    )


class HiredOut(BaseModel):
    application_id: int
    name: str
    post: str
    unit: str
    event_id: str


class HireOut(BaseModel):
    campaign_id: int
    hire_date: date
    hired: list[HiredOut]
    losses: list[LossOut] = Field(
        default_factory=list,
        description="places lost just before hiring (a medical failure became final)",
    )


class FilingPost(BaseModel):
    post: str
    post_category: PostCategory
    places: int
    applicants: int
    eligible: int
    interviewed: int
    hired: int
    backfill_rounds: int


class FilingHire(BaseModel):
    application_id: int
    name: str
    id_number: str = Field(description="masked unless the role may read ID numbers")
    sex: str
    birth_date: date
    education: str
    veteran: bool
    post: str
    written: Decimal | None
    interview: Decimal | None
    composite: Decimal | None
    rank: int | None
    backfilled: bool
    hire_date: date | None
    delivery: str | None = Field(description="pending, delivered or failed (to the roster)")
    roster_person_id: str | None


class FilingStage(BaseModel):
    stage: StageName
    state: StageState


class CampaignFilingOut(BaseModel):
    """The post-recruitment filing (招聘结果备案) of a campaign's hires."""

    document: Literal["post_recruitment_filing"]
    campaign_id: int
    plan_id: int
    region: str
    year: int
    title: str
    registration_opens: datetime
    registration_closes: datetime
    stages: list[FilingStage]
    posts: list[FilingPost]
    hires: list[FilingHire]
    hired: int
    complete: bool = Field(description="publicity closed, every place hired and delivered")
    generated_at: datetime


# --- public ---------------------------------------------------------------------------------


class AnnouncementPost(BaseModel):
    post: str
    post_category: PostCategory
    places: int
    conditions: dict[str, Any]


class AnnouncementOut(BaseModel):
    id: int
    region: str
    title: str
    description: str | None
    registration_opens: datetime
    registration_closes: datetime
    posts: list[AnnouncementPost]
    scoring: dict[str, Any]


class PublicApplicationOut(BaseModel):
    application_id: int
    campaign_id: int
    post: str
    name: str
    id_number: str = Field(description="always masked")
    eligibility: Eligibility
    eligibility_reasons: list[ReasonOut]
