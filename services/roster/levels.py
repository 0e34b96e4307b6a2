"""Levels (等级), promotion and assessment rules, configured per province.

Conventions:

- Level 1 (一级) is the top; level `policy.levels` (七级 in a 7-level scheme) is the
  bottom. Promotion moves one level up: from `n` to `n − 1`.
- The requirement for leaving level `n` is `policy.promotion[n]`.
- Years in level count from `max(level_since, service_start)`, where `service_start`
  is the first day after probation. Probation never counts.
- The grade check looks at the assessment years that overlap the last
  `years_in_level` years before `as_of` (and the time in level):
  - every recorded grade there must be at least `min_grade`;
  - with `require_complete_assessments`, every calendar year lying wholly inside that
    window and before `as_of` must have a grade. A partial first or current year may
    be missing.
- A "competitive" level is filled by selection elsewhere. Meeting the requirements for
  it makes one `eligible`, never `due`.
- Caps limit how many people may hold a set of levels, e.g. levels 1–3 ≤ 30% of the
  headcount: floor(share × headcount) seats.
  - A promotion uses a seat of a cap when it moves into the cap's levels from outside.
  - When there are more automatic promotions than free seats, the queue order is:
    1. longest in level (earliest count-from date);
    2. longest service (earliest `service_start`);
    3. best recent grades (last year first, then the year before, then the one before);
    4. id.
  - The excess is marked `capped`.
- Two consecutive calendar years graded incompetent (不称职) are grounds for dismissal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Any

from services.common.education import Education
from services.roster.contracts import add_years, full_years
from services.roster.quota import to_decimal

PersonId = int | str
_NUMERALS = "一二三四五六七八九"
_RECENT_YEARS_FOR_RANKING = 3


class Grade(StrEnum):
    """Annual assessment grades, civil-service model."""

    EXCELLENT = "excellent"  # 优秀
    COMPETENT = "competent"  # 称职
    BASICALLY_COMPETENT = "basically_competent"  # 基本称职
    INCOMPETENT = "incompetent"  # 不称职

    @property
    def rank(self) -> int:
        """0 for incompetent up to 3 for excellent."""
        return _GRADE_RANK[self]


_GRADE_RANK = {
    Grade.INCOMPETENT: 0,
    Grade.BASICALLY_COMPETENT: 1,
    Grade.COMPETENT: 2,
    Grade.EXCELLENT: 3,
}
GRADE_ZH = {
    Grade.EXCELLENT: "优秀",
    Grade.COMPETENT: "称职",
    Grade.BASICALLY_COMPETENT: "基本称职",
    Grade.INCOMPETENT: "不称职",
}


def level_name(level: int) -> str:
    """Chinese name of a level: 1 → 一级, 7 → 七级."""
    if not 1 <= level <= len(_NUMERALS):
        raise ValueError(f"no name for level {level}")
    return f"{_NUMERALS[level - 1]}级"


def _whole(value: Any, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be a whole number")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}")
    return value


def _parse_level_key(key: Any, what: str) -> int:
    if isinstance(key, str) and key.strip().isdigit():
        return int(key)
    return _whole(key, what, 1)


@dataclass(frozen=True, slots=True)
class PromotionRule:
    """What it takes to leave a level for the next one up."""

    years_in_level: int = 3
    min_grade: Grade = Grade.COMPETENT
    min_service_years: int = 0  # total service after probation, across levels
    min_education: Education | None = None

    def __post_init__(self) -> None:
        _whole(self.years_in_level, "years_in_level")
        _whole(self.min_service_years, "min_service_years")
        object.__setattr__(self, "min_grade", Grade(self.min_grade))
        if self.min_education is not None:
            object.__setattr__(self, "min_education", Education(self.min_education))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromotionRule:
        """Build from configuration; unknown keys are refused."""
        unknown = set(data) - {"years_in_level", "min_grade", "min_service_years", "min_education"}
        if unknown:
            raise ValueError(f"unknown promotion rule keys: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class LevelCap:
    """At most `max_share` of the headcount may hold any of `levels`."""

    levels: frozenset[int]
    max_share: Decimal

    def __post_init__(self) -> None:
        levels = frozenset(self.levels)
        if not levels:
            raise ValueError("a cap covers at least one level")
        object.__setattr__(self, "levels", levels)
        share = to_decimal(self.max_share, "max_share")
        if not Decimal(0) <= share <= Decimal(1):
            raise ValueError("max_share is a fraction between 0 and 1")
        object.__setattr__(self, "max_share", share)

    def seats(self, total_headcount: int) -> int:
        """floor(max_share × headcount), exactly."""
        numerator, denominator = self.max_share.as_integer_ratio()
        return (total_headcount * numerator) // denominator

    def describe(self) -> str:
        ordered = sorted(self.levels)
        span = (
            f"levels {ordered[0]}–{ordered[-1]}"
            if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 1
            else "level(s) " + ", ".join(str(n) for n in ordered)
        )
        return f"{span} ≤ {(self.max_share * 100).normalize():f}%"


def _default_entry(levels: int) -> dict[Education, int]:
    bottom = levels
    return {
        Education.JUNIOR_HIGH: bottom,
        Education.SENIOR_HIGH: bottom,
        Education.JUNIOR_COLLEGE: max(1, bottom - 1),
        Education.BACHELOR: max(1, bottom - 2),
        Education.MASTER: max(1, bottom - 3),
        Education.DOCTORATE: max(1, bottom - 3),
    }


_POLICY_KEYS = {
    "levels",
    "entry_by_education",
    "default_promotion",
    "promotion",
    "competitive_levels",
    "caps",
    "require_complete_assessments",
}


@dataclass(frozen=True, slots=True)
class LevelPolicy:
    """A province's (or county's) level scheme. Build it with `from_dict`."""

    levels: int
    entry_by_education: Mapping[Education, int]
    promotion: Mapping[int, PromotionRule]  # keyed by the level being left
    competitive_levels: frozenset[int] = frozenset()
    caps: tuple[LevelCap, ...] = ()
    require_complete_assessments: bool = True

    def __post_init__(self) -> None:
        _whole(self.levels, "levels", 2)
        if self.levels > len(_NUMERALS):
            raise ValueError(f"at most {len(_NUMERALS)} levels")
        for education in Education:
            if education not in self.entry_by_education:
                raise ValueError(f"no entry level for {education}")
        for education, level in self.entry_by_education.items():
            self._check(level, f"entry level for {education}")
        for level in range(2, self.levels + 1):
            if level not in self.promotion:
                raise ValueError(f"no promotion rule for leaving level {level}")
        for level in self.promotion:
            if not 2 <= level <= self.levels:
                raise ValueError(f"promotion rule for level {level} is out of range")
        for level in self.competitive_levels:
            self._check(level, "competitive level")
        for cap in self.caps:
            for level in cap.levels:
                self._check(level, "capped level")

    def _check(self, level: int, what: str) -> None:
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(f"{what} must be a whole number")
        if not 1 <= level <= self.levels:
            raise ValueError(f"{what} {level} is outside 1–{self.levels}")

    def check_level(self, level: int) -> None:
        """Raise ValueError unless `level` exists in this scheme."""
        self._check(level, "level")

    @property
    def bottom(self) -> int:
        """The lowest level (entry without qualifications), e.g. 7 (七级)."""
        return self.levels

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LevelPolicy:
        """Build from configuration, filling the defaults described in domain.md.

        Keys (all optional): ``levels`` (7); ``entry_by_education`` (partial map,
        defaults: junior_high/senior_high → bottom, junior_college → bottom−1,
        bachelor → bottom−2, master/doctorate → bottom−3); ``default_promotion`` (3
        years in level, no grade below competent); ``promotion`` ({level left: rule},
        overriding the default); ``competitive_levels`` ([1, 2, 3]); ``caps`` ([{levels:
        [1, 2, 3], max_share: "0.30"}]); ``require_complete_assessments`` (true).
        """
        unknown = set(data) - _POLICY_KEYS
        if unknown:
            raise ValueError(f"unknown level policy keys: {sorted(unknown)}")
        levels = _whole(data.get("levels", 7), "levels", 2)
        entry = _default_entry(levels)
        for education, level in dict(data.get("entry_by_education", {})).items():
            entry[Education(education)] = _whole(level, f"entry level for {education}", 1)
        default_rule = PromotionRule.from_dict(data.get("default_promotion", {}))
        promotion = dict.fromkeys(range(2, levels + 1), default_rule)
        for key, rule in dict(data.get("promotion", {})).items():
            level = _parse_level_key(key, "promotion level")
            promotion[level] = (
                rule if isinstance(rule, PromotionRule) else PromotionRule.from_dict(rule)
            )
        competitive = frozenset(
            _whole(n, "competitive level", 1) for n in data.get("competitive_levels", (1, 2, 3))
        )
        raw_caps = data.get("caps", ({"levels": (1, 2, 3), "max_share": "0.30"},))
        caps = tuple(cap if isinstance(cap, LevelCap) else _cap_from_dict(cap) for cap in raw_caps)
        complete = data.get("require_complete_assessments", True)
        if not isinstance(complete, bool):
            raise TypeError("require_complete_assessments must be true or false")
        return cls(
            levels=levels,
            entry_by_education=entry,
            promotion=promotion,
            competitive_levels=competitive,
            caps=caps,
            require_complete_assessments=complete,
        )


def _cap_from_dict(data: Mapping[str, Any]) -> LevelCap:
    unknown = set(data) - {"levels", "max_share"}
    if unknown:
        raise ValueError(f"unknown cap keys: {sorted(unknown)}")
    levels = frozenset(_whole(n, "capped level", 1) for n in data["levels"])
    return LevelCap(levels=levels, max_share=data["max_share"])


def entry_level(education: Education | str, policy: LevelPolicy) -> int:
    """The level a new auxiliary starts at, by education."""
    return policy.entry_by_education[Education(education)]


@dataclass(frozen=True, slots=True)
class PersonForPromotion:
    """What promotion needs to know about one auxiliary."""

    id: PersonId
    level: int
    level_since: date
    service_start: date  # first day after probation
    assessments: Mapping[int, Grade] = field(default_factory=dict)  # year → grade
    education: Education | None = None

    def __post_init__(self) -> None:
        grades = {
            _whole(year, "assessment year", 1): Grade(g) for year, g in self.assessments.items()
        }
        object.__setattr__(self, "assessments", grades)
        if self.education is not None:
            object.__setattr__(self, "education", Education(self.education))

    @property
    def counts_from(self) -> date:
        """The day years in the current level start counting (probation excluded)."""
        return max(self.level_since, self.service_start)


class PromotionStatus(StrEnum):
    NOT_DUE = "not_due"
    DUE = "due"  # meets the requirements; promotion is automatic
    ELIGIBLE = "eligible"  # meets the requirements for a competitive level
    CAPPED = "capped"  # would be due or eligible, but the cap has no free seat


@dataclass(frozen=True, slots=True)
class PromotionAssessment:
    """Whether a person is due for promotion, and why or why not."""

    person_id: PersonId
    from_level: int
    to_level: int | None  # None at the top level
    status: PromotionStatus
    reasons: tuple[str, ...]
    dismissal_grounds: tuple[int, int] | None = None

    @property
    def due(self) -> bool:
        """Promote now (automatic, within caps)."""
        return self.status is PromotionStatus.DUE

    @property
    def eligible(self) -> bool:
        """May compete for a competitive level."""
        return self.status is PromotionStatus.ELIGIBLE

    @property
    def capped(self) -> bool:
        return self.status is PromotionStatus.CAPPED

    @property
    def meets_requirements(self) -> bool:
        """Met the years and grades, whatever the cap or competition says."""
        return self.status is not PromotionStatus.NOT_DUE


def dismissal_grounds(assessments: Mapping[int, Grade | str]) -> tuple[int, int] | None:
    """The latest two consecutive calendar years both graded incompetent, if any."""
    bad = sorted(
        (year for year, grade in assessments.items() if Grade(grade) is Grade.INCOMPETENT),
        reverse=True,
    )
    for later, earlier in pairwise(bad):
        if later - earlier == 1:
            return (earlier, later)
    return None


def _grade_window(person: PersonForPromotion, rule: PromotionRule, as_of: date) -> date:
    lookback = add_years(as_of, -max(rule.years_in_level, 1))
    return max(person.counts_from, lookback)


def _grade_problems(
    person: PersonForPromotion, rule: PromotionRule, as_of: date, require_complete: bool
) -> tuple[list[str], list[str]]:
    """(problems, notes) about the grades in the window."""
    start = _grade_window(person, rule, as_of)
    if start > as_of:
        return [], []
    problems: list[str] = []
    notes: list[str] = []
    checked: list[str] = []
    for year in range(start.year, as_of.year + 1):
        grade = person.assessments.get(year)
        if grade is None:
            whole_year = date(year, 1, 1) >= start and date(year, 12, 31) < as_of
            if require_complete and whole_year:
                problems.append(f"no assessment recorded for {year}")
            continue
        checked.append(f"{year} {grade.value}")
        if grade.rank < rule.min_grade.rank:
            problems.append(f"{year} graded {grade.value}, below {rule.min_grade.value}")
    if checked and not problems:
        notes.append(
            f"grades since {start.isoformat()} at least {rule.min_grade.value}: "
            + ", ".join(checked)
        )
    return problems, notes


def promotion_due(
    person: PersonForPromotion, as_of: date, policy: LevelPolicy
) -> PromotionAssessment:
    """Assess one person against the policy, ignoring caps (see `promotions_due`)."""
    policy.check_level(person.level)
    grounds = dismissal_grounds(person.assessments)
    if person.level == 1:
        return PromotionAssessment(
            person_id=person.id,
            from_level=1,
            to_level=None,
            status=PromotionStatus.NOT_DUE,
            reasons=("already at the top level (一级)",),
            dismissal_grounds=grounds,
        )
    rule = policy.promotion[person.level]
    target = person.level - 1
    problems: list[str] = []
    notes: list[str] = []

    if as_of < person.counts_from:
        problems.append(
            f"years in level {person.level} only count from {person.counts_from.isoformat()}"
        )
    years = full_years(person.counts_from, as_of)
    served = (
        f"{years} full year(s) in level {person.level} since "
        f"{person.counts_from.isoformat()} (probation excluded)"
    )
    if years < rule.years_in_level:
        problems.append(f"{served}; {rule.years_in_level} required")
    else:
        notes.append(f"{served}; {rule.years_in_level} required")

    if rule.min_service_years:
        service = full_years(person.service_start, as_of)
        text = f"{service} full year(s) of service; {rule.min_service_years} required"
        (problems if service < rule.min_service_years else notes).append(text)

    if rule.min_education is not None:
        if person.education is None:
            problems.append(f"education unknown; {rule.min_education.value} required")
        elif not person.education.at_least(rule.min_education):
            problems.append(f"education {person.education.value} below {rule.min_education.value}")

    grade_problems, grade_notes = _grade_problems(
        person, rule, as_of, policy.require_complete_assessments
    )
    problems.extend(grade_problems)
    notes.extend(grade_notes)

    if problems:
        status = PromotionStatus.NOT_DUE
        reasons = problems
    elif target in policy.competitive_levels:
        status = PromotionStatus.ELIGIBLE
        reasons = [*notes, f"{level_name(target)} is filled by competitive selection"]
    else:
        status = PromotionStatus.DUE
        reasons = notes
    if grounds is not None:
        reasons = [*reasons, f"grounds for dismissal: incompetent in {grounds[0]} and {grounds[1]}"]
    return PromotionAssessment(
        person_id=person.id,
        from_level=person.level,
        to_level=target,
        status=status,
        reasons=tuple(reasons),
        dismissal_grounds=grounds,
    )


def _id_key(value: PersonId) -> tuple[int, int, str]:
    if isinstance(value, int):
        return (0, value, "")
    return (1, 0, value)


def _priority(person: PersonForPromotion, as_of: date) -> tuple[Any, ...]:
    recent = tuple(
        -(person.assessments[year].rank if year in person.assessments else -1)
        for year in range(as_of.year - 1, as_of.year - 1 - _RECENT_YEARS_FOR_RANKING, -1)
    )
    return (person.counts_from, person.service_start, recent, _id_key(person.id))


def _entered_caps(policy: LevelPolicy, from_level: int, to_level: int) -> list[int]:
    return [
        i
        for i, cap in enumerate(policy.caps)
        if to_level in cap.levels and from_level not in cap.levels
    ]


def promotions_due(
    people: Sequence[PersonForPromotion],
    as_of: date,
    policy: LevelPolicy,
    total_headcount: int,
    *,
    current_counts: Mapping[int, int] | None = None,
) -> list[PromotionAssessment]:
    """Assess everyone and apply the caps; the result follows the input order.

    `people` should be the whole roster of the cap's scope: seats already taken are
    counted from their levels unless `current_counts` ({level: people}) is given.
    `total_headcount` is the cap's denominator. Automatic promotions take free seats
    in queue order (see the module docstring); the excess is `capped`. Competitors
    for a competitive level stay `eligible` while the cap has a free seat after the
    automatic promotions, and are `capped` when it has none. Ids must be unique.
    """
    _whole(total_headcount, "total_headcount")
    if len({_id_key(p.id) for p in people}) != len(people):
        raise ValueError("a person appears twice")
    assessments = [promotion_due(person, as_of, policy) for person in people]
    counts: Mapping[int, int] = (
        current_counts if current_counts is not None else Counter(p.level for p in people)
    )
    if not policy.caps:
        return assessments
    free = [
        max(0, cap.seats(total_headcount) - sum(counts.get(n, 0) for n in cap.levels))
        for cap in policy.caps
    ]

    def cap_text(i: int) -> str:
        cap = policy.caps[i]
        return f"cap {cap.describe()} of {total_headcount} = {cap.seats(total_headcount)} seats"

    queue = sorted(
        (
            i
            for i, a in enumerate(assessments)
            if a.status is PromotionStatus.DUE
            and a.to_level is not None
            and _entered_caps(policy, a.from_level, a.to_level)
        ),
        key=lambda i: _priority(people[i], as_of),
    )
    result = list(assessments)
    for position, i in enumerate(queue, start=1):
        a = assessments[i]
        assert a.to_level is not None
        entered = _entered_caps(policy, a.from_level, a.to_level)
        full = [c for c in entered if free[c] == 0]
        if full:
            note = "; ".join(f"{cap_text(c)}: no seat free" for c in full)
            result[i] = _replace(a, PromotionStatus.CAPPED, f"{note} (queue position {position})")
        else:
            for c in entered:
                free[c] -= 1
            result[i] = _replace(a, PromotionStatus.DUE, f"seat taken under {cap_text(entered[0])}")

    for i, a in enumerate(assessments):
        if a.status is not PromotionStatus.ELIGIBLE or a.to_level is None:
            continue
        entered = _entered_caps(policy, a.from_level, a.to_level)
        full = [c for c in entered if free[c] == 0]
        if full:
            note = "; ".join(f"{cap_text(c)}: no seat free" for c in full)
            result[i] = _replace(a, PromotionStatus.CAPPED, note)
        elif entered:
            note = "; ".join(f"{cap_text(c)}: {free[c]} seat(s) free" for c in entered)
            result[i] = _replace(a, PromotionStatus.ELIGIBLE, note)
    return result


def _replace(
    assessment: PromotionAssessment, status: PromotionStatus, reason: str
) -> PromotionAssessment:
    return PromotionAssessment(
        person_id=assessment.person_id,
        from_level=assessment.from_level,
        to_level=assessment.to_level,
        status=status,
        reasons=(*assessment.reasons, reason),
        dismissal_grounds=assessment.dismissal_grounds,
    )


def level_counts(levels: Iterable[int]) -> Counter[int]:
    """People per level, e.g. to pass as `current_counts`."""
    return Counter(levels)
