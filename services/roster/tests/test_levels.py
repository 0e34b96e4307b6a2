import random
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.education import Education
from services.roster.levels import (
    Grade,
    LevelCap,
    LevelPolicy,
    PersonForPromotion,
    PromotionRule,
    PromotionStatus,
    dismissal_grounds,
    entry_level,
    level_counts,
    level_name,
    promotion_due,
    promotions_due,
)

HENAN = LevelPolicy.from_dict({})  # 7 levels, the defaults of domain.md
INNER_MONGOLIA = LevelPolicy.from_dict({"levels": 6})
C, E, B, INC = Grade.COMPETENT, Grade.EXCELLENT, Grade.BASICALLY_COMPETENT, Grade.INCOMPETENT


def person(
    id: int | str = 1,
    level: int = 7,
    level_since: date = date(2020, 1, 1),
    service_start: date = date(2020, 7, 1),  # after a 6-month probation
    assessments: dict[int, Grade] | None = None,
    education: Education | None = None,
) -> PersonForPromotion:
    return PersonForPromotion(
        id, level, level_since, service_start, assessments or {}, education=education
    )


# --- policy ------------------------------------------------------------------------


def test_default_entry_levels_for_seven_levels() -> None:
    expected = {
        "junior_high": 7,
        "senior_high": 7,
        "junior_college": 6,
        "bachelor": 5,
        "master": 4,
        "doctorate": 4,
    }
    assert {e: entry_level(e, HENAN) for e in expected} == expected


def test_six_level_scheme_shifts_the_defaults() -> None:
    assert INNER_MONGOLIA.levels == 6
    assert entry_level(Education.SENIOR_HIGH, INNER_MONGOLIA) == 6
    assert entry_level(Education.BACHELOR, INNER_MONGOLIA) == 4
    assert set(INNER_MONGOLIA.promotion) == {2, 3, 4, 5, 6}


def test_policy_from_dict_with_overrides() -> None:
    policy = LevelPolicy.from_dict(
        {
            "levels": 7,
            "entry_by_education": {"doctorate": 3},
            "default_promotion": {"years_in_level": 2},
            "promotion": {"4": {"years_in_level": 4, "min_grade": "excellent"}},
            "competitive_levels": [1, 2],
            "caps": [
                {"levels": [1, 2, 3], "max_share": 0.3},
                {"levels": [1], "max_share": "0.05"},
            ],
            "require_complete_assessments": False,
        }
    )
    assert entry_level("doctorate", policy) == 3
    assert entry_level("master", policy) == 4
    assert policy.promotion[7] == PromotionRule(years_in_level=2)
    assert policy.promotion[4] == PromotionRule(years_in_level=4, min_grade=Grade.EXCELLENT)
    assert policy.competitive_levels == {1, 2}
    assert policy.caps[0] == LevelCap(frozenset({1, 2, 3}), Decimal("0.3"))
    assert policy.caps[1].seats(378) == 18
    assert not policy.require_complete_assessments


def test_default_policy_matches_domain() -> None:
    assert HENAN.levels == 7
    assert HENAN.bottom == 7
    assert HENAN.competitive_levels == {1, 2, 3}
    assert HENAN.caps == (LevelCap(frozenset({1, 2, 3}), Decimal("0.30")),)
    assert HENAN.promotion[7] == PromotionRule(years_in_level=3, min_grade=Grade.COMPETENT)


@pytest.mark.parametrize(
    "config",
    [
        {"levels": 1},
        {"levels": 10},
        {"level": 7},
        {"entry_by_education": {"bachelor": 8}},
        {"entry_by_education": {"phd": 4}},
        {"promotion": {"1": {"years_in_level": 3}}},
        {"promotion": {"5": {"years": 3}}},
        {"competitive_levels": [0]},
        {"caps": [{"levels": [1, 2], "max_share": "1.5"}]},
        {"caps": [{"levels": [9], "max_share": "0.1"}]},
        {"caps": [{"levels": [], "max_share": "0.1"}]},
        {"require_complete_assessments": "yes"},
    ],
)
def test_bad_policies_are_refused(config: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        LevelPolicy.from_dict(config)


def test_level_names() -> None:
    assert level_name(7) == "七级"
    assert level_name(1) == "一级"
    with pytest.raises(ValueError):
        level_name(0)


# --- one person ----------------------------------------------------------------------


def test_due_after_three_years_with_competent_grades() -> None:
    p = person(assessments={2020: C, 2021: E, 2022: C})
    result = promotion_due(p, date(2023, 7, 1), HENAN)
    assert result.due
    assert result.status is PromotionStatus.DUE
    assert (result.from_level, result.to_level) == (7, 6)
    assert any("3 full year(s) in level 7 since 2020-07-01" in r for r in result.reasons)
    assert any("2021 excellent" in r for r in result.reasons)


def test_probation_does_not_count() -> None:
    p = person(assessments={2020: C, 2021: C, 2022: C})
    # three years after hiring, but only 2 years and 8 months after probation
    result = promotion_due(p, date(2023, 3, 1), HENAN)
    assert not result.due
    assert result.reasons[0] == (
        "2 full year(s) in level 7 since 2020-07-01 (probation excluded); 3 required"
    )


def test_grade_below_competent_blocks() -> None:
    p = person(assessments={2020: C, 2021: C, 2022: B})
    result = promotion_due(p, date(2023, 7, 1), HENAN)
    assert not result.due
    assert "2022 graded basically_competent, below competent" in result.reasons


def test_missing_assessment_for_a_whole_year_blocks_unless_configured() -> None:
    p = person(assessments={2020: C, 2022: C})
    result = promotion_due(p, date(2023, 7, 1), HENAN)
    assert not result.due
    assert result.reasons == ("no assessment recorded for 2021",)
    lenient = LevelPolicy.from_dict({"require_complete_assessments": False})
    assert promotion_due(p, date(2023, 7, 1), lenient).due


def test_partial_first_year_need_not_be_assessed() -> None:
    p = person(assessments={2021: C, 2022: C})  # service started mid-2020
    assert promotion_due(p, date(2023, 7, 1), HENAN).due


def test_last_year_must_be_assessed_before_promotion() -> None:
    # the window 2021-01-15…2024-01-15 holds two whole years, 2022 and 2023
    p = person(assessments={2020: C, 2021: C, 2022: C})
    early = promotion_due(p, date(2024, 1, 15), HENAN)
    assert not early.due
    assert early.reasons == ("no assessment recorded for 2023",)
    assert promotion_due(person(assessments={2022: C, 2023: C}), date(2024, 1, 15), HENAN).due
    p2 = person(assessments={2020: C, 2021: C})
    assert promotion_due(p2, date(2024, 1, 15), HENAN).reasons == (
        "no assessment recorded for 2022",
        "no assessment recorded for 2023",
    )


def test_old_bad_grade_outside_the_window_does_not_block() -> None:
    p = person(
        level_since=date(2015, 1, 1),
        service_start=date(2015, 1, 1),
        assessments={2016: INC, 2017: C, 2018: C, 2019: C, 2020: C, 2021: C, 2022: C, 2023: C},
    )
    assert promotion_due(p, date(2024, 7, 1), HENAN).due


def test_years_count_from_the_later_of_level_change_and_service_start() -> None:
    p = person(
        level=6,
        level_since=date(2022, 3, 1),
        service_start=date(2018, 7, 1),
        assessments={2022: C, 2023: C, 2024: C},
    )
    assert not promotion_due(p, date(2025, 2, 28), HENAN).due
    assert promotion_due(p, date(2025, 3, 1), HENAN).due


def test_before_service_start_nothing_is_due() -> None:
    lenient = LevelPolicy.from_dict({"default_promotion": {"years_in_level": 0}})
    result = promotion_due(person(), date(2020, 3, 1), lenient)
    assert not result.due
    assert "only count from 2020-07-01" in result.reasons[0]


def test_top_level_is_never_due() -> None:
    result = promotion_due(person(level=1), date(2030, 1, 1), HENAN)
    assert result.status is PromotionStatus.NOT_DUE
    assert result.to_level is None
    assert result.reasons == ("already at the top level (一级)",)


def test_competitive_level_gives_eligibility_only() -> None:
    p = person(level=4, assessments={2020: C, 2021: C, 2022: C})
    result = promotion_due(p, date(2023, 7, 1), HENAN)
    assert not result.due
    assert result.eligible
    assert result.meets_requirements
    assert result.to_level == 3
    assert "三级 is filled by competitive selection" in result.reasons


def test_extra_requirements_service_years_and_education() -> None:
    policy = LevelPolicy.from_dict(
        {
            "promotion": {
                5: {"years_in_level": 1, "min_service_years": 5, "min_education": "bachelor"}
            }
        }
    )
    p = person(
        level=5,
        level_since=date(2022, 1, 1),
        service_start=date(2020, 7, 1),
        assessments={2022: C, 2023: C},
        education=Education.JUNIOR_COLLEGE,
    )
    result = promotion_due(p, date(2024, 1, 2), policy)
    assert not result.due
    assert "3 full year(s) of service; 5 required" in result.reasons
    assert "education junior_college below bachelor" in result.reasons
    unknown = promotion_due(person(level=5, education=None), date(2030, 1, 1), policy)
    assert "education unknown; bachelor required" in unknown.reasons


def test_level_outside_the_scheme_is_refused() -> None:
    with pytest.raises(ValueError):
        promotion_due(person(level=7), date(2024, 1, 1), INNER_MONGOLIA)


def test_grades_given_as_strings_are_accepted() -> None:
    p = PersonForPromotion(1, 7, date(2020, 1, 1), date(2020, 7, 1), {2021: "competent"})  # type: ignore[dict-item]
    assert p.assessments == {2021: Grade.COMPETENT}
    with pytest.raises(ValueError):
        PersonForPromotion(1, 7, date(2020, 1, 1), date(2020, 7, 1), {2021: "good"})  # type: ignore[dict-item]


# --- dismissal -------------------------------------------------------------------------


def test_two_consecutive_incompetent_grades_are_grounds_for_dismissal() -> None:
    assert dismissal_grounds({2022: INC, 2023: INC}) == (2022, 2023)
    assert dismissal_grounds({2021: INC, 2022: C, 2023: INC}) is None
    assert dismissal_grounds({2021: INC, 2023: INC}) is None  # not consecutive years
    assert dismissal_grounds({2019: INC, 2020: INC, 2022: INC, 2023: INC}) == (2022, 2023)
    assert dismissal_grounds({2022: "incompetent", 2023: "incompetent"}) == (2022, 2023)
    assert dismissal_grounds({}) is None


def test_dismissal_grounds_are_flagged_on_the_assessment() -> None:
    p = person(assessments={2021: C, 2022: INC, 2023: INC})
    result = promotion_due(p, date(2024, 7, 1), HENAN)
    assert not result.due
    assert result.dismissal_grounds == (2022, 2023)
    assert result.reasons[-1] == "grounds for dismissal: incompetent in 2022 and 2023"


# --- caps ------------------------------------------------------------------------------

GOOD = {2020: C, 2021: C, 2022: C, 2023: C}
AS_OF = date(2024, 7, 1)
# levels 1–4 capped at 30%; only 1–2 competitive, so 5 → 4 and 4 → 3 are automatic
CAPPED = LevelPolicy.from_dict(
    {"competitive_levels": [1, 2], "caps": [{"levels": [1, 2, 3, 4], "max_share": "0.3"}]}
)


def test_excess_is_capped_by_seniority_then_recent_grades() -> None:
    people = [
        person(
            1,
            level=5,
            level_since=date(2019, 1, 1),
            service_start=date(2019, 1, 1),
            assessments=GOOD,
        ),
        person(
            2,
            level=5,
            level_since=date(2018, 1, 1),
            service_start=date(2018, 1, 1),
            assessments=GOOD,
        ),
        person(
            3,
            level=5,
            level_since=date(2019, 1, 1),
            service_start=date(2019, 1, 1),
            assessments={**GOOD, 2023: E},
        ),
        person(
            4,
            level=5,
            level_since=date(2019, 1, 1),
            service_start=date(2017, 1, 1),
            assessments=GOOD,
        ),
        person(
            5,
            level=4,
            level_since=date(2024, 1, 1),
            service_start=date(2017, 1, 1),
            assessments=GOOD,
        ),
        person(6, level=6, assessments=GOOD),
    ]
    # 10 × 30% = 3 seats; person 5 holds one, so two are free for the four due
    result = promotions_due(people, AS_OF, CAPPED, total_headcount=10)
    statuses = {a.person_id: a.status for a in result}
    assert [a.person_id for a in result] == [1, 2, 3, 4, 5, 6]  # input order
    assert statuses[2] is PromotionStatus.DUE  # longest in level
    assert statuses[4] is PromotionStatus.DUE  # same level date, longer service
    assert statuses[3] is PromotionStatus.CAPPED  # better recent grade than 1…
    assert statuses[1] is PromotionStatus.CAPPED  # …but no seat left for either
    assert statuses[5] is PromotionStatus.NOT_DUE
    assert statuses[6] is PromotionStatus.DUE  # 6 → 5 is not capped
    capped_3 = next(a for a in result if a.person_id == 3)
    assert capped_3.reasons[-1] == (
        "cap levels 1–4 ≤ 30% of 10 = 3 seats: no seat free (queue position 3)"
    )
    due_2 = next(a for a in result if a.person_id == 2)
    assert due_2.reasons[-1] == "seat taken under cap levels 1–4 ≤ 30% of 10 = 3 seats"


def test_recent_grades_break_a_seniority_tie() -> None:
    same = {"level": 5, "level_since": date(2019, 1, 1), "service_start": date(2019, 1, 1)}
    people = [
        person(1, assessments=GOOD, **same),  # type: ignore[arg-type]
        person(2, assessments={**GOOD, 2023: E}, **same),  # type: ignore[arg-type]
        person(3, assessments={**GOOD, 2022: E}, **same),  # type: ignore[arg-type]
    ]
    result = promotions_due(people, AS_OF, CAPPED, total_headcount=3)  # 0.9 → 0 seats
    assert all(a.capped for a in result)
    result = promotions_due(people, AS_OF, CAPPED, total_headcount=4)  # 1.2 → 1 seat
    assert [a.status for a in result] == [
        PromotionStatus.CAPPED,
        PromotionStatus.DUE,  # excellent last year beats excellent the year before
        PromotionStatus.CAPPED,
    ]
    result = promotions_due(people, AS_OF, CAPPED, total_headcount=7)  # 2.1 → 2 seats
    assert [a.status for a in result] == [
        PromotionStatus.CAPPED,
        PromotionStatus.DUE,
        PromotionStatus.DUE,
    ]


def test_moves_inside_a_capped_set_take_no_seat() -> None:
    people = [
        person(1, level=4, level_since=date(2019, 1, 1), assessments=GOOD),
        person(2, level=4, level_since=date(2019, 1, 1), assessments=GOOD),
    ]
    result = promotions_due(people, AS_OF, CAPPED, total_headcount=2)  # 0 seats, 2 taken
    assert all(a.due for a in result)  # 4 → 3 stays within levels 1–4


def test_competitors_are_capped_only_when_no_seat_is_free() -> None:
    competitor = person(9, level=4, level_since=date(2019, 1, 1), assessments=GOOD)
    top = [person(i, level=3, level_since=date(2024, 1, 1)) for i in range(1, 4)]
    full = promotions_due([*top, competitor], AS_OF, HENAN, total_headcount=10)
    assert full[-1].status is PromotionStatus.CAPPED
    assert full[-1].reasons[-1] == "cap levels 1–3 ≤ 30% of 10 = 3 seats: no seat free"
    room = promotions_due([*top[:1], competitor], AS_OF, HENAN, total_headcount=10)
    assert room[-1].status is PromotionStatus.ELIGIBLE
    assert room[-1].reasons[-1] == "cap levels 1–3 ≤ 30% of 10 = 3 seats: 2 seat(s) free"


def test_current_counts_can_be_given() -> None:
    p = person(1, level=5, level_since=date(2019, 1, 1), assessments=GOOD)
    assert promotions_due([p], AS_OF, CAPPED, 10, current_counts={4: 2})[0].due
    assert promotions_due([p], AS_OF, CAPPED, 10, current_counts={4: 3})[0].capped
    assert level_counts([4, 4, 5]) == {4: 2, 5: 1}


def test_a_person_twice_is_refused() -> None:
    with pytest.raises(ValueError):
        promotions_due([person(1), person(1)], AS_OF, HENAN, total_headcount=2)
    with pytest.raises(ValueError):
        promotions_due([], AS_OF, HENAN, total_headcount=-1)


def test_no_caps_means_no_capping() -> None:
    policy = LevelPolicy.from_dict({"caps": [], "competitive_levels": []})
    people = [person(i, level=4, level_since=date(2019, 1, 1), assessments=GOOD) for i in range(5)]
    assert all(a.due for a in promotions_due(people, AS_OF, policy, total_headcount=5))


# --- properties ------------------------------------------------------------------------

grades = st.sampled_from(list(Grade))
people_st = st.lists(
    st.builds(
        PersonForPromotion,
        id=st.integers(0, 10_000),
        level=st.integers(2, 7),
        level_since=st.dates(min_value=date(2012, 1, 1), max_value=date(2024, 1, 1)),
        service_start=st.dates(min_value=date(2012, 1, 1), max_value=date(2024, 1, 1)),
        assessments=st.dictionaries(st.integers(2012, 2024), grades, max_size=12),
    ),
    max_size=25,
    unique_by=lambda p: p.id,
)


@settings(max_examples=150)
@given(people_st, st.integers(0, 60), st.randoms(use_true_random=False))
def test_caps_are_respected_and_the_result_does_not_depend_on_order(
    people: list[PersonForPromotion], extra: int, rnd: random.Random
) -> None:
    total = len(people) + extra
    result = promotions_due(people, AS_OF, CAPPED, total)
    cap = CAPPED.caps[0]
    taken = sum(1 for p in people if p.level in cap.levels)
    entering = sum(1 for a in result if a.due and a.from_level == 5)
    assert entering <= max(0, cap.seats(total) - taken)
    shuffled = list(people)
    rnd.shuffle(shuffled)
    again = {a.person_id: a for a in promotions_due(shuffled, AS_OF, CAPPED, total)}
    assert {a.person_id: a for a in result} == again


@given(people_st)
def test_cap_only_ever_downgrades_to_capped(people: list[PersonForPromotion]) -> None:
    for single, capped in zip(
        (promotion_due(p, AS_OF, CAPPED) for p in people),
        promotions_due(people, AS_OF, CAPPED, total_headcount=len(people)),
        strict=True,
    ):
        if single.status is PromotionStatus.NOT_DUE:
            assert capped.status is PromotionStatus.NOT_DUE
        else:
            assert capped.status in (single.status, PromotionStatus.CAPPED)


@given(st.dictionaries(st.integers(2000, 2030), grades, max_size=20))
def test_dismissal_grounds_are_two_consecutive_incompetent_years(
    assessments: dict[int, Grade],
) -> None:
    grounds = dismissal_grounds(assessments)
    pairs = [y for y in assessments if assessments[y] is INC and assessments.get(y + 1) is INC]
    if grounds is None:
        assert pairs == []
    else:
        assert grounds == (max(pairs), max(pairs) + 1)
