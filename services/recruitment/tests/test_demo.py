"""The demo loader, run against the service (the gateway's tokens replaced by test tokens
for the demo users): the campaign ends at the interview stage with a few hundred
applicants, and loading again changes nothing."""

from __future__ import annotations

import httpx

from auxpol.demo import DEMO_USERS, DemoClient
from kernel.testing import TestIssuer
from services.recruitment import demo


class LocalDemoClient(DemoClient):
    def __init__(self, http: httpx.AsyncClient, issuer: TestIssuer) -> None:
        super().__init__(http, admin_password="")
        self.issuer = issuer

    async def token(self, username: str) -> str:
        user = next(u for u in DEMO_USERS if u.username == username)
        return self.issuer.token(*user.roles, region=user.region, sub=username)


async def test_demo_campaign_waits_at_the_interview(client, issuer) -> None:
    api = LocalDemoClient(client, issuer)
    await demo.load(api)
    plans = await api.get("junan_admin", f"{demo.BASE}/plans?region=371327")
    plan = next(p for p in plans["items"] if p["title"] == demo.TITLE)
    assert plan["status"] == "approved" and plan["reservation"]["seats"] == 11
    campaign = await api.get("sd_auditor", f"{demo.BASE}/campaigns/{plan['campaign_id']}")
    assert campaign["current_stage"] == "interview"
    total = sum(p["counts"]["applicants"] for p in campaign["posts"])
    interviewees = sum(p["counts"]["applied"] for p in campaign["posts"])
    assert 250 <= total <= demo.APPLICANTS
    assert 0 < interviewees <= 3 * 11 + 15  # ties at the boundary may add a few
    await demo.load(api)  # again: taken up where it stands
    again = await api.get("sd_auditor", f"{demo.BASE}/campaigns/{plan['campaign_id']}")
    assert sum(p["counts"]["applicants"] for p in again["posts"]) == total
