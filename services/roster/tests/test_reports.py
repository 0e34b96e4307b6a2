from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.education import Education
from services.common.resident_id import Sex
from services.roster.reports import (
    AGE_BANDS,
    PersonFacts,
    age_band,
    fulfilment,
    gap_to_target,
    percent,
    share,
    structure_counts,
    target_for,
    turnover,
)
from services.roster.statuses import DepartureReason

AS_OF = date(2025, 6, 30)


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, "<30"),
        (29, "<30"),
        (30, "30-40"),
        (39, "30-40"),
        (40, "40-50"),
        (49, "40-50"),
        (50, ">=50"),
        (65, ">=50"),
    ],
)
def test_age_bands(age: int, band: str) -> None:
    assert age_band(age) == band


def test_age_band_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        age_band(-1)
    with pytest.raises(TypeError):
        age_band(30.5)  # type: ignore[arg-type]


def person(born: date, **kw: object) -> PersonFacts:
    fields: dict[str, object] = {
        "post_category": "duty",
        "post": "patrol",
        "level": 7,
        "birth_date": born,
        "education": Education.SENIOR_HIGH,
        "sex": Sex.MALE,
    }
    fields.update(kw)
    return PersonFacts(**fields)  # type: ignore[arg-type]


def test_seed_74_of_378_under_30_is_19_6_percent() -> None:
    young = [person(date(2000, 1, 1))] * 74
    older = [person(date(1985, 1, 1))] * 304
    counts = structure_counts(young + older, AS_OF)
    assert counts.total == 378
    assert counts.under_30 == 74
    assert counts.share_under_30 == Decimal("0.1958")
    assert counts.percent_under_30 == Decimal("19.6")


def test_structure_counts_by_every_dimension() -> None:
    people = [
        person(date(1995, 7, 1), post="patrol"),  # 29 on AS_OF: birthday not yet reached
        person(date(1995, 6, 30), post="patrol", sex="female"),  # 30 on the day
        person(
            date(1980, 1, 1),
            post_category="civilian",
            post="hotline",
            level=5,
            education="bachelor",
        ),
        person(date(1970, 1, 1), post_category="civilian", post="data_entry", level=None),
    ]
    counts = structure_counts(people, AS_OF)
    assert counts.total == 4
    assert counts.by_post_category == {"duty": 2, "civilian": 2}
    assert counts.by_post == {"patrol": 2, "hotline": 1, "data_entry": 1}
    assert counts.by_level == {7: 2, 5: 1, None: 1}
    assert counts.by_age_band == {"<30": 1, "30-40": 1, "40-50": 1, ">=50": 1}
    assert counts.by_education == {Education.SENIOR_HIGH: 3, Education.BACHELOR: 1}
    assert counts.by_sex == {Sex.MALE: 3, Sex.FEMALE: 1}
    assert counts.share_under_30 == Decimal("0.2500")
    plain = counts.as_dict()
    assert list(plain["by_age_band"]) == list(AGE_BANDS)
    assert plain["by_level"] == {"5": 1, "7": 2, "unlevelled": 1}
    assert plain["by_education"]["junior_high"] == 0
    assert plain["by_sex"] == {"male": 3, "female": 1}
    assert plain["share_under_30"] == "0.2500"


def test_structure_of_nobody() -> None:
    counts = structure_counts([], AS_OF)
    assert counts.total == 0
    assert counts.share_under_30 is None
    assert counts.percent_under_30 is None


def test_person_born_after_the_report_date_is_refused() -> None:
    with pytest.raises(ValueError):
        structure_counts([person(date(2026, 1, 1))], AS_OF)


def test_turnover() -> None:
    result = turnover(
        [
            ("resigned", "<30"),
            (DepartureReason.RESIGNED, "<30"),
            ("contract_ended", "30-40"),
            ("retired", ">=50"),
        ],
        headcount_start=378,
        headcount_end=370,
    )
    assert result.leavers == 4
    assert result.average_headcount == Decimal(374)
    assert result.rate == Decimal("0.0107")  # 4 / 374 = 0.010695…
    assert result.rate_percent == Decimal("1.1")
    assert result.by_reason == {
        DepartureReason.RESIGNED: 2,
        DepartureReason.CONTRACT_ENDED: 1,
        DepartureReason.RETIRED: 1,
    }
    assert result.by_age_band == {"<30": 2, "30-40": 1, ">=50": 1}


def test_turnover_average_can_be_a_half() -> None:
    result = turnover([("resigned", "<30")], 3, 4)
    assert result.average_headcount == Decimal("3.5")
    assert result.rate == Decimal("0.2857")


def test_turnover_with_no_headcount_has_no_rate() -> None:
    assert turnover([("resigned", "<30")], 0, 0).rate is None
    assert turnover([], 0, 0).leavers == 0


def test_turnover_refuses_unknown_reason_or_band() -> None:
    with pytest.raises(ValueError):
        turnover([("fired", "<30")], 10, 10)
    with pytest.raises(ValueError):
        turnover([("resigned", "20-30")], 10, 10)
    with pytest.raises(ValueError):
        turnover([], -1, 10)


def test_seed_gap_to_15_per_10k() -> None:
    assert target_for(825_000, 15) == 1237
    assert gap_to_target(825_000, 378, 15) == 859
    assert gap_to_target(825_000, 378, Decimal("15")) == 1237 - 378
    assert gap_to_target(825_000, 2000, 15) == 0
    assert gap_to_target(0, 0, 15) == 0


def test_fulfilment_share_and_percent() -> None:
    assert fulfilment(378, 1237) == Decimal("0.3056")
    assert fulfilment(1, 0) is None
    assert share(1, 3) == Decimal("0.3333")
    assert percent(Decimal("0.30555")) == Decimal("30.6")
    assert percent(None) is None


@given(st.integers(0, 130))
def test_every_age_has_exactly_one_band(age: int) -> None:
    band = age_band(age)
    assert band in AGE_BANDS
    lower = {"<30": 0, "30-40": 30, "40-50": 40, ">=50": 50}[band]
    assert age >= lower


@given(
    st.lists(
        st.tuples(st.sampled_from(list(DepartureReason)), st.sampled_from(AGE_BANDS)),
        max_size=50,
    ),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
)
def test_turnover_breakdowns_add_up(
    leavers: list[tuple[DepartureReason, str]], start: int, end: int
) -> None:
    result = turnover(leavers, start, end)
    assert result.leavers == len(leavers)
    assert sum(result.by_reason.values()) == len(leavers)
    assert sum(result.by_age_band.values()) == len(leavers)
    assert result.average_headcount * 2 == start + end
    if start + end:
        assert result.rate is not None
        assert abs(result.rate - Decimal(len(leavers)) / result.average_headcount) <= Decimal(
            "0.00005"
        )


@given(
    st.lists(
        st.tuples(
            st.dates(min_value=date(1950, 1, 1), max_value=date(2007, 1, 1)),
            st.sampled_from(list(Education)),
            st.sampled_from(list(Sex)),
        ),
        max_size=40,
    )
)
def test_structure_dimensions_each_sum_to_total(
    rows: list[tuple[date, Education, Sex]],
) -> None:
    counts = structure_counts([person(b, education=e, sex=s) for b, e, s in rows], AS_OF)
    for counter in (
        counts.by_post_category,
        counts.by_post,
        counts.by_level,
        counts.by_age_band,
        counts.by_education,
        counts.by_sex,
    ):
        assert sum(counter.values()) == counts.total == len(rows)


@given(st.integers(0, 50_000_000), st.integers(0, 100_000), st.integers(0, 40))
def test_gap_plus_headcount_reaches_target(population: int, headcount: int, per_10k: int) -> None:
    gap = gap_to_target(population, headcount, per_10k)
    assert gap >= 0
    assert headcount + gap >= target_for(population, per_10k)
    assert gap == 0 or headcount + gap == population * per_10k // 10_000
