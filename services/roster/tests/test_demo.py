"""The demo dataset loads through the API, answers the seed reports' questions, and
loads twice without harm."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from auxpol.demo import DEMO_USERS, DemoClient
from kernel.testing import TestIssuer, running_service, scratch_database
from services.roster import demo
from services.roster.config import RosterSettings
from services.roster.main import MIGRATIONS, create_app

API = "/api/v1/roster"


class LocalDemoClient(DemoClient):
    """The demo client, with tokens from the test issuer instead of the gateway."""

    def __init__(self, http: httpx.AsyncClient, issuer: TestIssuer) -> None:
        super().__init__(http, admin_password="unused")
        self.issuer = issuer
        self.users = {u.username: u for u in DEMO_USERS}

    async def token(self, username: str) -> str:
        user = self.users[username]
        return self.issuer.token(*user.roles, region=user.region, sub=username)


@pytest.fixture(scope="module")
async def loaded(issuer: TestIssuer) -> AsyncIterator[LocalDemoClient]:
    async with scratch_database("roster_demo", MIGRATIONS) as url:
        settings = RosterSettings(database_url=url, outbox_enabled=False)
        async with running_service(create_app, settings, issuer) as app:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
                api = LocalDemoClient(http, issuer)
                await demo.load(api)
                yield api


async def test_demo_answers_the_seed_questions(loaded: Any) -> None:
    report = await loaded.get("sd_auditor", f"{API}/reports/quota?region=3713&target_per_10k=15")
    lines = {line["region"]: line for line in report["lines"]}
    junan, fei = lines["371327"], lines["371325"]
    assert junan["quota"] == 1237 and 280 <= junan["headcount"] <= 300
    assert fei["quota"] == 321  # floor(268 × 1.2)
    assert junan["gap_to_target"] == 1237 - junan["headcount"]
    assert Decimal(junan["per_10k_population"]) < 15

    structure = await loaded.get("junan_admin", f"{API}/reports/structure?region=371327")
    share = Decimal(structure["share_under_30"])
    assert Decimal("0.12") <= share <= Decimal("0.28")
    assert len(structure["by_post"]) >= 8 and structure["by_post_category"]["duty"] > 150
    assert set(structure["by_level"]) >= {"5", "6", "7"}
    assert structure["by_sex"]["female"] > 20

    people = await loaded.get("junan_station", f"{API}/personnel?limit=500")
    assert people["items"] and all(p["region"] == "371327001" for p in people["items"])
    assert all("*" in p["id_number"] for p in people["items"])

    turnover = await loaded.get("sd_auditor", f"{API}/reports/turnover?region=3713")
    assert turnover["leavers"] >= 8 and turnover["by_reason"]["resigned"] >= 5
    promotions = await loaded.get("junan_admin", f"{API}/promotions/due?region=371327")
    assert promotions["items"], "some old hands are due or eligible"


async def test_demo_loads_twice_without_duplicates(loaded: Any) -> None:
    before = await loaded.get("sd_auditor", f"{API}/regions/3713/quota")
    await demo.load(loaded)
    after = await loaded.get("sd_auditor", f"{API}/regions/3713/quota")
    assert after["headcount"] == before["headcount"]


def test_generated_people_hired_on_29_february_get_a_contract_end() -> None:
    """A bigger draw than the demo's hires someone on 29 February; a three-year contract
    then ends on 28 February (it raised "day is out of range for month")."""
    rows = demo.people(demo.JUNAN, 4000, seed=8)
    leap = [p for p in rows if (p.hire.month, p.hire.day) == (2, 29) and p.hire.year >= 2019]
    assert leap
    for p in leap:
        assert p.row["contract_end"] == f"{p.hire.year + 3}-02-28"
    assert demo.years_later(date(2024, 2, 29), 4) == date(2028, 2, 29)
