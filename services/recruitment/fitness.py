"""Fitness test (体能测评): the police standard as the default, a configurable override.

Times are seconds (4′25″ is 265), heights are centimetres, all as `Decimal`. A timed item
passes when the measurement is at most the limit; the jump-and-touch passes when it is at
least the limit. A missing measurement fails its item, and failing any item fails the test.

The default is the police standard from domain.md. Its source gives no jump-and-touch
figure for the 31-and-over groups, so those groups carry the ≤30 figure over unchanged
(265 cm for men, 230 cm for women).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from services.common.resident_id import Sex


class FitnessItem(StrEnum):
    SHUTTLE_10M_X4 = "shuttle_10m_x4"  # seconds, lower is better
    RUN_1000M = "run_1000m"  # seconds, lower is better
    RUN_800M = "run_800m"  # seconds, lower is better
    VERTICAL_JUMP_TOUCH = "vertical_jump_touch"  # centimetres, higher is better


HIGHER_IS_BETTER = frozenset({FitnessItem.VERTICAL_JUMP_TOUCH})

_MIN_SEC = re.compile(r"^\s*(\d+)\s*(?:['′:])\s*(\d+(?:\.\d+)?)\s*(?:[\"″]|'')?\s*$")


def parse_duration(text: str | int | Decimal) -> Decimal:
    """Seconds from `265`, `"265"`, `"13.1"`, `"4'25\\""`, `"4′25″"` or `"4:25"`."""
    if isinstance(text, bool):
        raise ValueError("a duration is a number of seconds or m'ss\"")
    if isinstance(text, int | Decimal):
        value = Decimal(text)
    else:
        match = _MIN_SEC.match(text)
        if match:
            seconds = Decimal(match.group(2))
            if seconds >= 60:
                raise ValueError(f"{text!r}: seconds part must be under 60")
            value = int(match.group(1)) * 60 + seconds
        else:
            try:
                value = Decimal(text.strip())
            except InvalidOperation as exc:
                raise ValueError(f"{text!r} is not a duration") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} is not a duration")
    return value


def _limit(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('give limits as strings, e.g. "13.1" or "4\'25\\""')
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        return parse_duration(value)
    return value


# the constraint comes first, so that it is published as exclusiveMinimum (not "gt")
Limit = Annotated[Decimal, Field(gt=0), BeforeValidator(_limit)]


class FitnessGroup(BaseModel):
    """The limits for one sex and an age band (both ends inclusive, open-ended when None)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sex: Sex
    min_age: int = Field(default=0, ge=0)
    max_age: int | None = Field(default=None, ge=0)
    limits: dict[FitnessItem, Limit] = Field(min_length=1)


class FitnessStandard(BaseModel):
    """Groups that cover every age for both sexes exactly once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[FitnessGroup] = Field(min_length=2)

    @model_validator(mode="after")
    def _cover_every_age(self) -> FitnessStandard:
        for sex in Sex:
            bands = sorted((g for g in self.groups if g.sex is sex), key=lambda g: g.min_age)
            if not bands:
                raise ValueError(f"no fitness group for {sex.value}")
            expected: int | None = 0
            for band in bands:
                if expected is None or band.min_age != expected:
                    raise ValueError(
                        f"{sex.value} fitness groups must cover every age from 0 once, "
                        "without gaps or overlaps"
                    )
                if band.max_age is not None and band.max_age < band.min_age:
                    raise ValueError("a fitness group's max_age is below its min_age")
                expected = None if band.max_age is None else band.max_age + 1
            if expected is not None:
                raise ValueError(f"the oldest {sex.value} fitness group must have no max_age")
        return self

    def group_for(self, sex: Sex, age: int) -> FitnessGroup:
        for group in self.groups:
            if (
                group.sex is sex
                and group.min_age <= age
                and (group.max_age is None or age <= group.max_age)
            ):
                return group
        raise ValueError(f"no fitness group for {sex.value} aged {age}")


def _group(sex: Sex, min_age: int, max_age: int | None, **limits: str) -> FitnessGroup:
    return FitnessGroup(
        sex=sex,
        min_age=min_age,
        max_age=max_age,
        limits={FitnessItem(k): parse_duration(v) for k, v in limits.items()},
    )


DEFAULT_STANDARD = FitnessStandard(
    groups=[
        _group(Sex.MALE, 0, 30, shuttle_10m_x4="13.1", run_1000m="4'25", vertical_jump_touch="265"),
        _group(
            Sex.MALE, 31, None, shuttle_10m_x4="13.4", run_1000m="4'35", vertical_jump_touch="265"
        ),
        _group(
            Sex.FEMALE, 0, 30, shuttle_10m_x4="14.1", run_800m="4'20", vertical_jump_touch="230"
        ),
        _group(
            Sex.FEMALE, 31, None, shuttle_10m_x4="14.4", run_800m="4'30", vertical_jump_touch="230"
        ),
    ]
)


@dataclass(frozen=True, slots=True)
class FitnessResult:
    passed: bool
    failed_items: tuple[FitnessItem, ...]
    """Items over (or under) their limit, or not measured; in the standard's order."""


def judge_fitness(
    sex: Sex,
    age: int,
    measurements: Mapping[FitnessItem, Decimal] | Mapping[str, Decimal],
    standard: FitnessStandard = DEFAULT_STANDARD,
) -> FitnessResult:
    """Pass/fail against the group for `sex` and `age`; keys are FitnessItem values.

    A missing item fails; measurements for items the group does not test are ignored.
    """
    failed: list[FitnessItem] = []
    for item, limit in standard.group_for(sex, age).limits.items():
        value = measurements.get(item)
        if value is None:
            failed.append(item)
        elif item in HIGHER_IS_BETTER:
            if value < limit:
                failed.append(item)
        elif value > limit:
            failed.append(item)
    return FitnessResult(passed=not failed, failed_items=tuple(failed))
