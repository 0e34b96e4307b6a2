"""Rows → response models (fen → decimal strings, hundredths → decimals)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from services.common.resident_id import mask
from services.compensation.models import PayrollInput, PayrollRun, PaySchedule, Payslip
from services.compensation.money import fen_to_decimal
from services.compensation.payslip import CONTRIBUTION_ITEMS
from services.compensation.schemas import (
    OvertimeHoursOut,
    PayrollInputOut,
    PayrollRunOut,
    PayslipOut,
    RunTotals,
    RunWarning,
    ScheduleOut,
    ScheduleRef,
    ScheduleSummary,
)


def hundredths(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


def totals_out(totals: dict[str, Any]) -> RunTotals | None:
    if not totals:
        return None

    def m(key: str) -> Decimal:
        return fen_to_decimal(int(totals.get(key, 0)))

    ee = totals.get("employee_contributions") or {}
    er = totals.get("employer_contributions") or {}
    return RunTotals(
        level_pay=m("level_pay"),
        position_pay=m("position_pay"),
        base_pay=m("base_pay"),
        performance_pay=m("performance_pay"),
        allowances=m("allowances"),
        overtime_pay=m("overtime_pay"),
        awards=m("awards"),
        unpaid_leave_deduction=m("unpaid_leave_deduction"),
        gross=m("gross"),
        employee_contributions={i: fen_to_decimal(int(ee.get(i, 0))) for i in CONTRIBUTION_ITEMS},
        employee_contributions_total=m("employee_contributions_total"),
        employer_contributions={i: fen_to_decimal(int(er.get(i, 0))) for i in CONTRIBUTION_ITEMS},
        employer_contributions_total=m("employer_contributions_total"),
        special_additional_deductions=m("special_additional_deductions"),
        tax=m("tax"),
        deductions=m("deductions"),
        net=m("net"),
        employer_cost=m("employer_cost"),
    )


def run_out(run: PayrollRun, schedules: list[tuple[str, date]]) -> PayrollRunOut:
    return PayrollRunOut(
        id=run.id,
        region=run.region,
        period=run.period,
        status=run.status,
        stale=run.stale,
        headcount=run.headcount,
        totals=totals_out(run.totals),
        warnings=[RunWarning.model_validate(w) for w in run.warnings or []],
        schedules=[ScheduleRef(region_prefix=p, effective_from=d) for p, d in schedules],
        created_by=run.created_by,
        created_at=run.created_at,
        calculated_by=run.calculated_by,
        calculated_at=run.calculated_at,
        approved_by=run.approved_by,
        approved_at=run.approved_at,
        paid_by=run.paid_by,
        paid_at=run.paid_at,
        cancelled_by=run.cancelled_by,
        cancelled_at=run.cancelled_at,
        version=run.version,
    )


def payslip_out(p: Payslip, *, show_id_number: bool) -> PayslipOut:
    f = fen_to_decimal
    id_number = p.id_number
    if id_number and not show_id_number:
        id_number = mask(id_number)
    return PayslipOut(
        personnel_id=p.personnel_id,
        name=p.name,
        id_number=id_number,
        region=p.region,
        unit=p.unit,
        post_category=p.post_category,
        post=p.post,
        level=p.level,
        step=p.step,
        last_grade=p.last_grade,
        days_employed=p.days_employed,
        days_in_period=p.days_in_period,
        level_pay=f(p.level_pay),
        position_pay=f(p.position_pay),
        base_pay=f(p.base_pay),
        performance_pay=f(p.performance_pay),
        allowances=f(p.allowances_total),
        allowance_items={k: f(int(v)) for k, v in (p.allowance_items or {}).items()},
        overtime_hours=OvertimeHoursOut(
            weekday=hundredths(p.overtime_weekday_centihours),
            rest_day=hundredths(p.overtime_rest_day_centihours),
            holiday=hundredths(p.overtime_holiday_centihours),
        ),
        overtime_items={
            "weekday": f(p.overtime_weekday),
            "rest_day": f(p.overtime_rest_day),
            "holiday": f(p.overtime_holiday),
        },
        overtime_pay=f(p.overtime_pay),
        awards=f(p.awards),
        unpaid_leave_days=hundredths(p.unpaid_leave_centidays),
        unpaid_leave_deduction=f(p.unpaid_leave_deduction),
        gross=f(p.gross),
        contribution_base=f(p.contribution_base),
        employee_contributions={
            "pension": f(p.ee_pension),
            "medical": f(p.ee_medical),
            "unemployment": f(p.ee_unemployment),
            "work_injury": f(p.ee_work_injury),
            "maternity": f(p.ee_maternity),
            "housing_fund": f(p.ee_housing_fund),
        },
        employee_contributions_total=f(p.employee_contributions_total),
        employer_contributions={
            "pension": f(p.er_pension),
            "medical": f(p.er_medical),
            "unemployment": f(p.er_unemployment),
            "work_injury": f(p.er_work_injury),
            "maternity": f(p.er_maternity),
            "housing_fund": f(p.er_housing_fund),
        },
        employer_contributions_total=f(p.employer_contributions_total),
        months_employed=p.months_employed,
        cumulative_income=f(p.cumulative_income),
        cumulative_employee_contributions=f(p.cumulative_employee_contributions),
        special_additional_deductions=f(p.special_additional_deductions),
        cumulative_special_deductions=f(p.cumulative_special_deductions),
        cumulative_taxable_income=f(p.cumulative_taxable_income),
        cumulative_tax=f(p.cumulative_tax),
        tax=f(p.tax),
        deductions=f(p.deductions),
        net=f(p.net),
        employer_cost=f(p.employer_cost),
    )


def input_out(row: PayrollInput) -> PayrollInputOut:
    return PayrollInputOut(
        id=row.id,
        personnel_id=row.personnel_id,
        region=row.region,
        period=row.period,
        overtime_hours=OvertimeHoursOut(
            weekday=hundredths(row.overtime_weekday_centihours),
            rest_day=hundredths(row.overtime_rest_day_centihours),
            holiday=hundredths(row.overtime_holiday_centihours),
        ),
        unpaid_leave_days=hundredths(row.unpaid_leave_centidays),
        awards=fen_to_decimal(row.awards),
        deductions=fen_to_decimal(row.deductions),
        special_additional_deductions=fen_to_decimal(row.special_additional_deductions),
        note=row.note,
        version=row.version,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def schedule_out(row: PaySchedule) -> ScheduleOut:
    payload = dict(row.payload)
    payload.setdefault("tax_table", None)
    payload.setdefault("allowances", [])
    return ScheduleOut.model_validate(
        {
            **payload,
            "region_prefix": row.region_prefix,
            "effective_from": row.effective_from,
            "version": row.version,
            "created_by": row.created_by,
            "created_at": row.created_at,
            "updated_by": row.updated_by,
            "updated_at": row.updated_at,
        }
    )


def schedule_summary(row: PaySchedule) -> ScheduleSummary:
    return ScheduleSummary(
        region_prefix=row.region_prefix,
        effective_from=row.effective_from,
        version=row.version,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )
