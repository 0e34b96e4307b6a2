"""Next year's pay budget of a region: headcount plus approved hiring plans.

Each person costs, per month, their fixed pay (base + performance + allowances) plus the
employer's contributions on it; the annual cost is 12 × that (amounts already rounded
per line item, so no further rounding). Overtime, awards and unpaid leave are not
projected. Current staff are priced at their level, step, post and last grade; planned
hires at the given entry level, step 1, performance grade ``none``.

People or plans the schedule cannot price (missing level or post, unknown grade) are not
silently dropped: they are listed in ``BudgetProjection.unpriced`` with the reason and
left out of the totals, so the caller can show that the projection is incomplete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.compensation.schedule_rules import PaySchedule

__all__ = [
    "MONTHS_PER_YEAR",
    "BudgetProjection",
    "CostLine",
    "PostCost",
    "Unpriced",
    "project_annual_cost",
]

MONTHS_PER_YEAR = 12

Person = tuple[int, int, str, str | None]  # level, step, post, last grade
PlannedHire = tuple[str, int, int]  # post, headcount, entry level


@dataclass
class CostLine:
    """Headcount and annual cost in fen."""

    headcount: int = 0
    fixed_pay: int = 0
    employer_contributions: int = 0

    @property
    def total(self) -> int:
        return self.fixed_pay + self.employer_contributions

    def add(self, headcount: int, fixed_pay: int, employer_contributions: int) -> None:
        self.headcount += headcount
        self.fixed_pay += fixed_pay
        self.employer_contributions += employer_contributions

    def __add__(self, other: CostLine) -> CostLine:
        return CostLine(
            self.headcount + other.headcount,
            self.fixed_pay + other.fixed_pay,
            self.employer_contributions + other.employer_contributions,
        )


@dataclass
class PostCost:
    """One post's current staff and planned hires."""

    current: CostLine = field(default_factory=CostLine)
    planned: CostLine = field(default_factory=CostLine)

    @property
    def total(self) -> CostLine:
        return self.current + self.planned


@dataclass(frozen=True)
class Unpriced:
    """An entry the schedule could not price: ``kind`` is "person" or "planned_hire",
    ``index`` its position in the input list."""

    kind: str
    index: int
    reason: str


@dataclass
class BudgetProjection:
    """Annual cost split into current staff and planned hires, with totals by post."""

    months: int
    current: CostLine
    planned: CostLine
    by_post: dict[str, PostCost]
    unpriced: list[Unpriced]

    @property
    def total(self) -> CostLine:
        return self.current + self.planned


def project_annual_cost(
    people: Iterable[Person],
    planned_hires: Iterable[PlannedHire],
    schedule: PaySchedule | Mapping[str, Any],
    *,
    months: int = MONTHS_PER_YEAR,
) -> BudgetProjection:
    """Project ``months`` (12) months of fixed pay + employer contributions.

    ``people``: ``(level, step, post, last_grade)`` of current staff;
    ``planned_hires``: ``(post, headcount, entry_level)`` of approved plans;
    ``schedule``: a ``PaySchedule`` or a payload (parsed here, ``InvalidSchedule`` if bad).
    """
    if months < 0:
        raise ValueError("months cannot be negative")
    sched = schedule if isinstance(schedule, PaySchedule) else PaySchedule.from_payload(schedule)
    current = CostLine()
    planned = CostLine()
    by_post: dict[str, PostCost] = {}
    unpriced: list[Unpriced] = []

    for i, (level, step, post, grade) in enumerate(people):
        try:
            r = sched.rates_for(level, step, post, grade)
        except ValueError as e:
            unpriced.append(Unpriced("person", i, str(e)))
            continue
        fixed = r.fixed_pay * months
        employer = r.employer_contributions_total * months
        current.add(1, fixed, employer)
        by_post.setdefault(post, PostCost()).current.add(1, fixed, employer)

    for i, (post, headcount, level) in enumerate(planned_hires):
        if headcount < 0:
            unpriced.append(Unpriced("planned_hire", i, "headcount cannot be negative"))
            continue
        try:
            r = sched.rates_for(level, 1, post, None)
        except ValueError as e:
            unpriced.append(Unpriced("planned_hire", i, str(e)))
            continue
        fixed = r.fixed_pay * months * headcount
        employer = r.employer_contributions_total * months * headcount
        planned.add(headcount, fixed, employer)
        by_post.setdefault(post, PostCost()).planned.add(headcount, fixed, employer)

    return BudgetProjection(
        months=months,
        current=current,
        planned=planned,
        by_post=dict(sorted(by_post.items())),
        unpriced=unpriced,
    )
