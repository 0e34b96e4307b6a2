"""Request and response models of the roster API.

Requests subclass `StrictModel` (unknown fields are refused with 422). Decimal figures
that are not money (ratios, rule values) are serialised as decimal strings.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, PlainSerializer
from pydantic.json_schema import SkipJsonSchema

from kernel.schemas import (
    Day,
    EnumName,
    NonNegativeMoney,
    ResponseModel,
    StrictModel,
    decimal_text,
    omittable,
)
from services.common.education import Education
from services.common.resident_id import Sex
from services.roster.levels import Grade, PromotionStatus
from services.roster.quota import Basis, MissingInput
from services.roster.statuses import DepartureReason, Status


def _decimal_str(value: Decimal) -> str:
    return f"{value:f}"


def _normalized_str(value: Decimal) -> str:
    return f"{value.normalize():f}"


# ratios and shares keep their places ("0.20"); rule values drop trailing zeros ("15")
DecimalStr = Annotated[Decimal, PlainSerializer(_decimal_str, return_type=str, when_used="json")]
RuleValue = Annotated[Decimal, PlainSerializer(_normalized_str, return_type=str, when_used="json")]

RegionCode = Annotated[
    str, Field(min_length=1, max_length=9, examples=["371327"], description="GB/T 2260 code")
]
PostName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        examples=["patrol"],
        description="a post, e.g. patrol, traffic, clerk; it belongs to one category for good",
    ),
]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Note = Annotated[str | None, Field(default=None, max_length=1000)]
Reason = Annotated[str, Field(min_length=1, max_length=1000, description="why, for the file")]


class PostCategory(StrEnum):
    DUTY = "duty"  # 勤务辅警
    CIVILIAN = "civilian"  # 文职辅警


class PoliticalStatus(StrEnum):
    PARTY_MEMBER = "party_member"  # 中共党员
    PROBATIONARY_PARTY_MEMBER = "probationary_party_member"  # 中共预备党员
    LEAGUE_MEMBER = "league_member"  # 共青团员
    DEMOCRATIC_PARTY = "democratic_party"  # 民主党派
    MASSES = "masses"  # 群众


class ContractKind(StrEnum):
    LABOUR = "labour"
    DISPATCH = "dispatch"


class RewardKind(StrEnum):
    COMMENDATION = "commendation"  # 嘉奖
    MERIT_THIRD_CLASS = "merit_third_class"  # 三等功
    MERIT_SECOND_CLASS = "merit_second_class"  # 二等功
    MERIT_FIRST_CLASS = "merit_first_class"  # 一等功
    HONORARY_TITLE = "honorary_title"  # 荣誉称号
    BONUS = "bonus"  # 奖金
    OTHER = "other"


class PunishmentKind(StrEnum):
    WARNING = "warning"  # 警告
    DEMERIT = "demerit"  # 记过
    MAJOR_DEMERIT = "major_demerit"  # 记大过
    DEMOTION = "demotion"  # 降级
    OTHER = "other"


class TrainingResult(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ATTENDED = "attended"


class ReservationStatus(StrEnum):
    OPEN = "open"  # holds seats
    FILLED = "filled"  # every seat converted into a hire
    RELEASED = "released"  # the rest was given back


# --- regions ---------------------------------------------------------------------------


class RegionPut(StrictModel):
    name: str = Field(min_length=1, max_length=100, examples=["莒南县"])
    population: int | None = Field(default=None, ge=0, le=2_000_000_000, examples=[825000])
    police_establishment: int | None = Field(default=None, ge=0, le=10_000_000, examples=[297])
    year: int | None = Field(
        default=None, ge=1949, le=2100, description="year of the figures; required with them"
    )


class Demographics(ResponseModel):
    year: int
    population: int | None
    police_establishment: int | None


class RegionOut(ResponseModel):
    code: str
    name: str
    parent: str | None
    level: str
    population: int | None = Field(description="the latest recorded figure")
    police_establishment: int | None
    year: int | None = Field(description="year of the latest figures")
    demographics: list[Demographics]
    version: int


# --- quota -------------------------------------------------------------------------------


class QuotaRuleIn(StrictModel):
    region_prefix: str = Field(max_length=9, examples=["37"], description='"" is national')
    basis: Basis
    value: Annotated[Decimal, *decimal_text()] = Field(
        ge=0, max_digits=14, decimal_places=4, examples=["15"]
    )
    post_categories: list[PostName] = Field(min_length=1, max_length=30)
    effective_from: Day
    note: Note = None


class QuotaRuleOut(ResponseModel):
    id: int
    region_prefix: str
    basis: Basis
    value: RuleValue
    post_categories: list[str]
    effective_from: date
    note: str | None
    created_at: datetime
    created_by: str


class QuotaComponentOut(BaseModel):
    rule_id: int
    region_prefix: str
    basis: Basis
    value: RuleValue
    post_categories: list[str]
    effective_from: date
    amount: int = Field(description="floored to whole people")
    missing_input: MissingInput | None


class QuotaOut(BaseModel):
    region: str
    name: str
    on: date
    year: int | None = Field(description="year of the population and police figures used")
    quota: int
    headcount: int = Field(description="probation and active, in the whole region")
    reserved: int = Field(description="seats held by open reservations")
    available: int = Field(description="quota − headcount − reserved, never below 0")
    over_quota: int
    population: int | None
    police_establishment: int | None
    per_10k_population: DecimalStr | None = Field(description="headcount per 10,000 residents")
    per_police: DecimalStr | None = Field(description="headcount per police officer")
    incomplete: bool = Field(description="a rule lacked the population or police figure")
    figures_derived: bool = Field(
        description="the region has no figure of its own: its child regions' are summed"
    )
    seat_region: str = Field(description="whose seats a hire here takes (a township: its county)")
    components: list[QuotaComponentOut]


class ReservationIn(StrictModel):
    region: RegionCode
    seats: int = Field(ge=1, le=100_000)
    reference: Text200 = Field(examples=["recruitment:plan:12"])


class ReservationOut(ResponseModel):
    id: int
    region: str
    seats: int
    converted: int
    released: int
    held: int = Field(description="seats still reserved: seats − converted − released")
    reference: str
    status: ReservationStatus
    created_at: datetime
    created_by: str
    closed_at: datetime | None


# --- personnel ------------------------------------------------------------------------------


class ContractIn(StrictModel):
    kind: ContractKind
    start: Day
    end: Day | None = Field(default=None, description="last day, inclusive; null: open-ended")
    probation_months: int = Field(default=0, ge=0, le=6)
    note: Note = None


class PersonnelIn(StrictModel):
    id_number: str = Field(min_length=1, max_length=40, description="GB 11643 resident ID")
    name: str = Field(min_length=1, max_length=50)
    region: RegionCode
    unit: str = Field(min_length=1, max_length=100, examples=["十字路派出所"])
    post_category: PostCategory
    post: PostName
    education: Education
    veteran: bool = False
    political_status: PoliticalStatus | None = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{4,19}$", max_length=20)
    hire_date: Day
    level: int | None = Field(
        default=None, ge=1, le=9, description="default: the entry level for the education"
    )
    step: int = Field(default=1, ge=1, le=50)
    level_since: Day | None = Field(
        default=None,
        description="since when at this level (existing staff); default: the hire date",
    )
    probation_months: int | None = Field(
        default=None, ge=0, le=6, description="default: the contract's, else 0"
    )
    contract: ContractIn | None = None
    reservation_reference: str | None = Field(
        default=None, max_length=200, description="take a seat of this reservation"
    )
    external_reference: str | None = Field(
        default=None,
        max_length=200,
        description="idempotency: an existing file with this reference is returned as is",
    )


class PersonnelPatch(StrictModel):
    """Fields left out stay as they are; only `phone` and `political_status` may be
    cleared with null."""

    name: Annotated[str, Field(min_length=1, max_length=50)] | SkipJsonSchema[None] = omittable()
    region: RegionCode | SkipJsonSchema[None] = omittable(
        description="a transfer to another region"
    )
    unit: Annotated[str, Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = omittable()
    post: PostName | SkipJsonSchema[None] = omittable(description="within the same category")
    education: Education | SkipJsonSchema[None] = omittable()
    veteran: bool | SkipJsonSchema[None] = omittable()
    political_status: PoliticalStatus | None = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{4,19}$", max_length=20)
    reason: Reason | None = None


class LastAssessment(BaseModel):
    year: int
    grade: Grade


class PersonnelOut(BaseModel):
    id: int
    id_number: str = Field(description="masked unless the role may read ID numbers")
    name: str
    sex: Sex
    birth_date: date
    age: int
    region: str
    unit: str
    post_category: PostCategory
    post: str
    education: Education
    veteran: bool
    political_status: PoliticalStatus | None
    phone: str | None
    hire_date: date
    probation_months: int
    probation_end: date | None
    level: int
    step: int
    level_since: date
    status: Status
    status_since: date
    left_date: date | None = Field(description="last day on the staff")
    departure_reason: DepartureReason | None
    last_assessment: LastAssessment | None
    external_reference: str | None
    reservation_id: int | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int


class ContractOut(ResponseModel):
    id: int
    kind: ContractKind
    start: date
    end: date | None
    probation_months: int
    note: str | None
    recorded_at: datetime
    recorded_by: str


class AssessmentIn(StrictModel):
    year: int = Field(ge=1949, le=2100)
    grade: Grade
    note: Note = None


class AssessmentOut(ResponseModel):
    id: int
    personnel_id: int
    year: int
    grade: Grade
    note: str | None
    recorded_at: datetime
    recorded_by: str
    dismissal_grounds: list[int] | None = Field(
        default=None, description="two consecutive years graded incompetent, if any"
    )


class LevelChangeIn(StrictModel):
    level: int = Field(ge=1, le=9)
    step: int = Field(default=1, ge=1, le=50)
    date: Day
    reason: Reason


class LevelChangeOut(ResponseModel):
    id: int
    personnel_id: int
    from_level: int
    from_step: int
    to_level: int
    to_step: int
    effective: date
    kind: Annotated[
        Literal["promotion", "demotion", "step", "correction"], EnumName("LevelChangeKind")
    ]
    reason: str
    recorded_at: datetime
    recorded_by: str


class DepartureIn(StrictModel):
    date: Day = Field(description="the last day on the staff")
    reason: DepartureReason
    note: Note = None


class StatusChangeIn(StrictModel):
    status: Annotated[Literal["active", "suspended"], EnumName("StatusChangeTarget")] = Field(
        description="active: end of probation or reinstatement; suspended: suspension"
    )
    date: Day
    reason: Reason


class StatusChangeOut(ResponseModel):
    id: int
    personnel_id: int
    from_status: Status
    to_status: Status
    effective: date
    departure_reason: DepartureReason | None
    note: str | None
    recorded_at: datetime
    recorded_by: str


class RewardIn(StrictModel):
    date: Day
    kind: RewardKind
    description: str = Field(min_length=1, max_length=1000)
    authority: str | None = Field(default=None, max_length=100)
    amount: NonNegativeMoney | None = None


class RewardOut(ResponseModel):
    id: int
    personnel_id: int
    date: dt.date = Field(validation_alias="awarded_on")
    kind: RewardKind
    description: str
    authority: str | None
    amount: NonNegativeMoney | None
    recorded_at: datetime
    recorded_by: str


class PunishmentIn(StrictModel):
    date: Day
    kind: PunishmentKind
    description: str = Field(min_length=1, max_length=1000)
    authority: str | None = Field(default=None, max_length=100)


class PunishmentOut(ResponseModel):
    id: int
    personnel_id: int
    date: dt.date = Field(validation_alias="imposed_on")
    kind: PunishmentKind
    description: str
    authority: str | None
    recorded_at: datetime
    recorded_by: str


class TrainingIn(StrictModel):
    course: str = Field(min_length=1, max_length=200)
    start: Day
    end: Day | None = None
    hours: int | None = Field(default=None, ge=0, le=10_000)
    result: TrainingResult | None = None
    provider: str | None = Field(default=None, max_length=100)


class TrainingOut(ResponseModel):
    id: int
    personnel_id: int
    course: str
    start: date
    end: date | None
    hours: int | None
    result: TrainingResult | None
    provider: str | None
    recorded_at: datetime
    recorded_by: str


class PersonnelFileOut(PersonnelOut):
    """The whole file: the person and every life event."""

    contracts: list[ContractOut]
    assessments: list[AssessmentOut]
    level_changes: list[LevelChangeOut]
    status_changes: list[StatusChangeOut]
    rewards: list[RewardOut]
    punishments: list[PunishmentOut]
    trainings: list[TrainingOut]


class HistoryEntry(BaseModel):
    id: int = Field(description="0 for the creation of the file")
    kind: str
    effective: date | None
    reason: str | None
    data: dict[str, Any]
    recorded_at: datetime
    recorded_by: str


# --- promotions and reports ------------------------------------------------------------------


class PromotionOut(BaseModel):
    personnel_id: int
    name: str
    region: str
    unit: str
    post: str
    from_level: int
    to_level: int | None
    status: PromotionStatus
    reasons: list[str]
    dismissal_grounds: list[int] | None


class PromotionsOut(BaseModel):
    as_of: date
    items: list[PromotionOut]
    next_cursor: str | None = None


class QuotaLine(BaseModel):
    region: str
    name: str
    level: str
    quota: int
    headcount: int
    reserved: int
    available: int
    over_quota: int
    population: int | None
    police_establishment: int | None
    per_10k_population: DecimalStr | None
    per_police: DecimalStr | None
    fulfilment: DecimalStr | None = Field(description="headcount ÷ quota, a fraction")
    gap_to_target: int | None = Field(description="people missing against target_per_10k")
    incomplete: bool
    figures_derived: bool = Field(description="population or police summed over child regions")


class QuotaTotal(BaseModel):
    regions: int
    quota: int
    headcount: int
    reserved: int
    available: int
    over_quota: int
    population: int | None
    police_establishment: int | None
    per_10k_population: DecimalStr | None
    per_police: DecimalStr | None
    fulfilment: DecimalStr | None
    gap_to_target: int | None
    missing_population: int
    missing_police: int
    incomplete: int


class QuotaReportOut(BaseModel):
    region: str
    name: str
    on: date
    target_per_10k: RuleValue | None
    lines: list[QuotaLine]
    total: QuotaTotal


class StructureOut(BaseModel):
    region: str
    as_of: date
    total: int
    by_post_category: dict[str, int]
    by_post: dict[str, int]
    by_level: dict[str, int]
    by_age_band: dict[str, int]
    by_education: dict[str, int]
    by_sex: dict[str, int]
    under_30: int
    share_under_30: DecimalStr | None = Field(description="a fraction, e.g. 0.1958")
    percent_under_30: DecimalStr | None


class TurnoverOut(BaseModel):
    region: str
    year: int
    leavers: int
    headcount_start: int
    headcount_end: int
    average_headcount: DecimalStr
    rate: DecimalStr | None = Field(description="leavers ÷ average headcount, a fraction")
    rate_percent: DecimalStr | None
    by_reason: dict[str, int]
    by_age_band: dict[str, int]


# --- imports -----------------------------------------------------------------------------------


class ImportRowErrorOut(ResponseModel):
    line: int
    column: str | None
    code: str
    message: str


class ImportOut(BaseModel):
    id: int
    kind: str
    status: Annotated[
        Literal["queued", "running", "completed", "failed", "interrupted"], EnumName("ImportStatus")
    ]
    filename: str
    file_format: str
    total_rows: int
    processed_rows: int
    created: int
    skipped: int = Field(description="rows already on the roster (a re-run)")
    failed: int
    progress: DecimalStr = Field(description="processed ÷ total, 0 to 1")
    error: str | None
    created_at: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
    errors: list[ImportRowErrorOut] = Field(description="the first row errors, by line")
    errors_truncated: bool = Field(description="more errors at /imports/{id}/errors")
