"""Building blocks for the API tests: who calls, and a plan/campaign ready to use."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import httpx

from kernel.testing import TestIssuer
from services.common.resident_id import make_id_number
from services.recruitment import clock
from services.recruitment.eligibility import NEGATIVE_LIST

API = "/api/v1/recruitment"
COUNTY = "371327"

CLEAR = dict.fromkeys(NEGATIVE_LIST, False)

RULES: dict[str, Any] = {
    "weights": {"written": "0.5", "interview": "0.5", "fitness": "0"},
    "bonus": [{"category": "veteran", "points": "2", "applies_to": "written"}],
    "tie_break": ["interview", "written"],
    "backfill": {
        "on": ["fitness", "medical", "withdrawal", "objection"],
        "max_rounds": None,
        "until": None,
    },
    "publicity_working_days": 5,
    "interview_scoring": {"drop_extremes": True},
    "posts": {
        "patrol": {
            "entry_ratio": "2",
            "written_pass_line": None,
            "interview_pass_line": None,
            "eligibility": {
                "min_age": 18,
                "max_age": 30,
                "veteran_age_extension": 5,
                "min_education": "senior_high",
                "min_height_cm": 170,
                "min_vision": "4.6",
                "hukou_prefix": None,
            },
        },
        "clerk": {
            "entry_ratio": "3",
            "eligibility": {"min_age": 18, "max_age": 35, "min_education": "junior_college"},
        },
    },
}


class Who:
    def __init__(self, issuer: TestIssuer) -> None:
        self.issuer = issuer

    def county(self, region: str = COUNTY) -> dict[str, str]:
        return self.issuer.headers("county_admin", region=region, sub=f"county-{region}")

    def recruiter(self, region: str = COUNTY) -> dict[str, str]:
        return self.issuer.headers("recruiter", region=region, sub=f"recruiter-{region}")

    def province(self, region: str = "3713") -> dict[str, str]:
        return self.issuer.headers("province_admin", region=region, sub=f"province-{region}")

    def auditor(self, region: str = "37") -> dict[str, str]:
        return self.issuer.headers("auditor", region=region, sub=f"auditor-{region}")

    def finance(self, region: str = COUNTY) -> dict[str, str]:
        return self.issuer.headers("finance_officer", region=region)

    def service(self) -> dict[str, str]:
        return self.issuer.headers("service", region="", sub="svc-compensation")


def person(seq: int, *, born: date = date(2000, 5, 1), region: str = COUNTY) -> str:
    return make_id_number(region, born, seq)


def applicant(seq: int, post: str = "patrol", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id_number": person(seq),
        "name": f"应聘者{seq}",
        "post": post,
        "education": "bachelor",
        "veteran": False,
        "height_cm": 176,
        "vision": "5.0",
        "hukou_region": COUNTY,
        "phone": f"1380000{seq:04d}",
        "declarations": CLEAR,
    }
    body.update(over)
    return body


async def approved_plan(
    client: httpx.AsyncClient,
    who: Who,
    positions: list[dict[str, Any]] | None = None,
    region: str = COUNTY,
) -> dict[str, Any]:
    positions = positions or [
        {"post_category": "duty", "post": "patrol", "headcount": 2, "unit": "十字路派出所"},
        {"post_category": "civilian", "post": "clerk", "headcount": 1},
    ]
    r = await client.post(
        f"{API}/plans",
        json={"region": region, "year": 2027, "positions": positions},
        headers=who.county(region),
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    r = await client.post(f"{API}/plans/{plan['id']}/submit", headers=who.county(region))
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/plans/{plan['id']}/approve", headers=who.province())
    assert r.status_code == 200, r.text
    return r.json()


async def campaign(
    client: httpx.AsyncClient,
    who: Who,
    plan: dict[str, Any],
    rules: dict[str, Any] | None = None,
    *,
    opens: date | None = None,
    closes: date | None = None,
) -> dict[str, Any]:
    today = clock.today()
    rules = copy.deepcopy(rules or RULES)
    plan_posts = {p["post"] for p in plan["positions"]}
    rules["posts"] = {k: v for k, v in rules["posts"].items() if k in plan_posts}
    r = await client.post(
        f"{API}/campaigns",
        json={
            "plan_id": plan["id"],
            "registration_opens": (opens or today - timedelta(days=3)).isoformat(),
            "registration_closes": (closes or today + timedelta(days=10)).isoformat(),
            "rules": rules,
        },
        headers=who.recruiter(plan["region"]),
    )
    assert r.status_code == 201, r.text
    return r.json()


async def register(
    client: httpx.AsyncClient, who: Who, campaign_id: int, body: dict[str, Any]
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/campaigns/{campaign_id}/applications", json=body, headers=who.recruiter()
    )
    assert r.status_code == 201, r.text
    return r.json()


async def results(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    campaign_id: int,
    stage: str,
    items: list[dict[str, Any]],
    expect: int = 200,
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/campaigns/{campaign_id}/results/{stage}", json=items, headers=headers
    )
    assert r.status_code == expect, r.text
    return r.json()


async def close(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    campaign_id: int,
    stage: str,
    expect: int = 200,
) -> dict[str, Any]:
    r = await client.post(f"{API}/campaigns/{campaign_id}/stages/{stage}/close", headers=headers)
    assert r.status_code == expect, r.text
    return r.json()
