"""Publicity (公示): a notice period counted in working days.

Counting convention: a working day is Monday to Friday unless it is a listed holiday, and
any day in `workdays_override` (an adjusted working Saturday or Sunday, 调休) is a working
day even if it also appears among the holidays. The start day is day 1 when it is a working
day; otherwise day 1 is the first working day after it. The period ends at the end of day N:
a 5-day notice posted on Monday 2026-03-02 ends on Friday 2026-03-06 and is over from
Saturday 2026-03-07.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta

_DAY = timedelta(days=1)


def is_working_day(
    day: date,
    holidays: Collection[date] = frozenset(),
    workdays_override: Collection[date] = frozenset(),
) -> bool:
    if day in workdays_override:
        return True
    return day.weekday() < 5 and day not in holidays


def publicity_end(
    starts: date,
    working_days: int,
    holidays: Collection[date] = frozenset(),
    workdays_override: Collection[date] = frozenset(),
) -> date:
    """The last day of a notice posted on `starts` that runs `working_days` working days."""
    if working_days < 1:
        raise ValueError("a notice runs at least one working day")
    day = starts
    counted = 0
    while True:
        if is_working_day(day, holidays, workdays_override):
            counted += 1
            if counted == working_days:
                return day
        day += _DAY


def is_publicity_over(
    starts: date,
    working_days: int,
    today: date,
    holidays: Collection[date] = frozenset(),
    workdays_override: Collection[date] = frozenset(),
) -> bool:
    """True from the day after `publicity_end`; a notice posted in the past may be over."""
    return today > publicity_end(starts, working_days, holidays, workdays_override)
