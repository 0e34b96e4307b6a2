"""Qualification review (资格审查): does an applicant meet a post's conditions?

Age and sex come from the resident ID number, never from a typed field. Every failed
condition gives a `Reason` with a stable machine `code`; front-ends translate the code,
the English `message` is for logs and reviewers.

Codes: age_below_min, age_above_max, education_below_min, height_missing,
height_below_min, vision_missing, vision_below_min, hukou_missing, hukou_outside_region,
declaration_missing (one per missing declaration, the key in the message) and
negative_list:<key> for each of NEGATIVE_LIST declared true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from services.common import region_code, resident_id
from services.common.education import Education
from services.common.resident_id import ResidentId
from services.recruitment.rules import PostRules

NEGATIVE_LIST: tuple[str, ...] = (
    "criminal_record",
    "open_criminal_case",
    "administrative_detention",
    "drugs_prostitution_gambling",
    "cult_membership",
    "expelled_public_office_or_military",
    "auxiliary_contract_terminated_for_misconduct",
    "serious_bad_credit",
)
"""Declarations every applicant makes; any one true excludes (the political review checks)."""


@dataclass(frozen=True, slots=True)
class ApplicantFacts:
    """What an applicant states. Constructing it validates the ID number.

    Raises `services.common.resident_id.InvalidIdNumber` for a bad number.
    `vision` is uncorrected, on the 5-point scale (e.g. Decimal("4.6")).
    """

    id_number: str
    education: Education
    veteran: bool = False
    special_skill: bool = False
    height_cm: Decimal | None = None
    vision: Decimal | None = None
    hukou_region: str | None = None
    declarations: Mapping[str, bool | None] = field(default_factory=lambda: MappingProxyType({}))
    resident: ResidentId = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resident", resident_id.parse(self.id_number))


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Eligibility:
    eligible: bool
    reasons: tuple[Reason, ...]


def assess(applicant: ApplicantFacts, post_rules: PostRules, reference_date: date) -> Eligibility:
    """Check `applicant` against the post; age is in whole years on `reference_date`.

    The reference date is normally the day registration closes (or opens, per the
    announcement). Every failure is reported, not just the first.
    """
    rules = post_rules.eligibility
    person = applicant.resident
    reasons: list[Reason] = []

    age = person.age_on(reference_date)
    max_age = rules.max_age + (rules.veteran_age_extension if applicant.veteran else 0)
    if age < rules.min_age:
        reasons.append(Reason("age_below_min", f"age {age} is below the minimum {rules.min_age}"))
    elif age > max_age:
        reasons.append(Reason("age_above_max", f"age {age} is above the maximum {max_age}"))

    if not applicant.education.at_least(rules.min_education):
        excepted = ("veteran" in rules.education_exceptions and applicant.veteran) or (
            "special_skill" in rules.education_exceptions and applicant.special_skill
        )
        floor = rules.exception_min_education if excepted else rules.min_education
        if not applicant.education.at_least(floor):
            reasons.append(
                Reason(
                    "education_below_min",
                    f"education {applicant.education.value} is below {floor.value}",
                )
            )

    if rules.duty_post:
        min_height = rules.min_height_for(person.sex)
        if min_height is not None:
            if applicant.height_cm is None:
                reasons.append(Reason("height_missing", "height is required for this post"))
            elif applicant.height_cm < min_height:
                reasons.append(
                    Reason(
                        "height_below_min",
                        f"height {applicant.height_cm} cm is below {min_height} cm",
                    )
                )
        if rules.min_vision is not None:
            if applicant.vision is None:
                reasons.append(Reason("vision_missing", "vision is required for this post"))
            elif applicant.vision < rules.min_vision:
                reasons.append(
                    Reason(
                        "vision_below_min",
                        f"uncorrected vision {applicant.vision} is below {rules.min_vision}",
                    )
                )

    if rules.hukou_prefix is not None:
        if not applicant.hukou_region:
            reasons.append(Reason("hukou_missing", "household registration is required"))
        elif not region_code.within(applicant.hukou_region, rules.hukou_prefix):
            reasons.append(
                Reason(
                    "hukou_outside_region",
                    f"household registration {applicant.hukou_region} is outside "
                    f"{rules.hukou_prefix}",
                )
            )

    declarations = applicant.declarations
    for key in NEGATIVE_LIST:
        value = declarations.get(key)
        if value is None:
            reasons.append(Reason("declaration_missing", f"declaration {key!r} is missing"))
        elif value:
            reasons.append(Reason(f"negative_list:{key}", f"declared {key.replace('_', ' ')}"))

    return Eligibility(eligible=not reasons, reasons=tuple(reasons))
