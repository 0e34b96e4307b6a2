"""Concurrent transitions never both succeed (real commits, no shared outer transaction).
These tests use a region of their own (Hohhot) so that what they commit stays apart."""

from __future__ import annotations

import asyncio
from datetime import date

from services.common.resident_id import make_id_number
from services.recruitment.tests.helpers import API, Who, applicant, campaign

REGION = "150102"


async def _submitted_plan(client, who: Who) -> dict:
    r = await client.post(
        f"{API}/plans",
        json={
            "region": REGION,
            "year": 2027,
            "positions": [{"post_category": "duty", "post": "patrol", "headcount": 1}],
        },
        headers=who.county(REGION),
    )
    plan = r.json()
    r = await client.post(f"{API}/plans/{plan['id']}/submit", headers=who.county(REGION))
    assert r.status_code == 200
    return plan


async def test_two_approvals_and_two_closes(committed_client, issuer, roster) -> None:
    client = committed_client
    who = Who(issuer)
    plan = await _submitted_plan(client, who)
    url = f"{API}/plans/{plan['id']}/approve"
    first, second = await asyncio.gather(
        client.post(url, headers=who.province("15")),
        client.post(url, headers=issuer.headers("province_admin", region="1501", sub="other")),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["code"] == "invalid_transition"
    approved = (first if first.status_code == 200 else second).json()
    assert approved["status"] == "approved"

    c = await campaign(client, who, approved)
    rec = issuer.headers("recruiter", region=REGION, sub="rec-hohhot")
    for i in range(1, 4):
        body = applicant(
            i, hukou_region=REGION, id_number=make_id_number(REGION, date(2000, 1, 1), i)
        )
        r = await client.post(f"{API}/campaigns/{c['id']}/applications", json=body, headers=rec)
        assert r.status_code == 201, r.text
    close_url = f"{API}/campaigns/{c['id']}/stages/registration/close"
    a, b = await asyncio.gather(
        client.post(close_url, headers=rec), client.post(close_url, headers=rec)
    )
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    assert (a if a.status_code == 409 else b).json()["code"] == "stage_not_open"
    state = (await client.get(f"{API}/campaigns/{c['id']}", headers=rec)).json()
    assert [s["state"] for s in state["stages"][:3]] == ["closed", "open", "pending"]
