"""A payroll run's calculation, pure: roster snapshot + inputs + schedules + year to date
→ one payslip record per person, the run's totals, and its warnings. No SQL, no HTTP.

Rules written down here (the arithmetic itself lives in ``payslip`` and ``tax``):

- **Period** ``YYYY-MM``; the schedule that applies to a person is the most specific
  schedule in force on the first day of the period for the person's region.
- **Days employed** are the calendar days of the period from ``max(hire_date, first
  day)`` to ``min(left_date, last day)``, both inclusive (``left_date`` is the last day
  of service). Fixed pay is prorated by days employed ÷ days in the month. People with
  no day employed in the period are left out with a warning.
- **Performance pay** follows the last assessment grade the roster reports (``none``
  when there is none).
- **Year to date** sums every payslip of the tax year in approved or paid runs other
  than this one, up to and including this period (a person paid by two runs in one
  month, e.g. after a transfer, has the month counted once). ``months_employed`` counts
  the distinct earlier periods; this month adds one.
- Records are tuples in ``RECORD_FIELDS`` order (the ``payslips`` columns), so the writer
  can COPY them; the allowance items are JSON text. The run's totals are plain sums of
  the records' rounded line items.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson

from services.compensation.payslip import (
    CONTRIBUTION_ITEMS,
    NO_INPUTS,
    START_OF_YEAR,
    PayInputs,
    PayRates,
    Proration,
    YearToDate,
    calculate_payslip,
)
from services.compensation.schedule_rules import (
    NoPayForLevel,
    NoPayForPost,
    PaySchedule,
    UnknownGrade,
)

__all__ = [
    "RECORD_FIELDS",
    "CalculationProblems",
    "InputLine",
    "RunCalculation",
    "RunCalculator",
    "SnapshotPerson",
    "add_totals",
    "calculate_run",
    "period_bounds",
    "run_totals",
]


@dataclass(slots=True)
class SnapshotPerson:
    """One line of the roster's personnel snapshot."""

    id: int
    region: str
    unit: str | None
    post_category: str | None
    post: str
    level: int
    step: int
    status: str
    hire_date: date
    left_date: date | None
    last_grade: str | None
    name: str
    id_number: str | None


@dataclass(frozen=True, slots=True)
class InputLine:
    """A person's variable inputs for the period; hours and days in hundredths, money in fen."""

    overtime_weekday_centihours: int = 0
    overtime_rest_day_centihours: int = 0
    overtime_holiday_centihours: int = 0
    unpaid_leave_centidays: int = 0
    awards: int = 0
    deductions: int = 0
    special_additional_deductions: int = 0

    def to_pay_inputs(self) -> PayInputs:
        return PayInputs(
            overtime_weekday_hours=_hundredths(self.overtime_weekday_centihours),
            overtime_rest_day_hours=_hundredths(self.overtime_rest_day_centihours),
            overtime_holiday_hours=_hundredths(self.overtime_holiday_centihours),
            unpaid_leave_days=_hundredths(self.unpaid_leave_centidays),
            awards=self.awards,
            deductions=self.deductions,
            special_additional_deductions=self.special_additional_deductions,
        )


NO_INPUT_LINE = InputLine()


def _hundredths(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


@dataclass
class CalculationProblems:
    """Why a run cannot be calculated: everything found, grouped for the problem answer."""

    no_schedule: dict[str, int] = field(default_factory=dict)  # region → headcount
    no_pay_for_post: dict[str, int] = field(default_factory=dict)  # post → headcount
    no_pay_for_level: dict[int, int] = field(default_factory=dict)  # level → headcount
    unknown_grade: dict[str, int] = field(default_factory=dict)  # grade → headcount
    invalid_step: list[int] = field(default_factory=list)  # personnel ids

    def __bool__(self) -> bool:
        return bool(
            self.no_schedule
            or self.no_pay_for_post
            or self.no_pay_for_level
            or self.unknown_grade
            or self.invalid_step
        )


@dataclass
class RunCalculation:
    records: list[tuple[Any, ...]]
    headcount: int
    totals: dict[str, Any]
    warnings: list[dict[str, Any]]
    schedules_used: set[tuple[str, date]]


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a ``YYYY-MM`` period."""
    year, month = int(period[:4]), int(period[5:7])
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


RECORD_FIELDS: tuple[str, ...] = (
    "run_id",
    "personnel_id",
    "region",
    "unit",
    "name",
    "id_number",
    "post_category",
    "post",
    "level",
    "step",
    "last_grade",
    "days_employed",
    "days_in_period",
    "overtime_weekday_centihours",
    "overtime_rest_day_centihours",
    "overtime_holiday_centihours",
    "unpaid_leave_centidays",
    "level_pay",
    "position_pay",
    "base_pay",
    "performance_pay",
    "allowances_total",
    "allowance_items",
    "overtime_weekday",
    "overtime_rest_day",
    "overtime_holiday",
    "overtime_pay",
    "awards",
    "unpaid_leave_deduction",
    "gross",
    # constant for everyone priced by the same PayRates (see ``_contribution_fields``)
    "contribution_base",
    *(f"ee_{item}" for item in CONTRIBUTION_ITEMS),
    "employee_contributions_total",
    *(f"er_{item}" for item in CONTRIBUTION_ITEMS),
    "employer_contributions_total",
    "months_employed",
    "cumulative_income",
    "cumulative_employee_contributions",
    "special_additional_deductions",
    "cumulative_special_deductions",
    "cumulative_taxable_income",
    "cumulative_tax",
    "tax",
    "tax_withheld_to_date",
    "deductions",
    "net",
    "employer_cost",
)
"""The layout of a payslip record (the ``payslips`` table's columns)."""

# Run totals: key → record field summed.
_TOTALS: tuple[tuple[str, str], ...] = (
    ("level_pay", "level_pay"),
    ("position_pay", "position_pay"),
    ("base_pay", "base_pay"),
    ("performance_pay", "performance_pay"),
    ("allowances", "allowances_total"),
    ("overtime_pay", "overtime_pay"),
    ("awards", "awards"),
    ("unpaid_leave_deduction", "unpaid_leave_deduction"),
    ("gross", "gross"),
    ("employee_contributions_total", "employee_contributions_total"),
    ("employer_contributions_total", "employer_contributions_total"),
    ("special_additional_deductions", "special_additional_deductions"),
    ("tax", "tax"),
    ("deductions", "deductions"),
    ("net", "net"),
    ("employer_cost", "employer_cost"),
)
_NET = RECORD_FIELDS.index("net")


def _contribution_fields(rates: PayRates) -> tuple[int, ...]:
    """Contribution base, the six employee items, their total, the six employer items and
    their total: the same for everyone priced by ``rates`` (contributions are on the full
    monthly pay, even in a prorated month; see ``payslip``)."""
    ee = rates.employee_contributions
    er = rates.employer_contributions
    return (
        rates.contribution_base,
        *(ee[item] for item in CONTRIBUTION_ITEMS),
        rates.employee_contributions_total,
        *(er[item] for item in CONTRIBUTION_ITEMS),
        rates.employer_contributions_total,
    )


def _column_sum(records: list[tuple[Any, ...]], name: str) -> int:
    return sum(map(itemgetter(RECORD_FIELDS.index(name)), records))


def run_totals(records: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The run's totals in fen, from its records (plain sums of rounded line items)."""
    out: dict[str, Any] = {key: _column_sum(records, field) for key, field in _TOTALS}
    out["employee_contributions"] = {
        item: _column_sum(records, f"ee_{item}") for item in CONTRIBUTION_ITEMS
    }
    out["employer_contributions"] = {
        item: _column_sum(records, f"er_{item}") for item in CONTRIBUTION_ITEMS
    }
    return out


def add_totals(into: dict[str, Any], more: dict[str, Any]) -> None:
    """Add one set of run totals (``run_totals``) to another, in place."""
    for key, value in more.items():
        if isinstance(value, dict):
            add_totals(into.setdefault(key, dict.fromkeys(value, 0)), value)
        else:
            into[key] = into.get(key, 0) + value


class RunCalculator:
    """The calculation of one run in two passes, so that the records can be written as
    they are made (COPY of one chunk while the next is calculated):

    1. ``check()`` prices everyone (schedule, level, post, grade) and returns every
       problem that prevents the calculation, or ``None``;
    2. ``chunks(size)`` yields the payslip records, ``size`` at a time; ``totals``,
       ``headcount`` and ``warnings()`` are complete once it is exhausted.
    """

    def __init__(
        self,
        *,
        run_id: int,
        period: str,
        people: Iterable[SnapshotPerson],
        schedule_for: Callable[[str], tuple[str, date, PaySchedule] | None],
        inputs: Mapping[int, InputLine],
        ytd: Mapping[int, YearToDate],
    ) -> None:
        self.run_id = run_id
        self.period = period
        self.people = people
        self.schedule_for = schedule_for
        self.inputs = inputs
        self.ytd = ytd
        self.schedules_used: set[tuple[str, date]] = set()
        self.headcount = 0
        self.totals: dict[str, Any] = run_totals([])
        self.not_employed: list[int] = []
        self.negative_net: list[int] = []
        self._priced: list[tuple[SnapshotPerson, PayRates]] = []
        self._checked = False

    def check(self) -> CalculationProblems | None:
        """Price everyone; every problem found, or ``None`` when the run can be paid."""
        problems = CalculationProblems()
        schedules: dict[str, tuple[str, date, PaySchedule] | None] = {}
        priced = self._priced
        for person in self.people:
            entry = schedules.get(person.region, _MISSING)
            if entry is _MISSING:
                entry = schedules[person.region] = self.schedule_for(person.region)
            if entry is None:
                problems.no_schedule[person.region] = problems.no_schedule.get(person.region, 0) + 1
                continue
            try:
                rates = entry[2].rates_for(
                    person.level, person.step, person.post, person.last_grade
                )
            except NoPayForPost:
                problems.no_pay_for_post[person.post] = (
                    problems.no_pay_for_post.get(person.post, 0) + 1
                )
                continue
            except NoPayForLevel:
                problems.no_pay_for_level[person.level] = (
                    problems.no_pay_for_level.get(person.level, 0) + 1
                )
                continue
            except UnknownGrade:
                grade = str(person.last_grade)
                problems.unknown_grade[grade] = problems.unknown_grade.get(grade, 0) + 1
                continue
            except ValueError:
                problems.invalid_step.append(person.id)
                continue
            self.schedules_used.add((entry[0], entry[1]))
            priced.append((person, rates))
        self._checked = True
        if problems:
            priced.clear()
            return problems
        return None

    def chunks(self, size: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
        """The payslip records, ``size`` at a time (after a successful ``check``)."""
        if not self._checked:
            raise RuntimeError("check() the run before calculating it")
        for start in range(0, len(self._priced), size):
            records = self._records(self._priced[start : start + size])
            self.headcount += len(records)
            add_totals(self.totals, run_totals(records))
            self.negative_net.extend(r[1] for r in records if r[_NET] < 0)
            if records:
                yield records

    def _records(self, priced: list[tuple[SnapshotPerson, PayRates]]) -> list[tuple[Any, ...]]:
        first, last = period_bounds(self.period)
        days_in_period = (last - first).days + 1
        full = Proration(days_in_period, days_in_period)
        prorations: dict[int, Proration] = {}
        # contribution fields per PayRates (kept alive by the schedule's cache)
        per_rates: dict[int, tuple[int, ...]] = {}
        allowance_json: dict[tuple[tuple[str, int], ...], str] = {}
        inputs, ytd, run_id = self.inputs, self.ytd, self.run_id
        records: list[tuple[Any, ...]] = []
        append = records.append
        for person, rates in priced:
            start = person.hire_date if person.hire_date > first else first
            end = last if person.left_date is None or person.left_date > last else person.left_date
            days = (end - start).days + 1
            if days <= 0:
                self.not_employed.append(person.id)
                continue
            if days == days_in_period:
                proration = full
            else:
                proration = prorations.get(days) or prorations.setdefault(
                    days, Proration(days, days_in_period)
                )
            line = inputs.get(person.id, NO_INPUT_LINE)
            p = calculate_payslip(
                rates,
                NO_INPUTS if line is NO_INPUT_LINE else line.to_pay_inputs(),
                proration,
                ytd.get(person.id, START_OF_YEAR),
            )
            contributions = per_rates.get(id(rates))
            if contributions is None:
                contributions = per_rates[id(rates)] = _contribution_fields(rates)
            allowances = allowance_json.get(p.allowances)
            if allowances is None:
                allowances = allowance_json[p.allowances] = orjson.dumps(
                    dict(p.allowances)
                ).decode()
            append(
                (
                    run_id,
                    person.id,
                    person.region,
                    person.unit,
                    person.name,
                    person.id_number,
                    person.post_category,
                    person.post,
                    person.level,
                    person.step,
                    person.last_grade,
                    days,
                    days_in_period,
                    line.overtime_weekday_centihours,
                    line.overtime_rest_day_centihours,
                    line.overtime_holiday_centihours,
                    line.unpaid_leave_centidays,
                    p.level_pay,
                    p.position_pay,
                    p.base_pay,
                    p.performance_pay,
                    p.allowances_total,
                    allowances,
                    p.overtime_weekday,
                    p.overtime_rest_day,
                    p.overtime_holiday,
                    p.overtime_pay,
                    p.awards,
                    p.unpaid_leave_deduction,
                    p.gross,
                    *contributions,
                    p.months_employed,
                    p.cumulative_income,
                    p.cumulative_employee_contributions,
                    line.special_additional_deductions,
                    p.cumulative_special_deductions,
                    p.cumulative_taxable_income,
                    p.cumulative_tax,
                    p.tax,
                    p.tax_withheld_to_date,
                    p.deductions,
                    p.net,
                    p.employer_cost,
                )
            )
        return records

    def warnings(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.not_employed:
            out.append(
                {
                    "code": "not_employed_in_period",
                    "detail": f"{len(self.not_employed)} people in the snapshot have no day "
                    "employed in the period and are left out",
                    "personnel_ids": self.not_employed[:100],
                    "count": len(self.not_employed),
                }
            )
        if self.negative_net:
            out.append(
                {
                    "code": "negative_net_pay",
                    "detail": f"{len(self.negative_net)} payslips have a negative net pay "
                    "(deductions larger than pay); correct the inputs and recalculate "
                    "before approval",
                    "personnel_ids": self.negative_net[:100],
                    "count": len(self.negative_net),
                }
            )
        return out


def calculate_run(
    *,
    run_id: int,
    period: str,
    people: Iterable[SnapshotPerson],
    schedule_for: Callable[[str], tuple[str, date, PaySchedule] | None],
    inputs: Mapping[int, InputLine],
    ytd: Mapping[int, YearToDate],
) -> RunCalculation | CalculationProblems:
    """Calculate every payslip of a run at once, or return every problem that prevents
    it (``RunCalculator`` in one go).

    ``schedule_for(region)`` gives the (prefix, effective_from, schedule) in force for a
    person's region, or ``None``; ``ytd`` the year to date of people with approved pay
    earlier in the year (``START_OF_YEAR`` for the others). Nothing is written here.
    """
    calc = RunCalculator(
        run_id=run_id,
        period=period,
        people=people,
        schedule_for=schedule_for,
        inputs=inputs,
        ytd=ytd,
    )
    problems = calc.check()
    if problems is not None:
        return problems
    records = [record for chunk in calc.chunks() for record in chunk]
    return RunCalculation(
        records=records,
        headcount=calc.headcount,
        totals=calc.totals,
        warnings=calc.warnings(),
        schedules_used=calc.schedules_used,
    )


_MISSING: Any = object()
