"""The demo loader against the compensation app (roster stubbed), twice."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from auxpol.demo import DEMO_USERS, DemoError
from services.compensation import demo


class FakeDemoClient:
    """DemoClient's interface, calling the app directly as the demo users."""

    def __init__(self, client: httpx.AsyncClient, issuer: Any) -> None:
        self.client = client
        self.users = {u.username: u for u in DEMO_USERS}
        self.issuer = issuer

    async def request(self, user, method, path, *, ok=(200, 201, 202), **kwargs):
        u = self.users[user]
        headers = self.issuer.headers(*u.roles, region=u.region, sub=u.username)
        response = await self.client.request(method, path, headers=headers, **kwargs)
        if response.status_code not in ok:
            raise DemoError(f"{method} {path} as {user}: {response.status_code} {response.text}")
        return response

    async def get(self, user, path, **kw):
        return (await self.request(user, "GET", path, **kw)).json()

    async def post(self, user, path, json=None, **kw):
        response = await self.request(user, "POST", path, json=json, **kw)
        return response.json() if response.content else None

    async def put(self, user, path, json=None, **kw):
        return (await self.request(user, "PUT", path, json=json, **kw)).json()


# Any day of the year, and January, when the month paid is December of the year before.
@pytest.mark.parametrize(
    ("today", "period", "start"),
    [
        (date(2026, 11, 22), "2026-10", "2026-01-01"),
        (date(2026, 1, 15), "2025-12", "2025-01-01"),
    ],
)
async def test_demo_loads_an_approved_run_twice(client, upstream, issuer, today, period, start):
    upstream.add(1, post="patrol", level=7, step=2)
    upstream.add(2, post="hotline", level=6, category="civilian")
    upstream.add(3, post="dispatch", level=7, category="civilian")  # not in the schedule
    api = FakeDemoClient(client, issuer)
    await demo.load(api, today)
    await demo.load(api, today)
    assert demo.latest_complete_month(today) == period
    runs = await api.get(
        "junan_finance", "/api/v1/compensation/payroll-runs", params={"period": period}
    )
    [run] = runs["items"]
    assert run["region"] == "371327" and run["status"] == "approved"
    assert run["calculated_by"] == "junan_finance" and run["approved_by"] == "junan_admin"
    assert run["headcount"] == 3
    assert run["schedules"] == [{"region_prefix": "37", "effective_from": start}]
    schedule = await api.get("junan_finance", f"/api/v1/compensation/schedules/37/{start}")
    assert schedule["position_pay"]["dispatch"] == demo.DEFAULT_POSITION_PAY
    assert schedule["level_pay"]["7"][0] == "2600.00" and len(schedule["level_pay"]) == 7
    assert schedule["allowances"][0] == {
        "name": "work_allowance",
        "amount": "350.00",
        "posts": None,
    }


def test_latest_complete_month():
    assert demo.latest_complete_month(date(2026, 11, 22)) == "2026-10"
    assert demo.latest_complete_month(date(2027, 1, 5)) == "2026-12"


@pytest.mark.parametrize(
    ("today", "period"),
    [
        (date(2026, 1, 15), "2025-12"),
        (date(2026, 2, 1), "2026-01"),
        (date(2026, 11, 22), "2026-10"),
    ],
)
def test_the_demo_schedule_is_in_force_for_the_month_paid(today, period):
    """Loaded on 15 January 2026 the demo pays December 2025: its schedule must start by
    then (it started on 1 January 2026, after the month, and the run could not be paid)."""
    assert demo.latest_complete_month(today) == period
    start = demo.schedule_start(period)
    assert start <= f"{period}-01" and start[:4] == period[:4]
    assert date.fromisoformat(start) <= today
