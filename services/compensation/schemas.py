"""Request and response models of the compensation API (api.md, "Compensation").

Money crosses the API as decimal strings with two places ("4350.00"); hours and days as
decimal strings too. Requests refuse unknown fields.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.schemas import EnumName, Money, NonNegativeMoney, RefId, StrictModel, decimal_text

PERIOD_PATTERN = r"^(19|20)\d{2}-(0[1-9]|1[0-2])$"
REGION_PATTERN = r"^(\d{2}|\d{4}|\d{6}|\d{9})$"

Period = Annotated[
    str, Field(pattern=PERIOD_PATTERN, examples=["2026-03"], description="a month, YYYY-MM")
]
RegionCode = Annotated[
    str, Field(pattern=REGION_PATTERN, examples=["371327"], description="GB/T 2260 code")
]
DecimalText = Annotated[
    str,
    Field(
        pattern=r"^-?\d{1,18}(\.\d{1,30})?$",
        examples=["3000.00"],
        description="a decimal number as a string",
    ),
]
Hours = Annotated[
    Decimal,
    Field(ge=0, le=744, max_digits=5, decimal_places=2, examples=["4.5"]),
    *decimal_text(),
]
Days = Annotated[
    Decimal,
    Field(ge=0, le=31, max_digits=4, decimal_places=2, examples=["1"]),
    *decimal_text(),
]
PayrollRunStatus = Annotated[
    Literal["draft", "calculated", "approved", "paid", "cancelled"], EnumName("PayrollRunStatus")
]
ExportFormat = Annotated[Literal["csv", "xlsx"], EnumName("ExportFormat")]


# ----------------------------------------------------------------------- schedules


class AllowanceIn(StrictModel):
    name: str = Field(min_length=1, max_length=100, examples=["work_allowance"])
    amount: DecimalText
    posts: list[str] | None = Field(default=None, description="null: every post")


class ContributionRatesIn(StrictModel):
    employer: DecimalText
    employee: DecimalText


class TaxBracketIn(StrictModel):
    upper: DecimalText | None = Field(description="yuan of cumulative taxable income; null: top")
    rate: DecimalText
    quick_deduction: DecimalText


class ScheduleIn(StrictModel):
    """A pay schedule (api.md). Amounts and rates as decimal strings, wages monthly."""

    level_pay: dict[str, list[DecimalText]] = Field(
        description="level → amounts by step, step 1 first; levels contiguous",
        examples=[{"7": ["3000.00", "3150.00"], "6": ["3400.00", "3570.00"]}],
    )
    position_pay: dict[str, DecimalText] = Field(examples=[{"patrol": "2000.00"}])
    performance_pay: dict[str, DecimalText] = Field(
        description="by last assessment grade: excellent, competent, basically_competent, "
        "incompetent, none"
    )
    allowances: list[AllowanceIn] = Field(default_factory=list)
    contributions: dict[str, ContributionRatesIn] = Field(
        description="pension, medical, unemployment, work_injury, maternity, housing_fund"
    )
    base_floor_ratio: DecimalText
    base_cap_ratio: DecimalText
    local_average_wage: DecimalText
    minimum_wage: DecimalText
    tax_table: list[TaxBracketIn] | None = Field(default=None, description="null: the 2019 table")


class ScheduleOut(BaseModel):
    region_prefix: str
    effective_from: date
    level_pay: dict[str, list[str]]
    position_pay: dict[str, str]
    performance_pay: dict[str, str]
    allowances: list[AllowanceIn]
    contributions: dict[str, ContributionRatesIn]
    base_floor_ratio: str
    base_cap_ratio: str
    local_average_wage: str
    minimum_wage: str
    tax_table: list[TaxBracketIn] | None
    version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class ScheduleSummary(BaseModel):
    region_prefix: str
    effective_from: date
    version: int
    updated_by: str
    updated_at: datetime


class ScheduleRef(BaseModel):
    region_prefix: str
    effective_from: date


# -------------------------------------------------------------------------- inputs


class OvertimeHours(StrictModel):
    weekday: Hours = Decimal(0)
    rest_day: Hours = Decimal(0)
    holiday: Hours = Decimal(0)


class PayrollInputIn(StrictModel):
    """A person's variable pay for one month. Posting again for the same person and
    period replaces the earlier input (200); the first post creates it (201)."""

    personnel_id: RefId
    period: Period
    overtime_hours: OvertimeHours = Field(default_factory=OvertimeHours)
    unpaid_leave_days: Days = Decimal(0)
    awards: NonNegativeMoney = Decimal(0)
    deductions: NonNegativeMoney = Field(default=Decimal(0), description="after tax")
    special_additional_deductions: NonNegativeMoney = Decimal(0)
    note: str | None = Field(default=None, max_length=500)


class OvertimeHoursOut(BaseModel):
    weekday: Decimal
    rest_day: Decimal
    holiday: Decimal


class PayrollInputOut(BaseModel):
    id: int
    personnel_id: int
    region: str
    period: str
    overtime_hours: OvertimeHoursOut
    unpaid_leave_days: Decimal
    awards: Money
    deductions: Money
    special_additional_deductions: Money
    note: str | None
    version: int
    updated_by: str
    updated_at: datetime


# ---------------------------------------------------------------------------- runs


class PayrollRunIn(StrictModel):
    region: RegionCode
    period: Period


class RunTotals(BaseModel):
    level_pay: Money
    position_pay: Money
    base_pay: Money
    performance_pay: Money
    allowances: Money
    overtime_pay: Money
    awards: Money
    unpaid_leave_deduction: Money
    gross: Money
    employee_contributions: dict[str, Money]
    employee_contributions_total: Money
    employer_contributions: dict[str, Money]
    employer_contributions_total: Money
    special_additional_deductions: Money
    tax: Money
    deductions: Money
    net: Money
    employer_cost: Money


class RunWarning(BaseModel):
    code: str
    detail: str
    count: int = 0
    personnel_ids: list[int] = Field(default_factory=list)


class PayrollRunOut(BaseModel):
    id: int
    region: str
    period: str
    status: PayrollRunStatus
    stale: bool = Field(description="inputs or schedules changed after the calculation")
    headcount: int
    totals: RunTotals | None
    warnings: list[RunWarning]
    schedules: list[ScheduleRef]
    created_by: str
    created_at: datetime
    calculated_by: str | None
    calculated_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    paid_by: str | None
    paid_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    version: int


class PayslipOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": "every line of one payslip"})

    personnel_id: int
    name: str
    id_number: str | None
    region: str
    unit: str | None
    post_category: str | None
    post: str
    level: int
    step: int
    last_grade: str | None
    days_employed: int
    days_in_period: int
    level_pay: Money
    position_pay: Money
    base_pay: Money
    performance_pay: Money
    allowances: Money
    allowance_items: dict[str, Money]
    overtime_hours: OvertimeHoursOut
    overtime_items: dict[str, Money]
    overtime_pay: Money
    awards: Money
    unpaid_leave_days: Decimal
    unpaid_leave_deduction: Money
    gross: Money
    contribution_base: Money
    employee_contributions: dict[str, Money]
    employee_contributions_total: Money
    employer_contributions: dict[str, Money]
    employer_contributions_total: Money
    months_employed: int
    cumulative_income: Money
    cumulative_employee_contributions: Money
    special_additional_deductions: Money
    cumulative_special_deductions: Money
    cumulative_taxable_income: Money
    cumulative_tax: Money
    tax: Money
    deductions: Money
    net: Money
    employer_cost: Money


class SummaryGroup(BaseModel):
    key: str | None
    headcount: int
    gross: Money
    employee_contributions: Money
    tax: Money
    net: Money
    employer_contributions: Money
    employer_cost: Money


class RunSummary(BaseModel):
    id: int
    region: str
    period: str
    status: str
    headcount: int
    totals: RunTotals
    employer_cost: Money
    by_unit: list[SummaryGroup]
    by_post: list[SummaryGroup]


# ------------------------------------------------------------------------- reports


class CostLineOut(BaseModel):
    headcount: int
    fixed_pay: Money
    employer_contributions: Money
    total: Money


class BudgetPost(BaseModel):
    post: str
    current: CostLineOut
    planned: CostLineOut
    total: CostLineOut


class BudgetRegion(BaseModel):
    region: str
    current: CostLineOut
    planned: CostLineOut
    total: CostLineOut


class UnpricedOut(BaseModel):
    kind: str = Field(description="person or planned_hire")
    region: str
    post: str
    level: int
    count: int
    reason: str


class BudgetOut(BaseModel):
    region: str
    year: int
    months: int
    as_of: date = Field(description="the day the headcount was taken")
    schedules: list[ScheduleRef]
    entry_level: int | None = Field(description="level at which planned hires are priced")
    current: CostLineOut
    planned: CostLineOut
    total: CostLineOut
    by_region: list[BudgetRegion]
    by_post: list[BudgetPost]
    unpriced: list[UnpricedOut]
    plans_available: bool = Field(description="false when recruitment could not be reached")
    warnings: list[str]


class BelowMinimumOut(BaseModel):
    personnel_id: int
    level: int
    step: int
    post: str
    fixed_pay: Money
    shortfall: Money


class PayDifferenceOut(BaseModel):
    component: str
    values: list[dict[str, str | int]] = Field(description="[{amount, headcount}]")
    reason: str


class UnequalPayOut(BaseModel):
    level: int
    step: int
    post: str
    headcount: int
    lowest: Money
    highest: Money
    spread: Money
    justified: bool = Field(description="true when only the assessment grade explains it")
    causes: list[PayDifferenceOut]
    members: list[dict[str, str | int]] = Field(description="[{personnel_id, fixed_pay}]")


class PegShortfallOut(BaseModel):
    dimension: str
    key: str
    headcount: int
    average_pay: Money
    pct_of_local_average: Decimal


class PayCheckRun(BaseModel):
    id: int
    region: str
    status: str


class PayCheckOut(BaseModel):
    region: str
    period: str
    runs: list[PayCheckRun]
    schedule: ScheduleRef
    headcount: int
    excluded_partial_month: int = Field(
        description="people paid for part of the month, left out of the comparison"
    )
    local_average_wage: Money
    minimum_wage: Money
    average_pay: Money | None = Field(description="mean fixed monthly pay")
    pct_of_local_average: Decimal | None
    pct_of_minimum_wage: Decimal | None
    below_minimum: list[BelowMinimumOut]
    unequal_pay: list[UnequalPayOut]
    below_peg: list[PegShortfallOut]
