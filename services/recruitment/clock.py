"""Time: instants in UTC, calendar days in China Standard Time (UTC+8, no DST).

Registration windows given as days, publicity periods, hire dates and backfill deadlines
are calendar days of the bureau, i.e. in China Standard Time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    """Today's date in China."""
    return now().astimezone(CHINA).date()


def local_date(instant: datetime) -> date:
    return instant.astimezone(CHINA).date()


def start_of_day(day: date) -> datetime:
    """00:00 China time on `day`, as a UTC instant."""
    return datetime.combine(day, time.min, tzinfo=CHINA).astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """The first instant after `day` in China (a window closing "on" `day` includes it)."""
    return start_of_day(day + timedelta(days=1))
