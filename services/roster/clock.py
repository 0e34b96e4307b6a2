"""The roster's calendar: dates are China Standard Time (UTC+8, no daylight saving)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")


def today() -> date:
    """Today's date in China, whatever the server's time zone."""
    return datetime.now(CHINA).date()
