"""The pay check report: is pay pegged to the local average wage, is anyone below the
minimum wage, and is there "unequal pay for equal work" (同工不同酬)?

Input is one ``PayLine`` per person: the fixed monthly pay (base + performance +
allowances, before overtime, awards and leave) and its components in fen. People of the
same level, step and post should have the same fixed pay; where they do not, the report
names the component(s) that differ and why. A difference in performance pay that follows
the last assessment grade is by design and marked ``justified``; anything else is not.

Percentages are ``Decimal`` with 2 decimals, rounded half up once from the exact ratio.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.compensation.money import div_round, fen_str

__all__ = [
    "BelowMinimum",
    "PayCheck",
    "PayDifference",
    "PayLine",
    "PegShortfall",
    "UnequalPay",
    "analyse_pay",
]

PERFORMANCE_COMPONENT = "performance_pay"


@dataclass(frozen=True)
class PayLine:
    """One person's fixed monthly pay in fen, e.g. components
    ``{"level_pay": 300000, "position_pay": 200000, "performance_pay": 50000,
    "work_allowance": 35000}``; ``last_grade`` (optional) explains performance pay."""

    personnel_id: Hashable
    level: int
    step: int
    post: str
    gross_fixed_fen: int
    components: Mapping[str, int] = field(default_factory=dict)
    last_grade: str | None = None


@dataclass(frozen=True)
class BelowMinimum:
    """Someone whose fixed pay is below the minimum wage, by ``shortfall`` fen."""

    personnel_id: Hashable
    level: int
    step: int
    post: str
    gross_fixed_fen: int
    shortfall: int


@dataclass(frozen=True)
class PayDifference:
    """A component whose amount differs within a group; ``values`` maps amount → headcount."""

    component: str
    values: dict[int, int]
    reason: str


@dataclass(frozen=True)
class UnequalPay:
    """A (level, step, post) group whose members' fixed pay differs, with the causes."""

    level: int
    step: int
    post: str
    members: list[tuple[Hashable, int]]  # (personnel_id, gross_fixed_fen), input order
    lowest: int
    highest: int
    causes: list[PayDifference]
    justified: bool

    @property
    def spread(self) -> int:
        return self.highest - self.lowest


@dataclass(frozen=True)
class PegShortfall:
    """A level or post whose average fixed pay is below the local average wage (the peg)."""

    dimension: str  # "level" or "post"
    key: int | str
    headcount: int
    average_pay: int
    pct_of_local_average: Decimal


@dataclass(frozen=True)
class PayCheck:
    """The report. Averages are ``None`` when there is nobody (or the wage figure is 0)."""

    headcount: int
    local_average_wage: int
    minimum_wage: int
    average_pay: int | None
    pct_of_local_average: Decimal | None
    pct_of_minimum_wage: Decimal | None
    below_minimum: list[BelowMinimum]
    unequal_pay: list[UnequalPay]
    below_peg: list[PegShortfall]


def _pct(total: int, count: int, reference: int) -> Decimal | None:
    """``total / count`` as a percentage of ``reference``, 2 dp, rounded once."""
    if count == 0 or reference <= 0:
        return None
    return Decimal(div_round(total * 10_000, count * reference)).scaleb(-2)


def _values_text(values: Mapping[int, int]) -> str:
    return ", ".join(f"{fen_str(v)} ×{n}" for v, n in sorted(values.items()))


def _explain(component: str, group: list[PayLine]) -> tuple[PayDifference, bool]:
    """The difference in one component, and whether it is justified."""
    amounts = [line.components.get(component, 0) for line in group]
    values: dict[int, int] = {}
    for a in amounts:
        values[a] = values.get(a, 0) + 1
    text = _values_text(values)
    if component == PERFORMANCE_COMPONENT:
        by_grade: dict[str, set[int]] = {}
        for line, a in zip(group, amounts, strict=True):
            by_grade.setdefault(line.last_grade or "none", set()).add(a)
        if any(line.last_grade is not None for line in group) and all(
            len(s) == 1 for s in by_grade.values()
        ):
            grades = ", ".join(f"{g} {fen_str(next(iter(s)))}" for g, s in sorted(by_grade.items()))
            reason = f"performance pay varies with the last assessment grade ({grades})"
            return PayDifference(component, values, reason), True
        mixed = [g for g, s in sorted(by_grade.items()) if len(s) > 1]
        if mixed and any(line.last_grade is not None for line in group):
            reason = (
                "performance pay differs between people with the same assessment grade "
                f"({', '.join(mixed)}): {text}"
            )
        else:
            reason = f"performance pay differs and no assessment grade explains it: {text}"
        return PayDifference(component, values, reason), False
    if component == "level_pay":
        reason = f"level pay differs although level and step are the same: {text}"
    elif component == "position_pay":
        reason = f"position pay differs although the post is the same: {text}"
    elif component == "base_pay":
        reason = f"base pay differs although level, step and post are the same: {text}"
    elif 0 in values:
        holders = len(amounts) - values[0]
        reason = f"{component} is paid to {holders} of {len(amounts)} people in the group: {text}"
    else:
        reason = f"{component} differs: {text}"
    return PayDifference(component, values, reason), False


def _unequal(key: tuple[int, int, str], group: list[PayLine]) -> UnequalPay | None:
    pays = [line.gross_fixed_fen for line in group]
    lowest, highest = min(pays), max(pays)
    if lowest == highest:
        return None
    names: list[str] = []
    for line in group:
        for name in line.components:
            if name not in names:
                names.append(name)
    causes: list[PayDifference] = []
    justified = True
    for name in names:
        if len({line.components.get(name, 0) for line in group}) > 1:
            diff, ok = _explain(name, group)
            causes.append(diff)
            justified = justified and ok
    if not causes:
        values: dict[int, int] = {}
        for p in pays:
            values[p] = values.get(p, 0) + 1
        causes.append(
            PayDifference(
                "unexplained",
                values,
                "fixed pay differs but the components given are equal: "
                "the components do not account for the fixed pay",
            )
        )
        justified = False
    level, step, post = key
    return UnequalPay(
        level=level,
        step=step,
        post=post,
        members=[(line.personnel_id, line.gross_fixed_fen) for line in group],
        lowest=lowest,
        highest=highest,
        causes=causes,
        justified=justified,
    )


def analyse_pay(lines: Iterable[PayLine], local_average_wage: int, minimum_wage: int) -> PayCheck:
    """The pay check of one region and period; wages are monthly, in fen.

    Average pay is the mean fixed pay (rounded once); the percentages are of the exact
    mean. Below-minimum is strictly less than ``minimum_wage``. Groups whose fixed pay
    differs are listed by (level, step, post); levels and posts whose average is below
    ``local_average_wage`` are listed in ``below_peg``.
    """
    if local_average_wage < 0 or minimum_wage < 0:
        raise ValueError("wages cannot be negative")
    lines = list(lines)
    n = len(lines)
    total = 0
    below: list[BelowMinimum] = []
    groups: dict[tuple[int, int, str], list[PayLine]] = {}
    by_level: dict[int, list[int]] = {}
    by_post: dict[str, list[int]] = {}
    for line in lines:
        pay = line.gross_fixed_fen
        total += pay
        if pay < minimum_wage:
            below.append(
                BelowMinimum(
                    line.personnel_id, line.level, line.step, line.post, pay, minimum_wage - pay
                )
            )
        groups.setdefault((line.level, line.step, line.post), []).append(line)
        acc = by_level.setdefault(line.level, [0, 0])
        acc[0] += 1
        acc[1] += pay
        acc = by_post.setdefault(line.post, [0, 0])
        acc[0] += 1
        acc[1] += pay

    unequal = [
        u for key, group in sorted(groups.items()) if (u := _unequal(key, group)) is not None
    ]

    below_peg: list[PegShortfall] = []
    if local_average_wage > 0:
        keyed: list[tuple[str, int | str, list[int]]] = [
            ("level", k, v) for k, v in sorted(by_level.items())
        ]
        keyed += [("post", k, v) for k, v in sorted(by_post.items())]
        for dimension, key, (count, pay_total) in keyed:
            if pay_total < local_average_wage * count:
                pct = _pct(pay_total, count, local_average_wage)
                assert pct is not None
                below_peg.append(
                    PegShortfall(dimension, key, count, div_round(pay_total, count), pct)
                )

    return PayCheck(
        headcount=n,
        local_average_wage=local_average_wage,
        minimum_wage=minimum_wage,
        average_pay=div_round(total, n) if n else None,
        pct_of_local_average=_pct(total, n, local_average_wage),
        pct_of_minimum_wage=_pct(total, n, minimum_wage),
        below_minimum=below,
        unequal_pay=unequal,
        below_peg=below_peg,
    )
