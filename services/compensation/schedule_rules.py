"""Pay schedules: validation of the api.md config, choice of the schedule in force, and
the pay rates of one person under a schedule.

A schedule payload is the JSON body of ``PUT /schedules/{region_prefix}/{effective_from}``
(api.md, "Compensation"): money as decimal strings in yuan, rates as decimal strings.
``validate_schedule`` lists every problem with its location; ``PaySchedule.from_payload``
parses a valid payload once into integer fen and exact rates, and
``PaySchedule.rates_for`` then gives (cached) ``PayRates`` per level, step, post and grade.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from services.compensation.money import to_decimal, to_fen
from services.compensation.payslip import CONTRIBUTION_ITEMS, ContributionRules, ItemRates, PayRates
from services.compensation.tax import TaxTable, TaxTableError, tax_table_from_config

__all__ = [
    "GRADE_ALIASES",
    "PERFORMANCE_GRADES",
    "Allowance",
    "InvalidSchedule",
    "NoPay",
    "NoPayForLevel",
    "NoPayForPost",
    "PaySchedule",
    "ScheduleProblem",
    "UnknownGrade",
    "normalise_grade",
    "rates_for",
    "resolve_most_specific",
    "validate_schedule",
]

PERFORMANCE_GRADES: tuple[str, ...] = (
    "excellent",
    "competent",
    "basically_competent",
    "incompetent",
    "none",
)
"""Keys of ``performance_pay``: the last annual assessment grade, ``none`` if unassessed."""

GRADE_ALIASES: Mapping[str, str] = {
    "优秀": "excellent",
    "称职": "competent",
    "基本称职": "basically_competent",
    "不称职": "incompetent",
}
"""Chinese grade names accepted by ``rates_for``."""

_REQUIRED = (
    "level_pay",
    "position_pay",
    "performance_pay",
    "allowances",
    "contributions",
    "base_floor_ratio",
    "base_cap_ratio",
    "local_average_wage",
    "minimum_wage",
)
_OPTIONAL = ("tax_table",)  # missing or null: the 2019 table
_LEVEL_KEY = re.compile(r"^[1-9][0-9]{0,2}$")

Loc = list[str | int]


@dataclass
class ScheduleProblem:
    """One problem in a schedule payload: where (``loc``, path of keys/indexes) and what."""

    loc: Loc
    msg: str


class InvalidSchedule(ValueError):
    """A schedule payload has problems; ``problems`` lists them all."""

    def __init__(self, problems: list[ScheduleProblem]) -> None:
        self.problems = problems
        first = problems[0] if problems else None
        detail = f": {'.'.join(map(str, first.loc))}: {first.msg}" if first else ""
        super().__init__(f"invalid pay schedule ({len(problems)} problem(s)){detail}")


class NoPay(ValueError):
    """The schedule has no pay for this person."""


class NoPayForLevel(NoPay):
    """The schedule's ``level_pay`` has no entry for the person's level."""


class NoPayForPost(NoPay):
    """The schedule's ``position_pay`` has no entry for the person's post."""


class UnknownGrade(ValueError):
    """An assessment grade that is not one of ``PERFORMANCE_GRADES`` (or an alias)."""


def normalise_grade(grade: str | None) -> str:
    """``None`` → ``"none"``; Chinese names → English keys; anything unknown → ``UnknownGrade``."""
    if grade is None:
        return "none"
    g = GRADE_ALIASES.get(grade, grade)
    if g not in PERFORMANCE_GRADES:
        raise UnknownGrade(f"unknown assessment grade {grade!r}")
    return g


@dataclass(frozen=True)
class Allowance:
    """A monthly allowance in fen; ``posts`` is ``None`` for every post."""

    name: str
    amount: int
    posts: frozenset[str] | None = None

    def applies_to(self, post: str) -> bool:
        return self.posts is None or post in self.posts


# --------------------------------------------------------------------------- parsing


class _Parser:
    """Collects problems while parsing; returns ``None`` for values it could not parse."""

    def __init__(self) -> None:
        self.problems: list[ScheduleProblem] = []

    def add(self, loc: Loc, msg: str) -> None:
        self.problems.append(ScheduleProblem(list(loc), msg))

    def _decimal(self, value: Any, loc: Loc) -> Decimal | None:
        if isinstance(value, float):
            self.add(loc, 'use a decimal string such as "0.08" or "3000.00", not a JSON number')
            return None
        try:
            return to_decimal(value)
        except TypeError:
            self.add(loc, "must be a decimal string")
        except ValueError as e:
            self.add(loc, str(e))
        return None

    def money(self, value: Any, loc: Loc, *, positive: bool = False) -> int | None:
        d = self._decimal(value, loc)
        if d is None:
            return None
        try:
            fen = to_fen(d)
        except ValueError:
            self.add(loc, "at most 2 decimal places (whole fen)")
            return None
        if fen < 0:
            self.add(loc, "cannot be negative")
            return None
        if positive and fen == 0:
            self.add(loc, "must be greater than 0")
            return None
        return fen

    def rate(self, value: Any, loc: Loc, *, upper: Decimal | None = Decimal(1)) -> Decimal | None:
        d = self._decimal(value, loc)
        if d is None:
            return None
        if d < 0:
            self.add(loc, "cannot be negative")
            return None
        if upper is not None and d > upper:
            self.add(loc, f"a rate must be between 0 and {upper}")
            return None
        return d

    def mapping(self, value: Any, loc: Loc) -> Mapping[Any, Any] | None:
        if not isinstance(value, Mapping):
            self.add(loc, "must be an object")
            return None
        return value

    def unknown_keys(self, m: Mapping[Any, Any], allowed: Iterable[str], loc: Loc) -> None:
        allowed_set = set(allowed)
        for k in m:
            if k not in allowed_set:
                self.add([*loc, str(k)], "unknown field")


def _parse_levels(p: _Parser, value: Any) -> dict[int, tuple[int, ...]]:
    loc: Loc = ["level_pay"]
    m = p.mapping(value, loc)
    if m is None:
        return {}
    if not m:
        p.add(loc, "at least one level is required")
        return {}
    levels: dict[int, tuple[int, ...]] = {}
    for key, steps in m.items():
        kloc: Loc = [*loc, str(key)]
        if isinstance(key, int) and not isinstance(key, bool) and key > 0:
            level = key
        elif isinstance(key, str) and _LEVEL_KEY.match(key):
            level = int(key)
        else:
            p.add(kloc, 'a level must be a positive integer such as "7"')
            continue
        if level in levels:
            p.add(kloc, f"level {level} is given twice")
            continue
        if not isinstance(steps, list | tuple) or isinstance(steps, str):
            p.add(kloc, "must be a list of step amounts, step 1 first")
            continue
        if not steps:
            p.add(kloc, "a level needs at least one step")
            continue
        amounts = [p.money(v, [*kloc, i]) for i, v in enumerate(steps)]
        if all(a is not None for a in amounts):
            levels[level] = tuple(a for a in amounts if a is not None)
    parsed = sorted(levels)
    if parsed:
        missing = sorted(set(range(parsed[0], parsed[-1] + 1)) - set(parsed))
        if missing:
            p.add(
                loc,
                "levels must be a contiguous range of integers; missing "
                + ", ".join(map(str, missing)),
            )
    return levels


def _parse_position_pay(p: _Parser, value: Any) -> dict[str, int]:
    loc: Loc = ["position_pay"]
    m = p.mapping(value, loc)
    if m is None:
        return {}
    if not m:
        p.add(loc, "at least one post is required")
    out: dict[str, int] = {}
    for post, amount in m.items():
        if not isinstance(post, str) or not post.strip():
            p.add([*loc, str(post)], "a post must be a non-empty string")
            continue
        fen = p.money(amount, [*loc, post])
        if fen is not None:
            out[post] = fen
    return out


def _parse_performance(p: _Parser, value: Any) -> dict[str, int]:
    loc: Loc = ["performance_pay"]
    m = p.mapping(value, loc)
    if m is None:
        return {}
    p.unknown_keys(m, PERFORMANCE_GRADES, loc)
    out: dict[str, int] = {}
    for grade in PERFORMANCE_GRADES:
        if grade not in m:
            p.add([*loc, grade], "field required: every grade needs a performance pay")
            continue
        fen = p.money(m[grade], [*loc, grade])
        if fen is not None:
            out[grade] = fen
    return out


def _parse_allowances(p: _Parser, value: Any, posts_known: set[str] | None) -> list[Allowance]:
    loc: Loc = ["allowances"]
    if not isinstance(value, list | tuple):
        p.add(loc, "must be a list")
        return []
    out: list[Allowance] = []
    names: set[str] = set()
    for i, entry in enumerate(value):
        eloc: Loc = [*loc, i]
        m = p.mapping(entry, eloc)
        if m is None:
            continue
        p.unknown_keys(m, ("name", "amount", "posts"), eloc)
        ok = True
        name = m.get("name")
        if not isinstance(name, str) or not name.strip():
            p.add([*eloc, "name"], "a non-empty name is required")
            ok = False
        elif name in names:
            p.add([*eloc, "name"], f"allowance {name!r} is given twice")
            ok = False
        else:
            names.add(name)
        if "amount" not in m:
            p.add([*eloc, "amount"], "field required")
            ok = False
            amount = None
        else:
            amount = p.money(m["amount"], [*eloc, "amount"])
        posts_value = m.get("posts")
        posts: frozenset[str] | None = None
        if posts_value is not None:
            if not isinstance(posts_value, list | tuple) or not posts_value:
                p.add([*eloc, "posts"], "must be null (every post) or a non-empty list of posts")
                ok = False
            else:
                for j, post in enumerate(posts_value):
                    if not isinstance(post, str):
                        p.add([*eloc, "posts", j], "a post must be a string")
                        ok = False
                    elif posts_known is not None and post not in posts_known:
                        p.add([*eloc, "posts", j], f"post {post!r} has no position_pay")
                        ok = False
                if ok:
                    posts = frozenset(posts_value)
        if ok and amount is not None and isinstance(name, str):
            out.append(Allowance(name, amount, posts))
    return out


def _parse_contributions(p: _Parser, value: Any) -> dict[str, ItemRates]:
    loc: Loc = ["contributions"]
    m = p.mapping(value, loc)
    if m is None:
        return {}
    out: dict[str, ItemRates] = {}
    for item, rates in m.items():
        iloc: Loc = [*loc, str(item)]
        if item not in CONTRIBUTION_ITEMS:
            p.add(iloc, f"unknown contribution item; known: {', '.join(CONTRIBUTION_ITEMS)}")
            continue
        r = p.mapping(rates, iloc)
        if r is None:
            continue
        p.unknown_keys(r, ("employer", "employee"), iloc)
        sides: list[Decimal | None] = []
        for side in ("employer", "employee"):
            if side not in r:
                p.add([*iloc, side], "field required")
                sides.append(None)
            else:
                sides.append(p.rate(r[side], [*iloc, side]))
        employer, employee = sides
        if employer is not None and employee is not None:
            out[item] = ItemRates(employer, employee)
    return out


def _parse(d: Any) -> tuple[PaySchedule | None, list[ScheduleProblem]]:
    p = _Parser()
    m = p.mapping(d, [])
    if m is None:
        return None, p.problems
    p.unknown_keys(m, (*_REQUIRED, *_OPTIONAL), [])
    for key in _REQUIRED:
        if key not in m:
            p.add([key], "field required")
    if p.problems:
        return None, p.problems

    levels = _parse_levels(p, m["level_pay"])
    position = _parse_position_pay(p, m["position_pay"])
    position_ok = not any(pr.loc[:1] == ["position_pay"] for pr in p.problems)
    performance = _parse_performance(p, m["performance_pay"])
    allowances = _parse_allowances(p, m["allowances"], set(position) if position_ok else None)
    contributions = _parse_contributions(p, m["contributions"])
    floor = p.rate(m["base_floor_ratio"], ["base_floor_ratio"], upper=None)
    cap = p.rate(m["base_cap_ratio"], ["base_cap_ratio"], upper=None)
    if cap is not None and cap == 0:
        p.add(["base_cap_ratio"], "must be greater than 0")
        cap = None
    if floor is not None and cap is not None and floor > cap:
        p.add(["base_floor_ratio"], "the floor ratio cannot be above the cap ratio")
    law = p.money(m["local_average_wage"], ["local_average_wage"], positive=True)
    minimum = p.money(m["minimum_wage"], ["minimum_wage"], positive=True)
    if law is not None and minimum is not None and minimum > law:
        p.add(["minimum_wage"], "the minimum wage cannot be above the local average wage")
    table: TaxTable | None = None
    try:
        table = tax_table_from_config(m.get("tax_table"))
    except TaxTableError as e:
        p.add(["tax_table", *e.loc], e.msg)

    if p.problems:
        return None, p.problems
    assert floor is not None and cap is not None and law is not None and minimum is not None
    assert table is not None
    schedule = PaySchedule(
        level_pay=levels,
        position_pay=position,
        performance_pay=performance,
        allowances=tuple(allowances),
        contributions=ContributionRules(contributions, floor, cap, law),
        minimum_wage=minimum,
        tax_table=table,
    )
    return schedule, []


def validate_schedule(d: Any) -> list[ScheduleProblem]:
    """Every problem in a schedule payload (api.md shape); an empty list means valid.

    Checks: required/unknown fields; amounts are non-negative decimal strings with at most
    2 decimals (JSON numbers that are floats are refused); rates in [0, 1]; floor ratio ≤ cap
    ratio; levels a contiguous range of positive integers, each with at least one step;
    all five performance grades present and no others; allowances named uniquely, for null
    or known posts; only known contribution items; minimum wage ≤ local average wage; a
    well-formed tax table (see ``tax.TaxTable``).
    """
    return _parse(d)[1]


# ------------------------------------------------------------------- compiled schedule


@dataclass(frozen=True, eq=False)
class PaySchedule:
    """A parsed, valid schedule (fen and ``Decimal``). Build with ``from_payload``.

    ``rates_for`` caches one ``PayRates`` per (level, step, post, grade), so a payroll run
    over 100,000 people builds only as many as there are distinct combinations.
    """

    level_pay: Mapping[int, tuple[int, ...]]
    position_pay: Mapping[str, int]
    performance_pay: Mapping[str, int]
    allowances: tuple[Allowance, ...]
    contributions: ContributionRules
    minimum_wage: int
    tax_table: TaxTable
    _cache: dict[tuple[int, int, str, str], PayRates] = field(
        default_factory=dict, init=False, repr=False
    )

    @classmethod
    def from_payload(cls, d: Any) -> PaySchedule:
        """Parse a payload; raises ``InvalidSchedule`` listing every problem."""
        schedule, problems = _parse(d)
        if schedule is None:
            raise InvalidSchedule(problems)
        return schedule

    @property
    def local_average_wage(self) -> int:
        return self.contributions.local_average_wage

    @property
    def levels(self) -> range:
        """The levels of ``level_pay``, lowest number first."""
        return range(min(self.level_pay), max(self.level_pay) + 1)

    def rates_for(self, level: int, step: int, post: str, last_grade: str | None) -> PayRates:
        """Pay rates for a level, step (1-based), post and last assessment grade.

        A step beyond the level's table gets the last step. Raises ``NoPayForLevel``,
        ``NoPayForPost``, ``UnknownGrade`` or ``ValueError`` (step < 1).
        """
        grade = normalise_grade(last_grade)
        key = (level, step, post, grade)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if step < 1:
            raise ValueError(f"step must be at least 1, not {step}")
        steps = self.level_pay.get(level)
        if steps is None:
            raise NoPayForLevel(f"the pay schedule has no level {level}")
        position = self.position_pay.get(post)
        if position is None:
            raise NoPayForPost(f"the pay schedule has no position pay for post {post!r}")
        rates = PayRates(
            level_pay=steps[min(step, len(steps)) - 1],
            position_pay=position,
            performance_pay=self.performance_pay[grade],
            allowances=[(a.name, a.amount) for a in self.allowances if a.applies_to(post)],
            contributions=self.contributions,
            tax_table=self.tax_table,
        )
        self._cache[key] = rates
        return rates


def rates_for(
    schedule_payload: PaySchedule | Mapping[str, Any],
    level: int,
    step: int,
    post: str,
    last_grade: str | None,
) -> PayRates:
    """``PayRates`` of one person under a schedule (payload dict or parsed ``PaySchedule``).

    Passing a raw payload parses it on every call: in loops, parse once with
    ``PaySchedule.from_payload`` and pass that. See ``PaySchedule.rates_for``.
    """
    schedule = (
        schedule_payload
        if isinstance(schedule_payload, PaySchedule)
        else PaySchedule.from_payload(schedule_payload)
    )
    return schedule.rates_for(level, step, post, last_grade)


P = TypeVar("P")


def resolve_most_specific(
    schedules: Iterable[tuple[str, date, P]], region: str, on: date
) -> tuple[str, date, P] | None:
    """The schedule in force for ``region`` on ``on``: among ``(region_prefix,
    effective_from, payload)`` entries whose prefix starts ``region`` and whose
    ``effective_from <= on``, the longest prefix, and for that prefix the latest
    ``effective_from``. Returns the whole entry, or ``None`` if nothing applies.
    The empty prefix ``""`` is national and matches every region.
    """
    best: tuple[str, date, P] | None = None
    for entry in schedules:
        prefix, effective_from, _ = entry
        if effective_from > on or not region.startswith(prefix):
            continue
        if best is None or (len(prefix), effective_from) >= (len(best[0]), best[1]):
            best = entry
    return best
