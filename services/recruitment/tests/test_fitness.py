from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.common.resident_id import Sex
from services.recruitment.fitness import (
    DEFAULT_STANDARD,
    FitnessItem,
    FitnessStandard,
    judge_fitness,
    parse_duration,
)

SHUTTLE, RUN_1000, RUN_800, JUMP = (
    FitnessItem.SHUTTLE_10M_X4,
    FitnessItem.RUN_1000M,
    FitnessItem.RUN_800M,
    FitnessItem.VERTICAL_JUMP_TOUCH,
)


def d(x: str | int) -> Decimal:
    return Decimal(x)


# The thresholds of the police standard (domain.md), jump-and-touch carried over at 31+.
LIMITS = {
    (Sex.MALE, 30): {SHUTTLE: d("13.1"), RUN_1000: d(265), JUMP: d(265)},
    (Sex.MALE, 31): {SHUTTLE: d("13.4"), RUN_1000: d(275), JUMP: d(265)},
    (Sex.FEMALE, 30): {SHUTTLE: d("14.1"), RUN_800: d(260), JUMP: d(230)},
    (Sex.FEMALE, 31): {SHUTTLE: d("14.4"), RUN_800: d(270), JUMP: d(230)},
}


@pytest.mark.parametrize(("sex", "age"), list(LIMITS))
def test_exactly_at_the_limits_passes(sex: Sex, age: int) -> None:
    result = judge_fitness(sex, age, LIMITS[(sex, age)])
    assert result.passed
    assert result.failed_items == ()


@pytest.mark.parametrize(("sex", "age"), list(LIMITS))
def test_one_step_worse_on_any_item_fails(sex: Sex, age: int) -> None:
    limits = LIMITS[(sex, age)]
    for item, limit in limits.items():
        worse = limit + d("0.1") if item is not JUMP else limit - 1
        result = judge_fitness(sex, age, {**limits, item: worse})
        assert not result.passed
        assert result.failed_items == (item,)


def test_age_groups_split_at_31() -> None:
    times = {SHUTTLE: d("13.3"), RUN_1000: d(270), JUMP: d(270)}
    assert not judge_fitness(Sex.MALE, 30, times).passed
    assert judge_fitness(Sex.MALE, 31, times).passed
    assert judge_fitness(Sex.MALE, 55, times).passed
    assert judge_fitness(Sex.MALE, 18, {**times, SHUTTLE: d(13), RUN_1000: d(265)}).passed


def test_men_run_1000_m_and_women_800_m() -> None:
    woman = {SHUTTLE: d(14), RUN_800: d(250), JUMP: d(240)}
    assert judge_fitness(Sex.FEMALE, 25, woman).passed
    result = judge_fitness(Sex.MALE, 25, woman)
    assert result.failed_items == (SHUTTLE, RUN_1000, JUMP)


def test_a_missing_item_fails_and_extra_ones_are_ignored() -> None:
    result = judge_fitness(Sex.FEMALE, 22, {SHUTTLE: d(14), JUMP: d(240), RUN_1000: d(200)})
    assert not result.passed
    assert result.failed_items == (RUN_800,)
    assert judge_fitness(Sex.FEMALE, 22, {}).failed_items == (SHUTTLE, RUN_800, JUMP)


def test_string_keys_work_too() -> None:
    result = judge_fitness(
        Sex.MALE,
        25,
        {"shuttle_10m_x4": d("12.9"), "run_1000m": d(250), "vertical_jump_touch": d(270)},
    )
    assert result.passed


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("4'25\"", 265),
        ("4'25", 265),
        ("4′25″", 265),
        ("4:25", 265),
        ("4'05.5\"", Decimal("245.5")),
        ("13.1", Decimal("13.1")),
        (" 265 ", 265),
        (265, 265),
        (Decimal("13.4"), Decimal("13.4")),
    ],
)
def test_parse_duration(text: Any, seconds: Decimal | int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["4'60", "abc", "-1", "NaN", "", True])
def test_parse_duration_rejects(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def standard(groups: list[dict[str, Any]]) -> FitnessStandard:
    return FitnessStandard.model_validate({"groups": groups})


def test_an_override_replaces_the_default() -> None:
    strict = standard(
        [
            {"sex": "male", "max_age": 25, "limits": {"run_1000m": "4'00"}},
            {"sex": "male", "min_age": 26, "limits": {"run_1000m": "4'10"}},
            {"sex": "female", "limits": {"run_800m": "4'00", "vertical_jump_touch": "235"}},
        ]
    )
    assert not judge_fitness(Sex.MALE, 25, {RUN_1000: d(245)}, strict).passed
    assert judge_fitness(Sex.MALE, 26, {RUN_1000: d(245)}, strict).passed
    result = judge_fitness(Sex.FEMALE, 40, {RUN_800: d(240), JUMP: d(231)}, strict)
    assert result.failed_items == (JUMP,)


@pytest.mark.parametrize(
    "groups",
    [
        [{"sex": "male", "limits": {"run_1000m": "250"}}],  # no women
        [  # gap at 31
            {"sex": "male", "max_age": 30, "limits": {"run_1000m": "250"}},
            {"sex": "male", "min_age": 32, "limits": {"run_1000m": "250"}},
            {"sex": "female", "limits": {"run_800m": "250"}},
        ],
        [  # overlap
            {"sex": "male", "max_age": 30, "limits": {"run_1000m": "250"}},
            {"sex": "male", "min_age": 30, "limits": {"run_1000m": "250"}},
            {"sex": "female", "limits": {"run_800m": "250"}},
        ],
        [  # does not start at 0
            {"sex": "male", "min_age": 18, "limits": {"run_1000m": "250"}},
            {"sex": "female", "limits": {"run_800m": "250"}},
        ],
        [  # oldest group bounded
            {"sex": "male", "max_age": 60, "limits": {"run_1000m": "250"}},
            {"sex": "female", "limits": {"run_800m": "250"}},
        ],
        [  # inverted band
            {"sex": "male", "max_age": 30, "limits": {"run_1000m": "250"}},
            {"sex": "male", "min_age": 31, "max_age": 20, "limits": {"run_1000m": "250"}},
            {"sex": "female", "limits": {"run_800m": "250"}},
        ],
        [  # no limits
            {"sex": "male", "limits": {}},
            {"sex": "female", "limits": {"run_800m": "250"}},
        ],
        [  # unknown item
            {"sex": "male", "limits": {"swim_50m": "40"}},
            {"sex": "female", "limits": {"run_800m": "250"}},
        ],
        [  # float limit
            {"sex": "male", "limits": {"shuttle_10m_x4": 13.1}},
            {"sex": "female", "limits": {"run_800m": "250"}},
        ],
    ],
)
def test_bad_standards(groups: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError):
        standard(groups)


def test_a_negative_age_has_no_group() -> None:
    with pytest.raises(ValueError):
        judge_fitness(Sex.MALE, -1, {})


@given(
    sex=st.sampled_from(list(Sex)),
    age=st.integers(16, 70),
    values=st.dictionaries(
        st.sampled_from(list(FitnessItem)), st.decimals(min_value=5, max_value=400, places=1)
    ),
)
def test_passes_exactly_when_every_item_of_the_group_passes(
    sex: Sex, age: int, values: dict[FitnessItem, Decimal]
) -> None:
    result = judge_fitness(sex, age, values)
    limits = DEFAULT_STANDARD.group_for(sex, age).limits
    expected = [
        item
        for item, limit in limits.items()
        if item not in values or (values[item] < limit if item is JUMP else values[item] > limit)
    ]
    assert list(result.failed_items) == expected
    assert result.passed is (not expected)
