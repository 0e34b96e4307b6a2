from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.roster.contracts import (
    add_months,
    add_years,
    full_years,
    max_probation_months,
    probation_end,
    regular_from,
    term_at_least,
    validate_contract,
)

START = date(2024, 1, 1)


@pytest.mark.parametrize(
    ("end", "months"),
    [
        (date(2024, 3, 30), 0),  # under 3 months
        (date(2024, 3, 31), 1),  # exactly 3 months (以上 includes the number)
        (date(2024, 12, 30), 1),  # under a year
        (date(2024, 12, 31), 2),  # exactly 1 year
        (date(2026, 12, 30), 2),  # under 3 years
        (date(2026, 12, 31), 6),  # exactly 3 years
        (date(2034, 12, 31), 6),
        (None, 6),  # open-ended
        (START, 0),  # a one-day contract
    ],
)
def test_article_19_bands(end: date | None, months: int) -> None:
    assert max_probation_months(START, end) == months


def test_end_before_start_is_refused() -> None:
    with pytest.raises(ValueError):
        max_probation_months(START, date(2023, 12, 31))


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 11, 15), 3) == date(2025, 2, 15)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)


def test_full_years() -> None:
    assert full_years(date(2020, 7, 1), date(2023, 6, 30)) == 2
    assert full_years(date(2020, 7, 1), date(2023, 7, 1)) == 3
    assert full_years(date(2024, 2, 29), date(2025, 2, 28)) == 1
    assert full_years(date(2025, 1, 1), date(2024, 1, 1)) == 0


def test_probation_end_and_regular_from() -> None:
    assert probation_end(date(2024, 3, 1), 2) == date(2024, 4, 30)
    assert regular_from(date(2024, 3, 1), 2) == date(2024, 5, 1)
    assert probation_end(date(2024, 3, 1), 0) is None
    assert regular_from(date(2024, 3, 1), 0) == date(2024, 3, 1)
    assert probation_end(date(2024, 1, 31), 1) == date(2024, 2, 28)
    with pytest.raises(ValueError):
        probation_end(START, -1)
    with pytest.raises(TypeError):
        regular_from(START, True)


def test_lawful_contracts_have_no_problems() -> None:
    assert validate_contract("labour", START, date(2026, 12, 31), 6) == []
    assert validate_contract("labour", START, None, 6) == []
    assert validate_contract("labour", START, date(2024, 12, 31), 2) == []
    assert validate_contract("dispatch", START, date(2025, 12, 31), 2) == []


def test_probation_too_long() -> None:
    problems = validate_contract("labour", START, date(2025, 6, 30), 3)
    assert len(problems) == 1
    assert "2-month maximum" in problems[0]
    problems = validate_contract("labour", START, date(2024, 2, 29), 1)
    assert problems == ["a contract under 3 months may not have a probation (art. 19)"]


def test_dispatch_needs_a_fixed_term_of_two_years() -> None:
    assert validate_contract("dispatch", START, date(2025, 12, 30), 0) == [
        "a dispatch contract must run for at least 2 years (art. 58)"
    ]
    assert validate_contract("dispatch", START, None, 0) == [
        "a dispatch contract must be fixed-term (art. 58)"
    ]


def test_bad_inputs_are_reported_not_raised() -> None:
    assert validate_contract("temp", START, None, 0) == [
        "kind must be one of ['dispatch', 'labour'], not 'temp'"
    ]
    assert validate_contract("labour", START, date(2023, 1, 1), 0) == [
        "end 2023-01-01 is before start 2024-01-01"
    ]
    assert validate_contract("labour", START, None, -1) == ["probation_months must not be negative"]
    assert validate_contract("labour", START, None, 1.5) == [  # type: ignore[arg-type]
        "probation_months must be a whole number"
    ]


def test_only_one_probation_per_employer_and_worker() -> None:
    problems = validate_contract("labour", START, None, 1, earlier_probation=True)
    assert len(problems) == 1
    assert "only once" in problems[0]
    assert validate_contract("labour", START, None, 0, earlier_probation=True) == []


days = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@given(days, st.integers(0, 400))
def test_probation_bands_are_monotonic(start: date, length_months: int) -> None:
    end = add_months(start, length_months)
    later = add_months(start, length_months + 1)
    assert max_probation_months(start, end) <= max_probation_months(start, later)
    assert max_probation_months(start, end) <= max_probation_months(start, None)


@given(days, st.integers(0, 120), st.integers(0, 12))
def test_validate_agrees_with_max(start: date, length_months: int, probation: int) -> None:
    end = add_months(start, length_months) - timedelta(days=1)
    if end < start:
        end = start
    problems = validate_contract("labour", start, end, probation)
    assert (problems == []) == (probation <= max_probation_months(start, end))


@given(days, st.integers(0, 120))
def test_term_of_n_months_ends_the_day_before_the_monthiversary(start: date, n: int) -> None:
    last_day = add_months(start, n) - timedelta(days=1)
    if n > 0:
        assert term_at_least(start, last_day, n)
        assert not term_at_least(start, last_day - timedelta(days=1), n)


@given(days, st.integers(1, 12))
def test_probation_fits_inside_its_term(start: date, months: int) -> None:
    end = probation_end(start, months)
    assert end is not None
    assert start <= end < regular_from(start, months)
    assert regular_from(start, months) - end == timedelta(days=1)
