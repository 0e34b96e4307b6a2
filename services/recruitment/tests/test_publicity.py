from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.recruitment.publicity import is_publicity_over, is_working_day, publicity_end

# National Day 2025: 1–8 October off; Sunday 28 September and Saturday 11 October worked.
NATIONAL_DAY = {date(2025, 10, d) for d in range(1, 9)}
ADJUSTED = {date(2025, 9, 28), date(2025, 10, 11)}


def test_monday_start_counts_as_day_one() -> None:
    assert publicity_end(date(2026, 3, 2), 5) == date(2026, 3, 6)  # Monday → Friday
    assert publicity_end(date(2026, 3, 2), 1) == date(2026, 3, 2)


def test_weekends_are_skipped() -> None:
    assert publicity_end(date(2026, 3, 4), 5) == date(2026, 3, 10)  # Wed → next Tue
    assert publicity_end(date(2026, 3, 2), 30) == date(2026, 4, 10)


def test_a_weekend_start_begins_on_monday() -> None:
    assert publicity_end(date(2026, 3, 7), 5) == date(2026, 3, 13)  # Sat → Fri
    assert publicity_end(date(2026, 3, 8), 3) == date(2026, 3, 11)  # Sun → Wed


def test_holidays_and_adjusted_working_days() -> None:
    # Fri 26 Sep (1), Sun 28 Sep worked (2), Mon 29 (3), Tue 30 (4), holiday, Thu 9 Oct (5)
    assert publicity_end(date(2025, 9, 26), 5, NATIONAL_DAY, ADJUSTED) == date(2025, 10, 9)
    # without the calendar the same notice ends on Thursday 2 October
    assert publicity_end(date(2025, 9, 26), 5) == date(2025, 10, 2)
    # posted during the holiday: Thu 9 (1), Fri 10 (2), Sat 11 worked (3)
    assert publicity_end(date(2025, 10, 3), 3, NATIONAL_DAY, ADJUSTED) == date(2025, 10, 11)


def test_override_wins_over_a_holiday_listing() -> None:
    day = date(2026, 3, 7)  # Saturday
    assert is_working_day(day, holidays={day}, workdays_override={day})
    assert not is_working_day(day)
    assert not is_working_day(date(2026, 3, 2), holidays={date(2026, 3, 2)})


def test_over_from_the_day_after_the_end() -> None:
    start = date(2026, 3, 2)
    assert not is_publicity_over(start, 5, date(2026, 3, 1))
    assert not is_publicity_over(start, 5, date(2026, 3, 6))
    assert is_publicity_over(start, 5, date(2026, 3, 7))
    # a notice posted in the past can be over already
    assert is_publicity_over(date(2025, 9, 26), 5, date(2026, 1, 1), NATIONAL_DAY, ADJUSTED)


def test_at_least_one_working_day() -> None:
    with pytest.raises(ValueError):
        publicity_end(date(2026, 3, 2), 0)


@given(
    start=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    days=st.integers(1, 30),
    holidays=st.sets(st.dates(date(2024, 1, 1), date(2031, 3, 31)), max_size=40),
    override=st.sets(st.dates(date(2024, 1, 1), date(2031, 3, 31)), max_size=10),
)
def test_the_period_holds_exactly_n_working_days(
    start: date, days: int, holidays: set[date], override: set[date]
) -> None:
    end = publicity_end(start, days, holidays, override)
    assert end >= start
    assert is_working_day(end, holidays, override)
    span = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    assert sum(is_working_day(day, holidays, override) for day in span) == days
    assert not is_publicity_over(start, days, end, holidays, override)
    assert is_publicity_over(start, days, end + timedelta(days=1), holidays, override)
