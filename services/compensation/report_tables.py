"""The compensation reports as tables for CSV and XLSX exports (`kernel.tabular`):
fixed columns, Chinese headers with `?lang=zh`, and a totals row where the table has
totals. JSON stays the endpoints' own models."""

from __future__ import annotations

from typing import Any

from kernel.tabular import Column
from services.compensation.schemas import BudgetOut, PayCheckOut, RunSummary

SUMMARY_COLUMNS = [
    Column("dimension", "维度"),
    Column("key", "项目"),
    Column("headcount", "人数"),
    Column("gross", "应发合计"),
    Column("employee_contributions", "个人缴纳社保公积金"),
    Column("tax", "个人所得税"),
    Column("net", "实发合计"),
    Column("employer_contributions", "单位缴纳社保公积金"),
    Column("employer_cost", "用人成本"),
]


def summary_table(s: RunSummary) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = [
        {"dimension": dimension, **group.model_dump(), "key": group.key or ""}
        for dimension, groups in (("unit", s.by_unit), ("post", s.by_post))
        for group in groups
    ]
    t = s.totals
    totals = {
        "headcount": s.headcount,
        "gross": t.gross,
        "employee_contributions": t.employee_contributions_total,
        "tax": t.tax,
        "net": t.net,
        "employer_contributions": t.employer_contributions_total,
        "employer_cost": s.employer_cost,
    }
    return rows, totals


BUDGET_COLUMNS = [
    Column("post", "岗位"),
    Column("current_headcount", "现有人数"),
    Column("current_cost", "现有人员年度成本"),
    Column("planned_headcount", "计划招聘人数"),
    Column("planned_cost", "计划招聘年度成本"),
    Column("headcount", "合计人数"),
    Column("fixed_pay", "固定工资"),
    Column("employer_contributions", "单位缴纳社保公积金"),
    Column("total", "年度总成本"),
]


def budget_table(b: BudgetOut) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    def line(current: Any, planned: Any, total: Any) -> dict[str, Any]:
        return {
            "current_headcount": current.headcount,
            "current_cost": current.total,
            "planned_headcount": planned.headcount,
            "planned_cost": planned.total,
            "headcount": total.headcount,
            "fixed_pay": total.fixed_pay,
            "employer_contributions": total.employer_contributions,
            "total": total.total,
        }

    rows = [{"post": p.post, **line(p.current, p.planned, p.total)} for p in b.by_post]
    return rows, line(b.current, b.planned, b.total)


PAY_CHECK_COLUMNS = [
    Column("finding", "问题"),
    Column("level", "级别"),
    Column("step", "档次"),
    Column("post", "岗位"),
    Column("personnel_id", "人员编号"),
    Column("headcount", "人数"),
    Column("lowest", "最低"),
    Column("highest", "最高"),
    Column("shortfall", "差额"),
    Column("cause", "原因"),
]


def pay_check_table(c: PayCheckOut) -> tuple[list[dict[str, Any]], None]:
    rows: list[dict[str, Any]] = [
        {
            "finding": "below_minimum",
            "level": b.level,
            "step": b.step,
            "post": b.post,
            "personnel_id": b.personnel_id,
            "headcount": 1,
            "lowest": b.fixed_pay,
            "highest": b.fixed_pay,
            "shortfall": b.shortfall,
            "cause": "below the minimum wage",
        }
        for b in c.below_minimum
    ]
    rows += [
        {
            "finding": "unequal_pay",
            "level": u.level,
            "step": u.step,
            "post": u.post,
            "headcount": u.headcount,
            "lowest": u.lowest,
            "highest": u.highest,
            "shortfall": u.spread,
            "cause": "; ".join(f"{d.component}: {d.reason}" for d in u.causes),
        }
        for u in c.unequal_pay
    ]
    return rows, None
