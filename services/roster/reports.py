"""Pure helpers for the provincial reports: structure, turnover and quota fulfilment.

Conventions:

- Age bands are half-open: "<30", "30-40" (30 ≤ age < 40), "40-50", ">=50". Age is
  whole years on the report date (`as_of`), counted from the birthday.
- Shares and rates are fractions (0.1958, not 19.58), rounded half-up to 4 decimal
  places. `percent` turns one into a percentage with 1 decimal place.
- Turnover uses the two-point average headcount: (headcount at the start of the period
  + headcount at the end) / 2. The rate is leavers ÷ that average. It is None when the
  average is 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.common.education import Education
from services.common.resident_id import Sex, age_on
from services.roster.quota import ratio, to_decimal
from services.roster.statuses import DepartureReason

AGE_BANDS: tuple[str, ...] = ("<30", "30-40", "40-50", ">=50")
SHARE_PLACES = 4


def age_band(age: int) -> str:
    """The report's age band for an age in whole years."""
    if isinstance(age, bool) or not isinstance(age, int):
        raise TypeError("age must be a whole number")
    if age < 0:
        raise ValueError("age must not be negative")
    if age < 30:
        return "<30"
    if age < 40:
        return "30-40"
    if age < 50:
        return "40-50"
    return ">=50"


def share(part: int, whole: int) -> Decimal | None:
    """part / whole as a fraction with 4 decimal places; None when `whole` is 0."""
    return ratio(part, whole, SHARE_PLACES)


def percent(fraction: Decimal | None) -> Decimal | None:
    """A fraction as a percentage with 1 decimal place (0.1958 → 19.6)."""
    if fraction is None:
        return None
    return (fraction * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """One auxiliary as the structure report sees them."""

    post_category: str
    post: str
    level: int | None
    birth_date: date
    education: Education
    sex: Sex

    def __post_init__(self) -> None:
        object.__setattr__(self, "education", Education(self.education))
        object.__setattr__(self, "sex", Sex(self.sex))


@dataclass(frozen=True, slots=True)
class StructureCounts:
    """Headcount broken down the ways the provinces ask for."""

    total: int
    by_post_category: Counter[str]
    by_post: Counter[str]
    by_level: Counter[int | None]
    by_age_band: Counter[str]
    by_education: Counter[Education]
    by_sex: Counter[Sex]
    under_30: int
    share_under_30: Decimal | None  # fraction, 4 dp

    @property
    def percent_under_30(self) -> Decimal | None:
        return percent(self.share_under_30)

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly form: keys are strings; age bands and education in order."""
        return {
            "total": self.total,
            "by_post_category": dict(sorted(self.by_post_category.items())),
            "by_post": dict(sorted(self.by_post.items())),
            "by_level": {
                ("unlevelled" if k is None else str(k)): v
                for k, v in sorted(self.by_level.items(), key=lambda kv: (kv[0] is None, kv[0]))
            },
            "by_age_band": {band: self.by_age_band[band] for band in AGE_BANDS},
            "by_education": {e.value: self.by_education[e] for e in Education},
            "by_sex": {s.value: self.by_sex[s] for s in Sex},
            "under_30": self.under_30,
            "share_under_30": None if self.share_under_30 is None else str(self.share_under_30),
        }


def structure_counts(people: Iterable[PersonFacts], as_of: date) -> StructureCounts:
    """Count people by post category, post, level, age band on `as_of`, education, sex."""
    by_post_category: Counter[str] = Counter()
    by_post: Counter[str] = Counter()
    by_level: Counter[int | None] = Counter()
    by_age_band: Counter[str] = Counter()
    by_education: Counter[Education] = Counter()
    by_sex: Counter[Sex] = Counter()
    total = 0
    for person in people:
        total += 1
        by_post_category[person.post_category] += 1
        by_post[person.post] += 1
        by_level[person.level] += 1
        by_age_band[age_band(age_on(person.birth_date, as_of))] += 1
        by_education[person.education] += 1
        by_sex[person.sex] += 1
    under_30 = by_age_band["<30"]
    return StructureCounts(
        total=total,
        by_post_category=by_post_category,
        by_post=by_post,
        by_level=by_level,
        by_age_band=by_age_band,
        by_education=by_education,
        by_sex=by_sex,
        under_30=under_30,
        share_under_30=share(under_30, total),
    )


@dataclass(frozen=True, slots=True)
class Turnover:
    """Leavers in a period against the average headcount."""

    leavers: int
    headcount_start: int
    headcount_end: int
    average_headcount: Decimal  # (start + end) / 2
    rate: Decimal | None  # leavers / average_headcount, 4 dp; None when the average is 0
    by_reason: Counter[DepartureReason]
    by_age_band: Counter[str]

    @property
    def rate_percent(self) -> Decimal | None:
        return percent(self.rate)


def turnover(
    leavers: Iterable[tuple[DepartureReason | str, str]],
    headcount_start: int,
    headcount_end: int,
) -> Turnover:
    """Turnover for a period from its leavers as (reason, age band at departure) pairs.

    average_headcount = (headcount_start + headcount_end) / 2, the headcounts (probation
    + active) on the first and last day of the period; rate = leavers / average.
    """
    for value, what in ((headcount_start, "headcount_start"), (headcount_end, "headcount_end")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{what} must be a whole number")
        if value < 0:
            raise ValueError(f"{what} must not be negative")
    by_reason: Counter[DepartureReason] = Counter()
    by_band: Counter[str] = Counter()
    count = 0
    for reason, band in leavers:
        if band not in AGE_BANDS:
            raise ValueError(f"unknown age band {band!r}; expected one of {AGE_BANDS}")
        by_reason[DepartureReason(reason)] += 1
        by_band[band] += 1
        count += 1
    total = headcount_start + headcount_end
    average = Decimal(total) / 2
    return Turnover(
        leavers=count,
        headcount_start=headcount_start,
        headcount_end=headcount_end,
        average_headcount=average,
        rate=ratio(count * 2, total, SHARE_PLACES),
        by_reason=by_reason,
        by_age_band=by_band,
    )


def target_for(population: int, per_10k_target: Decimal | int | str) -> int:
    """floor(population × target / 10,000): the headcount a per-10,000 target asks for."""
    if isinstance(population, bool) or not isinstance(population, int) or population < 0:
        raise ValueError("population must be a non-negative whole number")
    target = to_decimal(per_10k_target, "per_10k_target")
    if target < 0:
        raise ValueError("per_10k_target must not be negative")
    numerator, denominator = target.as_integer_ratio()
    return (population * numerator) // (denominator * 10_000)


def gap_to_target(population: int, headcount: int, per_10k_target: Decimal | int | str) -> int:
    """How many auxiliaries are missing against a per-10,000 target (0 when met)."""
    if isinstance(headcount, bool) or not isinstance(headcount, int) or headcount < 0:
        raise ValueError("headcount must be a non-negative whole number")
    return max(0, target_for(population, per_10k_target) - headcount)


def fulfilment(headcount: int, quota: int) -> Decimal | None:
    """headcount / quota as a fraction with 4 decimal places; None when the quota is 0."""
    return share(headcount, quota)
