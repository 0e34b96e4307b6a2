"""Labour contracts and probation (PRC Labour Contract Law, arts. 19 and 58).

Conventions:

- `end` is the contract's last day (inclusive), as written in Chinese contracts
  ("2024-01-01 至 2024-12-31" is a one-year term); None means open-ended
  (无固定期限).
- Thresholds follow Chinese statutory counting: "以上" includes the number itself and
  "不满" excludes it. So a term of exactly 1 year falls in the "1 to under 3 years"
  band.
- Months are calendar months. Adding months to the 29th–31st clamps to the end of a
  short month (31 Jan + 1 month = 28/29 Feb).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Literal

ContractKind = Literal["labour", "dispatch"]
CONTRACT_KINDS: frozenset[str] = frozenset({"labour", "dispatch"})
DISPATCH_MIN_TERM_MONTHS = 24  # art. 58: a fixed term of two years or more
_ONE_DAY = timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months (may be negative), clamped to month end."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def add_years(day: date, years: int) -> date:
    """`day` moved by whole years; 29 February becomes 28 February in common years."""
    return add_months(day, 12 * years)


def full_years(start: date, as_of: date) -> int:
    """Whole years completed from `start` to `as_of` (0 when `as_of` is before `start`)."""
    years = as_of.year - start.year
    if years > 0 and add_years(start, years) > as_of:
        years -= 1
    return max(0, years)


def term_at_least(start: date, end: date | None, months: int) -> bool:
    """True when a contract from `start` to `end` (inclusive) lasts `months` or more."""
    if end is None:
        return True
    return end + _ONE_DAY >= add_months(start, months)


def max_probation_months(start: date, end: date | None) -> int:
    """The longest probation art. 19 allows for the contract's term.

    Under 3 months: 0; 3 months to under 1 year: 1; 1 to under 3 years: 2;
    3 years or more, or open-ended (`end` None): 6.
    """
    if end is not None and end < start:
        raise ValueError("a contract cannot end before it starts")
    if term_at_least(start, end, 36):
        return 6
    if term_at_least(start, end, 12):
        return 2
    if term_at_least(start, end, 3):
        return 1
    return 0


def _check_months(months: int) -> None:
    if isinstance(months, bool) or not isinstance(months, int):
        raise TypeError("probation months must be a whole number")
    if months < 0:
        raise ValueError("probation months must not be negative")


def probation_end(start: date, months: int) -> date | None:
    """The last day of probation (inclusive), or None when there is no probation."""
    _check_months(months)
    if months == 0:
        return None
    return add_months(start, months) - _ONE_DAY


def regular_from(start: date, months: int) -> date:
    """The first day after probation: where years of service start counting."""
    _check_months(months)
    return add_months(start, months)


def validate_contract(
    kind: str,
    start: date,
    end: date | None,
    probation_months: int,
    *,
    earlier_probation: bool = False,
) -> list[str]:
    """Problems with a contract's terms; an empty list means it is lawful.

    Checks art. 19 (probation length by term; one probation per employer and worker,
    when `earlier_probation` says the worker already had one) and art. 58 (a
    dispatched worker's contract with the agency is fixed-term, two years or more).
    """
    problems: list[str] = []
    if kind not in CONTRACT_KINDS:
        problems.append(f"kind must be one of {sorted(CONTRACT_KINDS)}, not {kind!r}")
    if isinstance(probation_months, bool) or not isinstance(probation_months, int):
        problems.append("probation_months must be a whole number")
        return problems
    if probation_months < 0:
        problems.append("probation_months must not be negative")
    if end is not None and end < start:
        problems.append(f"end {end.isoformat()} is before start {start.isoformat()}")
        return problems
    if kind == "dispatch":
        if end is None:
            problems.append("a dispatch contract must be fixed-term (art. 58)")
        elif not term_at_least(start, end, DISPATCH_MIN_TERM_MONTHS):
            problems.append("a dispatch contract must run for at least 2 years (art. 58)")
    allowed = max_probation_months(start, end)
    if probation_months > 0 and earlier_probation:
        problems.append(
            "the same employer may agree a probation with the same worker only once (art. 19)"
        )
    if probation_months > allowed:
        if allowed == 0:
            problems.append("a contract under 3 months may not have a probation (art. 19)")
        else:
            problems.append(
                f"probation of {probation_months} months exceeds the {allowed}-month maximum "
                "for this contract term (art. 19)"
            )
    return problems
