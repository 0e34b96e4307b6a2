"""Compensation tables.

Money is stored as integer fen (``BigInteger``); hours and days as integer hundredths
(``150`` = 1.5 hours), so that every backend stores them exactly.

- ``pay_schedules``: one schedule per (region prefix, effective date), the api.md payload
  as validated JSON.
- ``payroll_inputs``: one row per person and period (overtime, unpaid leave, awards,
  post-tax deductions, special additional deductions).
- ``payroll_runs``: one run per region and month, with its status, who did what, the
  totals of the calculation and its warnings. At most one run that is not cancelled per
  (region, period) (a partial unique index); overlapping prefixes are refused by the
  service under a lock.
- ``payroll_run_schedules``: which schedules a calculation used.
- ``payslips``: every line of every person of a run, keyed by (run, person).
- ``tax_year_totals``: per person and tax year, the sums of the approved payslips (the
  year to date of cumulative withholding), maintained at approval.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import BigIntPK, UTCDateTime, json_type
from services.compensation.db import KERNEL_TABLES, CompensationBase

__all__ = [
    "KERNEL_TABLES",
    "CompensationBase",
    "PaySchedule",
    "PayrollInput",
    "PayrollRun",
    "PayrollRunSchedule",
    "Payslip",
    "RunStatus",
    "TaxYearTotal",
]


class RunStatus:
    DRAFT = "draft"
    CALCULATED = "calculated"
    APPROVED = "approved"
    PAID = "paid"
    CANCELLED = "cancelled"

    ALL = (DRAFT, CALCULATED, APPROVED, PAID, CANCELLED)
    # Runs whose payslips count for the tax year (cumulative withholding).
    CLOSED = (APPROVED, PAID)


class PaySchedule(CompensationBase):
    __tablename__ = "pay_schedules"
    __table_args__ = (UniqueConstraint("region_prefix", "effective_from"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region_prefix: Mapped[str] = mapped_column(String(9), nullable=False)
    effective_from: Mapped[date] = mapped_column(Date, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(json_type(), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __mapper_args__ = {"version_id_col": version}


class PayrollInput(CompensationBase):
    __tablename__ = "payroll_inputs"
    __table_args__ = (
        UniqueConstraint("personnel_id", "period"),
        Index("ix_payroll_inputs_period_region", "period", "region"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The person's region when the input was recorded (jurisdiction of the input).
    region: Mapped[str] = mapped_column(String(9), nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    overtime_weekday_centihours: Mapped[int] = mapped_column(Integer, nullable=False)
    overtime_rest_day_centihours: Mapped[int] = mapped_column(Integer, nullable=False)
    overtime_holiday_centihours: Mapped[int] = mapped_column(Integer, nullable=False)
    unpaid_leave_centidays: Mapped[int] = mapped_column(Integer, nullable=False)
    awards: Mapped[int] = mapped_column(BigInteger, nullable=False)
    deductions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    special_additional_deductions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __mapper_args__ = {"version_id_col": version}


class PayrollRun(CompensationBase):
    __tablename__ = "payroll_runs"
    __table_args__ = (
        Index("ix_payroll_runs_period_region", "period", "region"),
        # Backstop of the overlap rule for the exact same region and period.
        Index(
            "uq_payroll_runs_open_region_period",
            "region",
            "period",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(9), nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    # Inputs or schedules changed after the calculation: recalculate before approving.
    stale: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    headcount: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Totals in fen by line (gross, net, tax, contributions by item, ...); {} until calculated.
    totals: Mapped[dict[str, Any]] = mapped_column(json_type(), nullable=False)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    calculated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    calculated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __mapper_args__ = {"version_id_col": version}


class PayrollRunSchedule(CompensationBase):
    """A schedule used by a run's calculation (replaced on recalculation)."""

    __tablename__ = "payroll_run_schedules"

    run_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("payroll_runs.id", ondelete="CASCADE"), primary_key=True
    )
    schedule_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("pay_schedules.id"), primary_key=True, index=True
    )


class TaxYearTotal(CompensationBase):
    """A person's totals of a tax year over every approved or paid run, kept up to date
    at each approval: the year to date of the next calculation, read in one row per
    person instead of summing every payslip of the year. ``months_mask`` has bit ``m-1``
    set for each month ``m`` paid; ``last_period`` is the latest month included."""

    __tablename__ = "tax_year_totals"

    personnel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    months_mask: Mapped[int] = mapped_column(Integer, nullable=False)
    last_period: Mapped[str] = mapped_column(String(7), nullable=False)
    income: Mapped[int] = mapped_column(BigInteger, nullable=False)
    employee_contributions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    special_deductions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_withheld: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Payslip(CompensationBase):
    """One person's lines in one run. Amounts in fen; hours and days in hundredths.
    The columns are ``run_calculation.RECORD_FIELDS``, in that order (a test checks)."""

    __tablename__ = "payslips"

    run_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("payroll_runs.id", ondelete="CASCADE"), primary_key=True
    )
    personnel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    region: Mapped[str] = mapped_column(String(9), nullable=False)
    unit: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    id_number: Mapped[str | None] = mapped_column(String(18), nullable=True)
    post_category: Mapped[str | None] = mapped_column(String(20), nullable=True)
    post: Mapped[str] = mapped_column(String(50), nullable=False)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    last_grade: Mapped[str | None] = mapped_column(String(30), nullable=True)
    days_employed: Mapped[int] = mapped_column(Integer, nullable=False)
    days_in_period: Mapped[int] = mapped_column(Integer, nullable=False)
    overtime_weekday_centihours: Mapped[int] = mapped_column(Integer, nullable=False)
    overtime_rest_day_centihours: Mapped[int] = mapped_column(Integer, nullable=False)
    overtime_holiday_centihours: Mapped[int] = mapped_column(Integer, nullable=False)
    unpaid_leave_centidays: Mapped[int] = mapped_column(Integer, nullable=False)
    level_pay: Mapped[int] = mapped_column(BigInteger, nullable=False)
    position_pay: Mapped[int] = mapped_column(BigInteger, nullable=False)
    base_pay: Mapped[int] = mapped_column(BigInteger, nullable=False)
    performance_pay: Mapped[int] = mapped_column(BigInteger, nullable=False)
    allowances_total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # {"work_allowance": 35000, ...} in fen
    allowance_items: Mapped[dict[str, int]] = mapped_column(json_type(), nullable=False)
    overtime_weekday: Mapped[int] = mapped_column(BigInteger, nullable=False)
    overtime_rest_day: Mapped[int] = mapped_column(BigInteger, nullable=False)
    overtime_holiday: Mapped[int] = mapped_column(BigInteger, nullable=False)
    overtime_pay: Mapped[int] = mapped_column(BigInteger, nullable=False)
    awards: Mapped[int] = mapped_column(BigInteger, nullable=False)
    unpaid_leave_deduction: Mapped[int] = mapped_column(BigInteger, nullable=False)
    gross: Mapped[int] = mapped_column(BigInteger, nullable=False)
    contribution_base: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ee_pension: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ee_medical: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ee_unemployment: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ee_work_injury: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ee_maternity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ee_housing_fund: Mapped[int] = mapped_column(BigInteger, nullable=False)
    employee_contributions_total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    er_pension: Mapped[int] = mapped_column(BigInteger, nullable=False)
    er_medical: Mapped[int] = mapped_column(BigInteger, nullable=False)
    er_unemployment: Mapped[int] = mapped_column(BigInteger, nullable=False)
    er_work_injury: Mapped[int] = mapped_column(BigInteger, nullable=False)
    er_maternity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    er_housing_fund: Mapped[int] = mapped_column(BigInteger, nullable=False)
    employer_contributions_total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    months_employed: Mapped[int] = mapped_column(Integer, nullable=False)
    cumulative_income: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cumulative_employee_contributions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    special_additional_deductions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cumulative_special_deductions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cumulative_taxable_income: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cumulative_tax: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_withheld_to_date: Mapped[int] = mapped_column(BigInteger, nullable=False)
    deductions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    net: Mapped[int] = mapped_column(BigInteger, nullable=False)
    employer_cost: Mapped[int] = mapped_column(BigInteger, nullable=False)
