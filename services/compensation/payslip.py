"""The monthly payslip of one auxiliary: pure arithmetic on integer fen.

Structure (domain.md, "Compensation"; api.md, "Compensation"):

- base pay = level pay + position pay;
- fixed monthly pay = base pay + performance pay + allowances;
- gross = fixed pay (prorated) + overtime + awards − unpaid-leave deduction;
- overtime of each kind = monthly base pay × hours × multiplier ÷ 174 (21.75 days × 8 h),
  with multipliers 1.5 (weekday), 2 (rest day), 3 (statutory holiday);
- unpaid-leave deduction = monthly base pay × days ÷ 21.75, clamped to the prorated fixed
  pay of the month, so that it never eats overtime or awards and gross never goes below 0;
- contribution base = **un-prorated** fixed monthly pay clamped to
  [floor ratio, cap ratio] × local average wage; each item on each side = base × rate;
- tax: cumulative withholding (``tax.py``) on gross, with this month's employee
  contributions and special additional deductions, and months employed including this one;
- net = gross − employee contributions − tax − post-tax deductions (a negative net is
  returned as is, so that the identity always holds; the run layer should flag it);
- employer cost = gross + employer contributions.

Overtime and unpaid leave are reckoned on the full monthly base pay (it is a rate), even in
a prorated month. Each line item is rounded once, half up to the fen (see ``money``).

Speed: rates are converted from ``Decimal`` to exact integer ratios once, when
``ContributionRules`` and ``PayRates`` are built. Everything that depends only on the
rates (base pay, contribution base, both sides' contributions) is precomputed on
``PayRates``, so share one ``PayRates`` between everyone on the same level, step, post and
grade (``schedule_rules.PaySchedule.rates_for`` caches them). ``calculate_payslip`` itself
uses integer arithmetic only; ``Decimal`` is touched only to read non-zero overtime hours
and leave days as exact ratios (memoised, since the same values recur across a run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from services.compensation.money import div_round, fen_str
from services.compensation.tax import BASIC_DEDUCTION_PER_MONTH, DEFAULT_TAX_TABLE_2019, TaxTable

__all__ = [
    "CONTRIBUTION_ITEMS",
    "FULL_PERIOD",
    "HOURS_PER_MONTH",
    "NO_INPUTS",
    "START_OF_YEAR",
    "WORKDAYS_PER_MONTH",
    "ContributionRules",
    "ItemRates",
    "PayInputs",
    "PayRates",
    "Payslip",
    "Proration",
    "YearToDate",
    "calculate_payslip",
]

CONTRIBUTION_ITEMS: tuple[str, ...] = (
    "pension",
    "medical",
    "unemployment",
    "work_injury",
    "maternity",
    "housing_fund",
)
"""The "five insurances and one fund", in payslip order."""

WORKDAYS_PER_MONTH = Decimal("21.75")
HOURS_PER_MONTH = 174  # 21.75 × 8
# 1 / 21.75 == 4 / 87
_LEAVE_NUM, _LEAVE_DEN = 4, 87

_ZERO = Decimal(0)
_ONE = Decimal(1)


def _check_rate(name: str, rate: Any, *, upper: Decimal | None = _ONE) -> None:
    if not isinstance(rate, Decimal):
        raise TypeError(f"{name} must be a Decimal")
    if not rate.is_finite():
        raise ValueError(f"{name} must be finite")
    if rate < 0:
        raise ValueError(f"{name} cannot be negative")
    if upper is not None and rate > upper:
        raise ValueError(f"{name} cannot exceed {upper}")


def _check_fen(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int number of fen")
    if value < 0:
        raise ValueError(f"{name} cannot be negative")


@dataclass(frozen=True, slots=True)
class ItemRates:
    """Rates of one contribution item, as fractions of the base (``Decimal("0.08")`` = 8%)."""

    employer: Decimal
    employee: Decimal

    def __post_init__(self) -> None:
        _check_rate("employer rate", self.employer)
        _check_rate("employee rate", self.employee)


@dataclass(frozen=True)
class ContributionRules:
    """Social insurance and housing fund rules of a region and year.

    ``rates`` maps items of ``CONTRIBUTION_ITEMS`` to their rates; an item left out is not
    contributed (rate 0 on both sides, e.g. maternity merged into medical). ``floor`` and
    ``cap`` (fen) are the ratios × the local average wage, each rounded once.
    """

    rates: Mapping[str, ItemRates]
    base_floor_ratio: Decimal
    base_cap_ratio: Decimal
    local_average_wage: int
    floor: int = field(init=False)
    cap: int = field(init=False)
    # (item, numerator, denominator) for every item, in CONTRIBUTION_ITEMS order.
    _employer: tuple[tuple[str, int, int], ...] = field(init=False, repr=False, compare=False)
    _employee: tuple[tuple[str, int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(CONTRIBUTION_ITEMS)
        if unknown:
            raise ValueError(f"unknown contribution item(s): {', '.join(sorted(unknown))}")
        for item, r in self.rates.items():
            if not isinstance(r, ItemRates):
                raise TypeError(f"rates[{item!r}] must be ItemRates")
        _check_rate("base_floor_ratio", self.base_floor_ratio, upper=None)
        _check_rate("base_cap_ratio", self.base_cap_ratio, upper=None)
        _check_fen("local_average_wage", self.local_average_wage)
        if self.base_floor_ratio > self.base_cap_ratio:
            raise ValueError("base_floor_ratio cannot exceed base_cap_ratio")
        object.__setattr__(self, "rates", MappingProxyType(dict(self.rates)))
        fn, fd = self.base_floor_ratio.as_integer_ratio()
        cn, cd = self.base_cap_ratio.as_integer_ratio()
        object.__setattr__(self, "floor", div_round(self.local_average_wage * fn, fd))
        object.__setattr__(self, "cap", div_round(self.local_average_wage * cn, cd))
        zero = ItemRates(_ZERO, _ZERO)
        employer: list[tuple[str, int, int]] = []
        employee: list[tuple[str, int, int]] = []
        for item in CONTRIBUTION_ITEMS:
            r = self.rates.get(item, zero)
            employer.append((item, *r.employer.as_integer_ratio()))
            employee.append((item, *r.employee.as_integer_ratio()))
        object.__setattr__(self, "_employer", tuple(employer))
        object.__setattr__(self, "_employee", tuple(employee))

    def base_for(self, fixed_monthly_pay: int) -> int:
        """The contribution base: fixed monthly pay clamped to [floor, cap]."""
        if fixed_monthly_pay < self.floor:
            return self.floor
        if fixed_monthly_pay > self.cap:
            return self.cap
        return fixed_monthly_pay

    def employee_amounts(self, base: int) -> dict[str, int]:
        """Employee contribution of every item in ``CONTRIBUTION_ITEMS``, each rounded once."""
        return {item: (2 * base * n + d) // (2 * d) for item, n, d in self._employee}

    def employer_amounts(self, base: int) -> dict[str, int]:
        """Employer contribution of every item in ``CONTRIBUTION_ITEMS``, each rounded once."""
        return {item: (2 * base * n + d) // (2 * d) for item, n, d in self._employer}


@dataclass(frozen=True)
class PayRates:
    """What one person is paid per month at full attendance, and the rules applied to it.

    Amounts in fen. ``allowances`` is a sequence of ``(name, fen)`` (stored as a tuple).
    Contribution rates, base floor/cap ratios and the local average wage live in
    ``contributions`` (shared by everyone in a region and year); ``tax_table`` and
    ``basic_deduction_per_month`` are the tax rules. The fields after ``init=False`` are
    derived once on construction.
    """

    level_pay: int
    position_pay: int
    performance_pay: int
    allowances: Sequence[tuple[str, int]]
    contributions: ContributionRules
    tax_table: TaxTable = DEFAULT_TAX_TABLE_2019
    basic_deduction_per_month: int = BASIC_DEDUCTION_PER_MONTH
    base_pay: int = field(init=False)
    allowances_total: int = field(init=False)
    fixed_pay: int = field(init=False)
    contribution_base: int = field(init=False)
    employee_contributions: Mapping[str, int] = field(init=False)
    employee_contributions_total: int = field(init=False)
    employer_contributions: Mapping[str, int] = field(init=False)
    employer_contributions_total: int = field(init=False)
    allowance_items: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)
    # Plain dicts behind the read-only views: ``dict.copy()`` is ~10x faster than
    # ``dict(mappingproxy)`` in the payslip loop.
    _employee: dict[str, int] = field(init=False, repr=False, compare=False)
    _employer: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_fen("level_pay", self.level_pay)
        _check_fen("position_pay", self.position_pay)
        _check_fen("performance_pay", self.performance_pay)
        _check_fen("basic_deduction_per_month", self.basic_deduction_per_month)
        allowances = tuple((str(name), amount) for name, amount in self.allowances)
        for name, amount in allowances:
            _check_fen(f"allowance {name!r}", amount)
        if len({name for name, _ in allowances}) != len(allowances):
            raise ValueError("allowance names must be unique")
        if not isinstance(self.contributions, ContributionRules):
            raise TypeError("contributions must be ContributionRules")
        if not isinstance(self.tax_table, TaxTable):
            raise TypeError("tax_table must be a TaxTable")
        s = object.__setattr__
        s(self, "allowances", allowances)
        s(self, "allowance_items", allowances)
        base = self.level_pay + self.position_pay
        allowances_total = sum(a for _, a in allowances)
        fixed = base + self.performance_pay + allowances_total
        cbase = self.contributions.base_for(fixed)
        employee = self.contributions.employee_amounts(cbase)
        employer = self.contributions.employer_amounts(cbase)
        s(self, "base_pay", base)
        s(self, "allowances_total", allowances_total)
        s(self, "fixed_pay", fixed)
        s(self, "contribution_base", cbase)
        s(self, "employee_contributions", MappingProxyType(employee))
        s(self, "employee_contributions_total", sum(employee.values()))
        s(self, "employer_contributions", MappingProxyType(employer))
        s(self, "employer_contributions_total", sum(employer.values()))
        s(self, "_employee", employee)
        s(self, "_employer", employer)


def _check_amount(name: str, value: Any) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite")
    if value < 0:
        raise ValueError(f"{name} cannot be negative")


@dataclass(frozen=True, slots=True)
class PayInputs:
    """Variable inputs of one person for one month. Hours and days are ``Decimal`` ≥ 0
    (fractions such as 1.5 allowed); money is int fen ≥ 0. ``deductions`` are post-tax."""

    overtime_weekday_hours: Decimal = _ZERO
    overtime_rest_day_hours: Decimal = _ZERO
    overtime_holiday_hours: Decimal = _ZERO
    unpaid_leave_days: Decimal = _ZERO
    awards: int = 0
    deductions: int = 0
    special_additional_deductions: int = 0

    def __post_init__(self) -> None:
        # Fast path for the common valid case; the slow path names the offending field.
        w, r, h, u = (
            self.overtime_weekday_hours,
            self.overtime_rest_day_hours,
            self.overtime_holiday_hours,
            self.unpaid_leave_days,
        )
        a, d, s = self.awards, self.deductions, self.special_additional_deductions
        if (
            type(w) is Decimal
            and type(r) is Decimal
            and type(h) is Decimal
            and type(u) is Decimal
            and type(a) is int
            and type(d) is int
            and type(s) is int
            and w.is_finite()
            and r.is_finite()
            and h.is_finite()
            and u.is_finite()
            and w >= 0
            and r >= 0
            and h >= 0
            and u >= 0
            and a >= 0
            and d >= 0
            and s >= 0
        ):
            return
        _check_amount("overtime_weekday_hours", w)
        _check_amount("overtime_rest_day_hours", r)
        _check_amount("overtime_holiday_hours", h)
        _check_amount("unpaid_leave_days", u)
        _check_fen("awards", a)
        _check_fen("deductions", d)
        _check_fen("special_additional_deductions", s)


NO_INPUTS = PayInputs()


@dataclass(frozen=True, slots=True)
class Proration:
    """Share of the month employed, applied to fixed monthly pay (base, performance,
    allowances), e.g. ``Proration(17, 31)`` for someone who joined on the 15th of a
    31-day month. ``0 <= numerator <= denominator``, ``denominator > 0``."""

    numerator: int = 1
    denominator: int = 1

    def __post_init__(self) -> None:
        if self.denominator <= 0:
            raise ValueError("proration denominator must be positive")
        if not 0 <= self.numerator <= self.denominator:
            raise ValueError("proration numerator must be between 0 and the denominator")

    @property
    def is_full(self) -> bool:
        return self.numerator == self.denominator


FULL_PERIOD = Proration(1, 1)


@dataclass(frozen=True, slots=True)
class YearToDate:
    """Totals of this tax year from earlier approved runs (this month excluded), in fen.

    ``months_employed`` counts months of this year already paid (0-11).
    """

    cumulative_income: int = 0
    months_employed: int = 0
    cumulative_employee_contributions: int = 0
    cumulative_special_deductions: int = 0
    tax_withheld_so_far: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.months_employed <= 11:
            raise ValueError("months_employed before this month must be between 0 and 11")
        if self.cumulative_income < 0 or self.cumulative_employee_contributions < 0:
            raise ValueError("cumulative amounts cannot be negative")
        if self.cumulative_special_deductions < 0 or self.tax_withheld_so_far < 0:
            raise ValueError("cumulative amounts cannot be negative")


START_OF_YEAR = YearToDate()


@dataclass(slots=True)
class Payslip:
    """Every line of one payslip, in fen. ``base_pay == level_pay + position_pay``;
    ``allowances`` is itemised as ``(name, fen)``; ``overtime_pay`` is the sum of the three
    kinds. The cumulative fields include this month; ``year_to_date()`` gives the input for
    next month's payslip. Not frozen, because a frozen 29-field ``__init__`` costs ~1.5 µs
    per payslip: treat it as read-only."""

    level_pay: int
    position_pay: int
    base_pay: int
    performance_pay: int
    allowances: tuple[tuple[str, int], ...]
    allowances_total: int
    overtime_weekday: int
    overtime_rest_day: int
    overtime_holiday: int
    overtime_pay: int
    awards: int
    unpaid_leave_deduction: int
    gross: int
    contribution_base: int
    employee_contributions: dict[str, int]
    employee_contributions_total: int
    employer_contributions: dict[str, int]
    employer_contributions_total: int
    months_employed: int
    cumulative_income: int
    cumulative_employee_contributions: int
    cumulative_special_deductions: int
    cumulative_taxable_income: int
    cumulative_tax: int
    tax: int
    tax_withheld_to_date: int
    deductions: int
    net: int
    employer_cost: int

    def year_to_date(self) -> YearToDate:
        """The year-to-date totals after this payslip (input to next month's)."""
        return YearToDate(
            cumulative_income=self.cumulative_income,
            months_employed=self.months_employed,
            cumulative_employee_contributions=self.cumulative_employee_contributions,
            cumulative_special_deductions=self.cumulative_special_deductions,
            tax_withheld_so_far=self.tax_withheld_to_date,
        )

    def to_api(self) -> dict[str, Any]:
        """The api.md payslip lines with money as decimal strings (no ``personnel_id``)."""
        return {
            "base_pay": fen_str(self.base_pay),
            "level_pay": fen_str(self.level_pay),
            "position_pay": fen_str(self.position_pay),
            "performance_pay": fen_str(self.performance_pay),
            "allowances": fen_str(self.allowances_total),
            "allowance_items": {name: fen_str(a) for name, a in self.allowances},
            "overtime_pay": fen_str(self.overtime_pay),
            "overtime_items": {
                "weekday": fen_str(self.overtime_weekday),
                "rest_day": fen_str(self.overtime_rest_day),
                "holiday": fen_str(self.overtime_holiday),
            },
            "awards": fen_str(self.awards),
            "unpaid_leave_deduction": fen_str(self.unpaid_leave_deduction),
            "gross": fen_str(self.gross),
            "contribution_base": fen_str(self.contribution_base),
            "employee_contributions": {
                k: fen_str(v) for k, v in self.employee_contributions.items()
            },
            "employee_contributions_total": fen_str(self.employee_contributions_total),
            "employer_contributions": {
                k: fen_str(v) for k, v in self.employer_contributions.items()
            },
            "employer_contributions_total": fen_str(self.employer_contributions_total),
            "cumulative_income": fen_str(self.cumulative_income),
            "cumulative_taxable_income": fen_str(self.cumulative_taxable_income),
            "tax": fen_str(self.tax),
            "deductions": fen_str(self.deductions),
            "net": fen_str(self.net),
            "employer_cost": fen_str(self.employer_cost),
        }


_RATIOS: dict[Decimal, tuple[int, int]] = {}
_RATIOS_MAX = 4096


def _ratio(x: Decimal) -> tuple[int, int]:
    """``x.as_integer_ratio()``, memoised: hours and days repeat a lot across a run."""
    r = _RATIOS.get(x)
    if r is None:
        r = x.as_integer_ratio()
        if len(_RATIOS) < _RATIOS_MAX:
            _RATIOS[x] = r
    return r


def _overtime(base: int, hours: Decimal, mult_num: int, mult_den: int) -> int:
    # base × hours × multiplier ÷ 174, one rounding (all terms ≥ 0).
    n, d = _ratio(hours)
    den = 2 * d * mult_den * HOURS_PER_MONTH
    return (2 * base * n * mult_num + d * mult_den * HOURS_PER_MONTH) // den


def calculate_payslip(
    rates: PayRates,
    inputs: PayInputs = NO_INPUTS,
    proration: Proration = FULL_PERIOD,
    ytd: YearToDate = START_OF_YEAR,
) -> Payslip:
    """Calculate one month's payslip. Pure and integer-only; see the module docstring."""
    num = proration.numerator
    den = proration.denominator
    if num == den:
        level = rates.level_pay
        position = rates.position_pay
        performance = rates.performance_pay
        allowances = rates.allowance_items
        allowances_total = rates.allowances_total
    else:
        den2 = 2 * den
        level = (2 * rates.level_pay * num + den) // den2
        position = (2 * rates.position_pay * num + den) // den2
        performance = (2 * rates.performance_pay * num + den) // den2
        allowances = tuple((name, (2 * a * num + den) // den2) for name, a in rates.allowance_items)
        allowances_total = sum(a for _, a in allowances)
    base = level + position
    fixed = base + performance + allowances_total

    monthly_base = rates.base_pay
    h = inputs.overtime_weekday_hours
    ot_weekday = _overtime(monthly_base, h, 3, 2) if h else 0
    h = inputs.overtime_rest_day_hours
    ot_rest = _overtime(monthly_base, h, 2, 1) if h else 0
    h = inputs.overtime_holiday_hours
    ot_holiday = _overtime(monthly_base, h, 3, 1) if h else 0
    overtime = ot_weekday + ot_rest + ot_holiday

    days = inputs.unpaid_leave_days
    if days:
        n, d = _ratio(days)
        leave = (2 * monthly_base * n * _LEAVE_NUM + d * _LEAVE_DEN) // (2 * d * _LEAVE_DEN)
        if leave > fixed:
            leave = fixed
    else:
        leave = 0

    awards = inputs.awards
    gross = fixed + overtime + awards - leave

    employee_total = rates.employee_contributions_total
    employer_total = rates.employer_contributions_total

    months = ytd.months_employed + 1
    cum_income = ytd.cumulative_income + gross
    cum_contrib = ytd.cumulative_employee_contributions + employee_total
    cum_special = ytd.cumulative_special_deductions + inputs.special_additional_deductions
    taxable = cum_income - rates.basic_deduction_per_month * months - cum_contrib - cum_special
    if taxable < 0:
        taxable = 0
    cum_tax = rates.tax_table.tax_on(taxable)
    tax = cum_tax - ytd.tax_withheld_so_far
    if tax < 0:
        tax = 0
    deductions = inputs.deductions

    return Payslip(
        level,
        position,
        base,
        performance,
        allowances,
        allowances_total,
        ot_weekday,
        ot_rest,
        ot_holiday,
        overtime,
        awards,
        leave,
        gross,
        rates.contribution_base,
        rates._employee.copy(),
        employee_total,
        rates._employer.copy(),
        employer_total,
        months,
        cum_income,
        cum_contrib,
        cum_special,
        taxable,
        cum_tax,
        tax,
        ytd.tax_withheld_so_far + tax,
        deductions,
        gross - employee_total - tax - deductions,
        gross + employer_total,
    )
