"""A campaign's `rules` (api.md, "Recruitment"), validated into typed, immutable models.

Parse with `CampaignRules.model_validate(payload)` and store with
`rules.model_dump(mode="json")`; the round trip is exact. Unknown keys are refused.

Decimals are given as strings (`"0.5"`) or integers; JSON floats are refused, because a
float such as 0.30000000000000004 would silently break the weights' sum or a pass line.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from kernel.schemas import Day, EnumName, decimal_text
from services.common import region_code
from services.common.education import Education
from services.common.resident_id import Sex
from services.recruitment.fitness import FitnessStandard

_ZERO = Decimal(0)
_ONE = Decimal(1)


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        # 1.0 is the integer 1 in JSON (and in the published schema, which says integer)
        if value.is_integer():
            return int(value)
        raise ValueError('give decimals as strings, e.g. "0.5"')
    return value


# Constraints come before the validator, so that they are published as JSON Schema
# (minimum, maximum) rather than pydantic's own "ge"/"le".
_DEC = (BeforeValidator(_no_float), *decimal_text(integers_only=True))
Dec = Annotated[Decimal, *_DEC]
Score = Annotated[Decimal, Field(ge=0, le=100), *_DEC]
Ratio = Annotated[Decimal, Field(ge=1), *_DEC]
Height = Annotated[Decimal, Field(gt=0, le=250), *_DEC]
Vision = Annotated[Decimal, Field(ge=3, le=6), *_DEC]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LossCause(StrEnum):
    """Why a candidate lost a place; `backfill.on` lists those that are backfilled."""

    FITNESS = "fitness"
    MEDICAL = "medical"
    POLITICAL = "political"
    WITHDRAWAL = "withdrawal"
    OBJECTION = "objection"


TieBreakKey = Annotated[
    Literal["interview", "written", "fitness", "priority", "registration"], EnumName("TieBreakKey")
]
EducationException = Annotated[Literal["veteran", "special_skill"], EnumName("EducationException")]
BonusBase = Annotated[Literal["written", "composite"], EnumName("BonusBase")]
BonusStacking = Annotated[Literal["highest", "sum"], EnumName("BonusStacking")]

_DEFAULT_TIE_BREAK: tuple[TieBreakKey, ...] = ("interview", "written")
_DEFAULT_EDUCATION_EXCEPTIONS: tuple[EducationException, ...] = ("veteran", "special_skill")


class Weights(_Model):
    """Composite weights. They sum to exactly 1; fitness > 0 means fitness is scored 0–100."""

    written: Dec = Field(ge=0, le=1)
    interview: Dec = Field(ge=0, le=1)
    fitness: Dec = Field(default=_ZERO, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Weights:
        total = self.written + self.interview + self.fitness
        if total != _ONE:
            raise ValueError(f"weights must sum to 1, not {total}")
        return self

    @property
    def fitness_scored(self) -> bool:
        return self.fitness > 0


class BonusRule(_Model):
    """Points for a category (e.g. veteran), on the written score or after weighting.

    `posts` None means every post.
    """

    category: str = Field(min_length=1)
    points: Dec = Field(gt=0, le=100)
    applies_to: BonusBase = "written"
    posts: list[str] | None = None

    def covers(self, post: str) -> bool:
        return self.posts is None or post in self.posts


class BackfillPolicy(_Model):
    """Which losses of a place are backfilled, how often per post, and until when.

    `max_rounds` None is unlimited; `until` is the last day (inclusive) a loss is backfilled.
    """

    on: list[LossCause] = Field(default_factory=lambda: list(LossCause))
    max_rounds: int | None = Field(default=None, ge=0)
    until: Day | None = None

    @model_validator(mode="after")
    def _unique(self) -> BackfillPolicy:
        if len(set(self.on)) != len(self.on):
            raise ValueError("backfill.on lists a cause twice")
        return self


class InterviewScoring(_Model):
    drop_extremes: bool = False


class RatioTier(_Model):
    """Applies to posts with at most `up_to` places; the last tier has `up_to` None."""

    up_to: int | None = Field(default=None, ge=1)
    ratio: Dec = Field(ge=1)


DEFAULT_RATIO_TIERS: tuple[RatioTier, ...] = (
    RatioTier(up_to=5, ratio=Decimal(3)),
    RatioTier(up_to=10, ratio=Decimal("2.5")),
    RatioTier(up_to=None, ratio=Decimal(2)),
)


def tiered_entry_ratio(places: int, tiers: tuple[RatioTier, ...] = DEFAULT_RATIO_TIERS) -> Decimal:
    """The ratio for a post's place count: by default 3 for ≤5, 2.5 for 6–10, 2 for ≥11."""
    if places < 1:
        raise ValueError("a post has at least one place")
    for tier in tiers:
        if tier.up_to is None or places <= tier.up_to:
            return tier.ratio
    raise ValueError("the ratio tiers do not cover every place count")


def entry_count(places: int, ratio: Decimal) -> int:
    """k, how many may enter the interview: ⌈places × ratio⌉ (7.5 rounds up to 8)."""
    if places < 0:
        raise ValueError("places cannot be negative")
    if ratio <= 0:
        raise ValueError("the entry ratio must be positive")
    return int((places * ratio).to_integral_value(rounding=ROUND_CEILING))


class EligibilityRules(_Model):
    """Registration conditions of one post. Ages are whole years, both ends inclusive.

    Education: `min_education`, or `exception_min_education` for applicants in one of the
    `education_exceptions` (veterans, special skills). Height and vision are checked only on
    duty posts; `min_height_cm_female` replaces `min_height_cm` for women when set.
    """

    min_age: int = Field(default=18, ge=16, le=70)
    max_age: int = Field(default=35, ge=16, le=70)
    veteran_age_extension: int = Field(default=5, ge=0, le=20)
    min_education: Education = Education.JUNIOR_COLLEGE
    education_exceptions: list[EducationException] = Field(
        default_factory=lambda: list(_DEFAULT_EDUCATION_EXCEPTIONS)
    )
    exception_min_education: Education = Education.SENIOR_HIGH
    duty_post: bool = True
    min_height_cm: Height | None = None
    min_height_cm_female: Height | None = None
    min_vision: Vision | None = None
    hukou_prefix: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EligibilityRules:
        if self.max_age < self.min_age:
            raise ValueError("max_age is below min_age")
        if not self.min_education.at_least(self.exception_min_education):
            raise ValueError("exception_min_education must not be above min_education")
        if self.hukou_prefix is not None and not region_code.is_valid(self.hukou_prefix):
            raise ValueError("hukou_prefix must be a region code of 2, 4, 6 or 9 digits")
        return self

    def min_height_for(self, sex: Sex) -> Decimal | None:
        if sex is Sex.FEMALE and self.min_height_cm_female is not None:
            return self.min_height_cm_female
        return self.min_height_cm


class PostRules(_Model):
    """One post: `entry_ratio` is interviewees per place, or "tiered" for the tier table."""

    entry_ratio: Ratio | Literal["tiered"] = Decimal(3)
    written_pass_line: Score | None = None
    interview_pass_line: Score | None = None
    fitness_pass_line: Score | None = None
    eligibility: EligibilityRules = Field(default_factory=EligibilityRules)
    fitness_standard: FitnessStandard | None = None


class CampaignRules(_Model):
    """The whole `rules` object of a campaign. See the module docstring for parsing."""

    weights: Weights
    bonus: list[BonusRule] = Field(default_factory=list)
    bonus_stacking: BonusStacking = "highest"
    bonus_counts_toward_pass_line: bool = False
    tie_break: list[TieBreakKey] = Field(default_factory=lambda: list(_DEFAULT_TIE_BREAK))
    backfill: BackfillPolicy = Field(default_factory=BackfillPolicy)
    publicity_working_days: int = Field(default=5, ge=1, le=30)
    interview_scoring: InterviewScoring = Field(default_factory=InterviewScoring)
    entry_ratio_tiers: tuple[RatioTier, ...] = DEFAULT_RATIO_TIERS
    posts: dict[str, PostRules] = Field(min_length=1)
    holidays: list[Day] = Field(default_factory=list)
    workdays_override: list[Day] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> CampaignRules:
        if len(set(self.tie_break)) != len(self.tie_break):
            raise ValueError("tie_break lists a key twice")
        if "fitness" in self.tie_break and not self.weights.fitness_scored:
            raise ValueError('tie_break "fitness" needs a fitness weight above 0')
        if any(not name for name in self.posts):
            raise ValueError("a post name cannot be empty")
        given: set[tuple[str, str, str]] = set()
        for rule in self.bonus:
            for post in rule.posts if rule.posts is not None else self.posts:
                if post not in self.posts:
                    raise ValueError(f"bonus for {rule.category!r} names unknown post {post!r}")
                key = (rule.category, rule.applies_to, post)
                if key in given:
                    raise ValueError(
                        f"bonus {rule.category!r} on {rule.applies_to} is given twice for {post!r}"
                    )
                given.add(key)
        tiers = self.entry_ratio_tiers
        ups = [t.up_to for t in tiers]
        if not tiers or ups[-1] is not None or None in ups[:-1]:
            raise ValueError("entry_ratio_tiers must end with exactly one tier without up_to")
        bounded = [u for u in ups if u is not None]
        if bounded != sorted(set(bounded)):
            raise ValueError("entry_ratio_tiers must have increasing up_to")
        if set(self.holidays) & set(self.workdays_override):
            raise ValueError("a day cannot be both a holiday and an adjusted working day")
        return self

    @property
    def fitness_scored(self) -> bool:
        return self.weights.fitness_scored

    def post(self, name: str) -> PostRules:
        """The rules of a post; KeyError when the campaign has no such post."""
        return self.posts[name]

    def entry_ratio_for(self, post: str, places: int) -> Decimal:
        ratio = self.posts[post].entry_ratio
        if ratio == "tiered":
            return tiered_entry_ratio(places, self.entry_ratio_tiers)
        return ratio

    def bonus_for(self, post: str, categories: frozenset[str] | set[str]) -> BonusPoints:
        """The bonus an applicant in `categories` earns on `post`.

        With `bonus_stacking` "highest" (the default, 不累计) only the largest applicable
        points count, separately for the written and the composite bonus; with "sum" they
        add up. `priority` is true when any bonus category applies (tie-break "priority").
        """
        if post not in self.posts:
            raise KeyError(post)
        written: list[Decimal] = []
        composite: list[Decimal] = []
        for rule in self.bonus:
            if rule.category in categories and rule.covers(post):
                (written if rule.applies_to == "written" else composite).append(rule.points)
        pick = max if self.bonus_stacking == "highest" else sum
        return BonusPoints(
            written=Decimal(pick(written)) if written else _ZERO,
            composite=Decimal(pick(composite)) if composite else _ZERO,
            priority=bool(written or composite),
        )


@dataclass(frozen=True, slots=True)
class BonusPoints:
    written: Decimal
    composite: Decimal
    priority: bool

    @property
    def total(self) -> Decimal:
        return self.written + self.composite
