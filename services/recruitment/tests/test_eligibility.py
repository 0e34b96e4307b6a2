from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.education import Education
from services.common.resident_id import InvalidIdNumber, Sex, make_id_number
from services.recruitment.eligibility import NEGATIVE_LIST, ApplicantFacts, assess
from services.recruitment.rules import PostRules

REF = date(2026, 6, 30)
CLEAN = dict.fromkeys(NEGATIVE_LIST, False)


def id_for(birth: date, sex: Sex = Sex.MALE, address: str = "371327") -> str:
    return make_id_number(address, birth, 11 if sex is Sex.MALE else 12)


def applicant(birth: date = date(2000, 1, 1), sex: Sex = Sex.MALE, **kwargs: Any) -> ApplicantFacts:
    facts: dict[str, Any] = {
        "education": Education.BACHELOR,
        "height_cm": Decimal(178),
        "vision": Decimal("5.0"),
        "hukou_region": "371327",
        "declarations": CLEAN,
    }
    facts.update(kwargs)
    return ApplicantFacts(id_number=id_for(birth, sex), **facts)


def post(**eligibility: Any) -> PostRules:
    return PostRules.model_validate({"eligibility": eligibility})


PATROL = post(
    max_age=30,
    min_education="senior_high",
    min_height_cm=170,
    min_vision="4.6",
    hukou_prefix="3713",
)


def codes(facts: ApplicantFacts, rules: PostRules = PATROL, ref: date = REF) -> list[str]:
    return [r.code for r in assess(facts, rules, ref).reasons]


def test_a_clean_applicant_is_eligible() -> None:
    result = assess(applicant(), PATROL, REF)
    assert result.eligible
    assert result.reasons == ()


def test_age_and_sex_come_from_the_id_number() -> None:
    facts = applicant(birth=date(1999, 2, 3), sex=Sex.FEMALE)
    assert facts.resident.birth_date == date(1999, 2, 3)
    assert facts.resident.sex is Sex.FEMALE


def test_an_invalid_id_number_is_refused_on_construction() -> None:
    with pytest.raises(InvalidIdNumber):
        ApplicantFacts(id_number="371327200001010010", education=Education.BACHELOR)


@pytest.mark.parametrize(
    ("birth", "expected"),
    [
        (date(2008, 6, 30), []),  # 18 today
        (date(2008, 7, 1), ["age_below_min"]),  # 18 tomorrow
        (date(1995, 7, 1), []),  # 30, turns 31 tomorrow
        (date(1995, 6, 30), ["age_above_max"]),  # 31 today
    ],
)
def test_age_bounds_are_inclusive_on_the_reference_date(birth: date, expected: list[str]) -> None:
    assert codes(applicant(birth=birth)) == expected


def test_veterans_get_extra_years() -> None:
    assert codes(applicant(birth=date(1990, 7, 1), veteran=True)) == []  # 35
    assert codes(applicant(birth=date(1990, 6, 30), veteran=True)) == ["age_above_max"]  # 36
    assert codes(applicant(birth=date(1990, 7, 1))) == ["age_above_max"]
    no_extension = post(max_age=30, veteran_age_extension=0)
    assert codes(applicant(birth=date(1994, 1, 1), veteran=True), no_extension) == ["age_above_max"]


def test_default_age_range_is_18_to_35() -> None:
    rules = post()
    assert codes(applicant(birth=date(1991, 1, 1)), rules) == []  # 35
    assert codes(applicant(birth=date(1990, 1, 1)), rules) == ["age_above_max"]  # 36
    assert codes(applicant(birth=date(2009, 1, 1)), rules) == ["age_below_min"]  # 17


def test_age_message_names_the_figures() -> None:
    reason = assess(applicant(birth=date(1990, 1, 1)), PATROL, REF).reasons[0]
    assert reason.message == "age 36 is above the maximum 30"


@pytest.mark.parametrize(
    ("education", "veteran", "special_skill", "ok"),
    [
        (Education.JUNIOR_COLLEGE, False, False, True),
        (Education.MASTER, False, False, True),
        (Education.SENIOR_HIGH, False, False, False),
        (Education.SENIOR_HIGH, True, False, True),
        (Education.SENIOR_HIGH, False, True, True),
        (Education.JUNIOR_HIGH, True, True, False),
    ],
)
def test_education_with_exceptions(
    education: Education, veteran: bool, special_skill: bool, ok: bool
) -> None:
    facts = applicant(education=education, veteran=veteran, special_skill=special_skill)
    assert codes(facts, post()) == ([] if ok else ["education_below_min"])


def test_education_exceptions_can_be_narrowed() -> None:
    rules = post(education_exceptions=["veteran"])
    assert codes(applicant(education=Education.SENIOR_HIGH, veteran=True), rules) == []
    assert codes(applicant(education=Education.SENIOR_HIGH, special_skill=True), rules) == [
        "education_below_min"
    ]
    none = post(education_exceptions=[])
    assert codes(applicant(education=Education.SENIOR_HIGH, veteran=True), none) == [
        "education_below_min"
    ]


def test_height_and_vision_on_duty_posts() -> None:
    assert codes(applicant(height_cm=Decimal(170), vision=Decimal("4.6"))) == []
    assert codes(applicant(height_cm=Decimal("169.5"))) == ["height_below_min"]
    assert codes(applicant(vision=Decimal("4.5"))) == ["vision_below_min"]
    assert codes(applicant(height_cm=None, vision=None)) == ["height_missing", "vision_missing"]


def test_height_and_vision_do_not_apply_to_other_posts() -> None:
    clerk = post(duty_post=False, min_height_cm=170, min_vision="4.6")
    assert codes(applicant(height_cm=Decimal(150), vision=Decimal("4.0")), clerk) == []
    assert codes(applicant(height_cm=None, vision=None), clerk) == []


def test_women_may_have_their_own_height() -> None:
    rules = post(min_height_cm=170, min_height_cm_female=160)
    assert codes(applicant(sex=Sex.FEMALE, height_cm=Decimal(162)), rules) == []
    assert codes(applicant(sex=Sex.FEMALE, height_cm=Decimal(159)), rules) == ["height_below_min"]
    assert codes(applicant(sex=Sex.MALE, height_cm=Decimal(165)), rules) == ["height_below_min"]


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("3713", []),
        ("371327", []),
        ("371327001", []),
        ("3701", ["hukou_outside_region"]),
        ("37", ["hukou_outside_region"]),
        (None, ["hukou_missing"]),
        ("", ["hukou_missing"]),
    ],
)
def test_household_registration(region: str | None, expected: list[str]) -> None:
    assert codes(applicant(hukou_region=region)) == expected


def test_no_hukou_condition_means_anyone() -> None:
    assert codes(applicant(hukou_region=None), post()) == []


@pytest.mark.parametrize("key", NEGATIVE_LIST)
def test_each_negative_declaration_excludes(key: str) -> None:
    assert codes(applicant(declarations={**CLEAN, key: True})) == [f"negative_list:{key}"]


def test_missing_declarations_are_reasons_each() -> None:
    partial = dict.fromkeys(NEGATIVE_LIST[2:], False)
    result = assess(applicant(declarations=partial), PATROL, REF)
    assert not result.eligible
    assert [r.code for r in result.reasons] == ["declaration_missing"] * 2
    assert "'criminal_record'" in result.reasons[0].message
    assert "'open_criminal_case'" in result.reasons[1].message
    undecided = {**CLEAN, "cult_membership": None}
    assert codes(applicant(declarations=undecided)) == ["declaration_missing"]
    assert codes(applicant(declarations={})) == ["declaration_missing"] * len(NEGATIVE_LIST)


def test_extra_declarations_are_ignored() -> None:
    assert codes(applicant(declarations={**CLEAN, "likes_dogs": True})) == []


def test_every_failure_is_reported() -> None:
    facts = applicant(
        birth=date(1980, 1, 1),
        education=Education.JUNIOR_HIGH,
        height_cm=Decimal(160),
        vision=Decimal("4.0"),
        hukou_region="110105",
        declarations={**CLEAN, "criminal_record": True, "serious_bad_credit": True},
    )
    assert codes(facts) == [
        "age_above_max",
        "education_below_min",
        "height_below_min",
        "vision_below_min",
        "hukou_outside_region",
        "negative_list:criminal_record",
        "negative_list:serious_bad_credit",
    ]


@given(
    birth=st.dates(date(1960, 1, 1), date(2015, 12, 31)),
    ref=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    veteran=st.booleans(),
    min_age=st.integers(16, 25),
    span=st.integers(0, 20),
    extension=st.integers(0, 10),
)
def test_age_reasons_match_whole_years(
    birth: date, ref: date, veteran: bool, min_age: int, span: int, extension: int
) -> None:
    rules = post(min_age=min_age, max_age=min_age + span, veteran_age_extension=extension)
    result = assess(applicant(birth=birth, veteran=veteran), rules, ref)
    years = ref.year - birth.year - ((ref.month, ref.day) < (birth.month, birth.day))
    top = min_age + span + (extension if veteran else 0)
    expected = ["age_below_min"] if years < min_age else ["age_above_max"] if years > top else []
    assert [r.code for r in result.reasons] == expected
    assert result.eligible is (expected == [])


@given(
    education=st.sampled_from(list(Education)),
    veteran=st.booleans(),
    special_skill=st.booleans(),
    height=st.decimals(min_value=140, max_value=200, places=1),
    vision=st.decimals(min_value=4, max_value="5.3", places=1),
    declared=st.dictionaries(st.sampled_from(NEGATIVE_LIST), st.booleans()),
)
def test_eligible_exactly_when_no_reasons(
    education: Education,
    veteran: bool,
    special_skill: bool,
    height: Decimal,
    vision: Decimal,
    declared: dict[str, bool],
) -> None:
    facts = applicant(
        education=education,
        veteran=veteran,
        special_skill=special_skill,
        height_cm=height,
        vision=vision,
        declarations=declared,
    )
    result = assess(facts, PATROL, REF)
    assert result.eligible is (len(result.reasons) == 0)
    got = {r.code for r in result.reasons}
    assert ("height_below_min" in got) is (height < 170)
    assert ("vision_below_min" in got) is (vision < Decimal("4.6"))
    assert ("education_below_min" in got) is (education is Education.JUNIOR_HIGH)
    for key in NEGATIVE_LIST:
        assert (f"negative_list:{key}" in got) is (declared.get(key) is True)
    missing = [r for r in result.reasons if r.code == "declaration_missing"]
    assert len(missing) == len(NEGATIVE_LIST) - len(declared)
