import copy
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.common.education import Education
from services.common.resident_id import Sex
from services.recruitment.fitness import FitnessItem
from services.recruitment.rules import (
    DEFAULT_RATIO_TIERS,
    CampaignRules,
    LossCause,
    PostRules,
    RatioTier,
    entry_count,
    tiered_entry_ratio,
)

API_EXAMPLE = """
{"weights": {"written": "0.5", "interview": "0.5", "fitness": "0"},
 "bonus": [{"category": "veteran", "points": "2", "applies_to": "written"}],
 "tie_break": ["interview", "written"],
 "backfill": {"on": ["fitness", "medical", "political", "withdrawal", "objection"],
              "max_rounds": null, "until": null},
 "publicity_working_days": 5,
 "interview_scoring": {"drop_extremes": false},
 "posts": {"patrol": {"entry_ratio": "3", "written_pass_line": null,
                      "interview_pass_line": null,
                      "eligibility": {"min_age": 18, "max_age": 30,
                                      "veteran_age_extension": 5,
                                      "min_education": "senior_high",
                                      "min_height_cm": 170, "min_vision": "4.6",
                                      "hukou_prefix": null}}}}
"""


def example() -> dict[str, Any]:
    return json.loads(API_EXAMPLE)


def with_changes(**changes: Any) -> dict[str, Any]:
    data = example()
    data.update(changes)
    return data


def test_the_api_example_parses() -> None:
    rules = CampaignRules.model_validate(example())
    assert rules.weights.written == Decimal("0.5")
    assert not rules.fitness_scored
    assert rules.bonus[0].points == Decimal(2)
    assert rules.backfill.on == list(LossCause)
    assert rules.backfill.max_rounds is None
    patrol = rules.post("patrol")
    assert patrol.entry_ratio == Decimal(3)
    assert patrol.eligibility.max_age == 30
    assert patrol.eligibility.min_education is Education.SENIOR_HIGH
    assert patrol.eligibility.min_height_cm == Decimal(170)
    assert patrol.eligibility.min_vision == Decimal("4.6")
    assert patrol.eligibility.duty_post
    assert rules.holidays == []


def test_round_trip_through_json_is_exact() -> None:
    rules = CampaignRules.model_validate(example())
    dumped = json.loads(json.dumps(rules.model_dump(mode="json")))
    assert dumped["weights"]["written"] == "0.5"
    assert CampaignRules.model_validate(dumped) == rules


def test_minimal_rules_take_the_defaults() -> None:
    rules = CampaignRules.model_validate(
        {"weights": {"written": "0.4", "interview": "0.6"}, "posts": {"clerk": {}}}
    )
    assert rules.tie_break == ["interview", "written"]
    assert rules.publicity_working_days == 5
    assert rules.backfill.on == list(LossCause)
    assert not rules.interview_scoring.drop_extremes
    clerk = rules.post("clerk")
    assert clerk.entry_ratio == Decimal(3)
    e = clerk.eligibility
    assert (e.min_age, e.max_age, e.veteran_age_extension) == (18, 35, 5)
    assert e.min_education is Education.JUNIOR_COLLEGE
    assert e.exception_min_education is Education.SENIOR_HIGH
    assert e.education_exceptions == ["veteran", "special_skill"]


@pytest.mark.parametrize(
    "path",
    [
        ["surprise"],
        ["weights", "surprise"],
        ["backfill", "surprise"],
        ["interview_scoring", "surprise"],
        ["posts", "patrol", "surprise"],
        ["posts", "patrol", "eligibility", "surprise"],
    ],
)
def test_unknown_keys_are_refused(path: list[str]) -> None:
    data = example()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = 1
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CampaignRules.model_validate(data)


@pytest.mark.parametrize(
    "weights",
    [
        {"written": "0.5", "interview": "0.4"},
        {"written": "0.5", "interview": "0.5", "fitness": "0.1"},
        {"written": "1.2", "interview": "-0.2"},
    ],
)
def test_weights_must_sum_to_one(weights: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        CampaignRules.model_validate(with_changes(weights=weights))


def test_a_fitness_weight_makes_fitness_scored() -> None:
    rules = CampaignRules.model_validate(
        with_changes(weights={"written": "0.6", "interview": "0.2", "fitness": "0.2"})
    )
    assert rules.fitness_scored


@pytest.mark.parametrize("bad", [0.5, "NaN", "Infinity", "half"])
def test_decimals_must_be_strings_or_integers(bad: Any) -> None:
    with pytest.raises(ValidationError):
        CampaignRules.model_validate(with_changes(weights={"written": bad, "interview": bad}))


def test_an_integral_float_is_the_integer() -> None:
    """JSON (and the published schema, which says integer) has 1.0 == 1 (found by the
    API fuzz: a schema-valid 60.0 was refused)."""
    data = example()
    data["posts"]["patrol"]["written_pass_line"] = 60.0
    rules = CampaignRules.model_validate(data)
    assert str(rules.posts["patrol"].written_pass_line) == "60"


def test_float_message_says_to_use_strings() -> None:
    data = example()
    data["posts"]["patrol"]["written_pass_line"] = 60.5
    with pytest.raises(ValidationError, match="as strings"):
        CampaignRules.model_validate(data)


@pytest.mark.parametrize(
    ("tie_break", "ok"),
    [
        (["priority", "interview", "written", "registration"], True),
        ([], True),
        (["interview", "interview"], False),
        (["age"], False),
        (["fitness"], False),  # fitness is pass/fail in the example
    ],
)
def test_tie_break_keys(tie_break: list[str], ok: bool) -> None:
    data = with_changes(tie_break=tie_break)
    if ok:
        assert CampaignRules.model_validate(data).tie_break == tie_break
    else:
        with pytest.raises(ValidationError):
            CampaignRules.model_validate(data)


def test_fitness_tie_break_needs_scored_fitness() -> None:
    data = with_changes(
        weights={"written": "0.6", "interview": "0.2", "fitness": "0.2"}, tie_break=["fitness"]
    )
    assert CampaignRules.model_validate(data).tie_break == ["fitness"]


def test_bonus_must_name_known_posts() -> None:
    data = with_changes(bonus=[{"category": "veteran", "points": "2", "posts": ["traffic"]}])
    with pytest.raises(ValidationError, match="unknown post"):
        CampaignRules.model_validate(data)


def test_a_bonus_is_given_once_per_post() -> None:
    data = example()
    data["posts"]["traffic"] = {}
    data["bonus"] = [
        {"category": "veteran", "points": "2", "posts": ["patrol"]},
        {"category": "veteran", "points": "5", "posts": ["traffic"]},
        {"category": "veteran", "points": "1", "applies_to": "composite"},
    ]
    rules = CampaignRules.model_validate(data)
    assert rules.bonus_for("traffic", {"veteran"}).written == Decimal(5)
    data["bonus"].append({"category": "veteran", "points": "3"})
    with pytest.raises(ValidationError, match="given twice"):
        CampaignRules.model_validate(data)


@pytest.mark.parametrize("points", ["0", "-1", "101"])
def test_bonus_points_are_positive(points: str) -> None:
    with pytest.raises(ValidationError):
        CampaignRules.model_validate(
            with_changes(bonus=[{"category": "veteran", "points": points}])
        )


def test_bonus_for_takes_the_highest_by_default_and_can_sum() -> None:
    data = example()
    data["posts"]["clerk"] = {}
    data["bonus"] = [
        {"category": "veteran", "points": "5"},
        {"category": "martyr_family", "points": "3"},
        {"category": "special_skill", "points": "2.5", "posts": ["patrol"]},
        {"category": "honour", "points": "1", "applies_to": "composite"},
    ]
    rules = CampaignRules.model_validate(data)
    both = {"veteran", "martyr_family", "special_skill", "honour"}
    points = rules.bonus_for("patrol", both)
    assert (points.written, points.composite, points.priority) == (Decimal(5), Decimal(1), True)
    assert points.total == Decimal(6)
    assert rules.bonus_for("clerk", {"special_skill"}).priority is False
    assert rules.bonus_for("clerk", {"special_skill"}).total == 0
    assert rules.bonus_for("patrol", set()).written == 0
    with pytest.raises(KeyError):
        rules.bonus_for("traffic", both)

    data["bonus_stacking"] = "sum"
    summed = CampaignRules.model_validate(data).bonus_for("patrol", both)
    assert summed.written == Decimal("10.5")
    assert summed.composite == Decimal(1)


def test_backfill_policy() -> None:
    data = with_changes(
        backfill={"on": ["fitness", "withdrawal"], "max_rounds": 1, "until": "2026-07-31"}
    )
    policy = CampaignRules.model_validate(data).backfill
    assert policy.on == [LossCause.FITNESS, LossCause.WITHDRAWAL]
    assert policy.max_rounds == 1
    assert policy.until == date(2026, 7, 31)


@pytest.mark.parametrize(
    "backfill",
    [
        {"on": ["fitness", "fitness"]},
        {"on": ["illness"]},
        {"max_rounds": -1},
        {"until": "someday"},
    ],
)
def test_bad_backfill_policies(backfill: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CampaignRules.model_validate(with_changes(backfill=backfill))


@pytest.mark.parametrize(
    ("days", "ok"), [(0, False), (1, True), (3, True), (30, True), (31, False)]
)
def test_publicity_working_days_range(days: int, ok: bool) -> None:
    data = with_changes(publicity_working_days=days)
    if ok:
        assert CampaignRules.model_validate(data).publicity_working_days == days
    else:
        with pytest.raises(ValidationError):
            CampaignRules.model_validate(data)


def test_holidays_and_adjusted_working_days() -> None:
    data = with_changes(holidays=["2025-10-01", "2025-10-02"], workdays_override=["2025-09-28"])
    rules = CampaignRules.model_validate(data)
    assert rules.holidays == [date(2025, 10, 1), date(2025, 10, 2)]
    assert rules.workdays_override == [date(2025, 9, 28)]
    data["workdays_override"].append("2025-10-01")
    with pytest.raises(ValidationError, match="both a holiday"):
        CampaignRules.model_validate(data)


def test_pass_lines_are_scores() -> None:
    data = example()
    data["posts"]["patrol"]["written_pass_line"] = "60"
    data["posts"]["patrol"]["interview_pass_line"] = "60.50"
    patrol = CampaignRules.model_validate(data).post("patrol")
    assert patrol.written_pass_line == Decimal(60)
    assert patrol.interview_pass_line == Decimal("60.50")
    data["posts"]["patrol"]["written_pass_line"] = "100.5"
    with pytest.raises(ValidationError):
        CampaignRules.model_validate(data)


# ------------------------------------------------------------------------- entry ratio


@pytest.mark.parametrize(
    ("places", "ratio"),
    [(1, "3"), (5, "3"), (6, "2.5"), (10, "2.5"), (11, "2"), (500, "2")],
)
def test_tiered_ratio_from_domain(places: int, ratio: str) -> None:
    assert tiered_entry_ratio(places) == Decimal(ratio)


def test_tiered_ratio_needs_a_place() -> None:
    with pytest.raises(ValueError):
        tiered_entry_ratio(0)


def test_tiered_option_and_custom_tiers() -> None:
    data = example()
    data["posts"]["patrol"]["entry_ratio"] = "tiered"
    rules = CampaignRules.model_validate(data)
    assert rules.entry_ratio_for("patrol", 4) == Decimal(3)
    assert rules.entry_ratio_for("patrol", 7) == Decimal("2.5")
    assert rules.entry_ratio_for("patrol", 12) == Decimal(2)
    assert rules.entry_ratio_tiers == DEFAULT_RATIO_TIERS

    data["entry_ratio_tiers"] = [{"up_to": 2, "ratio": "4"}, {"ratio": "2"}]
    custom = CampaignRules.model_validate(data)
    assert custom.entry_ratio_tiers == (
        RatioTier(up_to=2, ratio=Decimal(4)),
        RatioTier(up_to=None, ratio=Decimal(2)),
    )
    assert custom.entry_ratio_for("patrol", 2) == Decimal(4)
    assert custom.entry_ratio_for("patrol", 3) == Decimal(2)


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [{"up_to": 5, "ratio": "3"}],
        [{"ratio": "3"}, {"up_to": 5, "ratio": "2"}],
        [{"up_to": 10, "ratio": "3"}, {"up_to": 5, "ratio": "2"}, {"ratio": "2"}],
        [{"up_to": 5, "ratio": "0.5"}, {"ratio": "2"}],
    ],
)
def test_bad_tiers(tiers: list[dict[str, str]]) -> None:
    with pytest.raises(ValidationError):
        CampaignRules.model_validate(with_changes(entry_ratio_tiers=tiers))


def test_fixed_ratio_is_used_as_given() -> None:
    rules = CampaignRules.model_validate(example())
    assert rules.entry_ratio_for("patrol", 40) == Decimal(3)


@pytest.mark.parametrize("ratio", ["0", "0.5", "-1", 2.5, "tiers"])
def test_bad_entry_ratio(ratio: Any) -> None:
    with pytest.raises(ValidationError):
        PostRules.model_validate({"entry_ratio": ratio})


@pytest.mark.parametrize(
    ("places", "ratio", "k"),
    [(1, "3", 3), (3, "2.5", 8), (4, "2.5", 10), (7, "1.5", 11), (10, "1", 10), (0, "3", 0)],
)
def test_entry_count_rounds_up(places: int, ratio: str, k: int) -> None:
    assert entry_count(places, Decimal(ratio)) == k


def test_entry_count_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        entry_count(-1, Decimal(3))
    with pytest.raises(ValueError):
        entry_count(3, Decimal(0))


@given(st.integers(1, 1000), st.decimals(min_value=1, max_value=10, places=2))
def test_entry_count_is_the_smallest_integer_reaching_the_ratio(
    places: int, ratio: Decimal
) -> None:
    k = entry_count(places, ratio)
    assert k >= places * ratio > k - 1


# ------------------------------------------------------------------------- eligibility


@pytest.mark.parametrize(
    "eligibility",
    [
        {"min_age": 30, "max_age": 25},
        {"hukou_prefix": "37132"},
        {"hukou_prefix": "00"},
        {"min_education": "senior_high", "exception_min_education": "bachelor"},
        {"min_education": "phd"},
        {"education_exceptions": ["sportsman"]},
        {"min_vision": "7"},
    ],
)
def test_bad_eligibility(eligibility: dict[str, Any]) -> None:
    data = example()
    data["posts"]["patrol"]["eligibility"] = eligibility
    with pytest.raises(ValidationError):
        CampaignRules.model_validate(data)


def test_female_height_replaces_the_general_one_for_women() -> None:
    data = example()
    data["posts"]["patrol"]["eligibility"]["min_height_cm_female"] = "160"
    e = CampaignRules.model_validate(data).post("patrol").eligibility
    assert e.min_height_for(Sex.MALE) == Decimal(170)
    assert e.min_height_for(Sex.FEMALE) == Decimal(160)
    assert CampaignRules.model_validate(example()).post("patrol").eligibility.min_height_for(
        Sex.FEMALE
    ) == Decimal(170)


def test_fitness_standard_override_parses_minutes_and_seconds() -> None:
    data = example()
    data["posts"]["patrol"]["fitness_standard"] = {
        "groups": [
            {"sex": "male", "limits": {"run_1000m": "4'10\"", "shuttle_10m_x4": "12.8"}},
            {"sex": "female", "limits": {"run_800m": "4:05"}},
        ]
    }
    standard = CampaignRules.model_validate(data).post("patrol").fitness_standard
    assert standard is not None
    assert standard.group_for(Sex.MALE, 44).limits[FitnessItem.RUN_1000M] == Decimal(250)
    assert standard.group_for(Sex.FEMALE, 20).limits[FitnessItem.RUN_800M] == Decimal(245)


def test_unknown_post_raises_key_error() -> None:
    with pytest.raises(KeyError):
        CampaignRules.model_validate(example()).post("nope")


def test_rules_are_immutable() -> None:
    rules = CampaignRules.model_validate(example())
    with pytest.raises(ValidationError):
        rules.publicity_working_days = 3  # type: ignore[misc]


def test_validation_does_not_mutate_the_payload() -> None:
    data = example()
    before = copy.deepcopy(data)
    CampaignRules.model_validate(data)
    assert data == before
