"""Plans: lifecycle, reservation in the roster at approval, authority, filings."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from kernel.testing import TestIssuer
from services.recruitment.models import KERNEL_TABLES
from services.recruitment.tests.helpers import API, COUNTY, Who, approved_plan

POSITIONS = [
    {"post_category": "duty", "post": "patrol", "headcount": 3},
    {"post_category": "civilian", "post": "clerk", "headcount": 2},
]


async def _submitted(client, who: Who, region: str = COUNTY) -> dict:
    r = await client.post(
        f"{API}/plans",
        json={"region": region, "year": 2027, "title": "2027 plan", "positions": POSITIONS},
        headers=who.county(region),
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["status"] == "draft" and plan["headcount"] == 5
    assert r.headers["etag"] == f'"plan-{plan["id"]}-v1"'
    r = await client.post(f"{API}/plans/{plan['id']}/submit", headers=who.county(region))
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    return r.json()


async def test_lifecycle_reserves_seats_with_the_approvers_token(
    client, issuer, roster, app
) -> None:
    who = Who(issuer)
    plan = await _submitted(client, who)
    approver = who.province("3713")
    r = await client.post(f"{API}/plans/{plan['id']}/approve", headers=approver)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved" and body["decided_by"] == "province-3713"
    reference = f"recruitment-plan-{plan['id']}"
    assert body["reservation"] == {"id": "100", "reference": reference, "seats": 5}
    method, path, headers, sent = roster.calls[-1]
    assert (method, path) == ("POST", "/api/v1/roster/quota-reservations")
    assert sent == {"region": COUNTY, "seats": 5, "reference": reference}
    assert headers["authorization"] == approver["Authorization"]
    # plan.approved and plan.filed wait in the outbox, for the webhooks
    async with app.state.db.session() as s:
        outbox = KERNEL_TABLES.outbox
        topics = {
            row.topic: row.payload
            for row in (await s.execute(select(outbox.c.topic, outbox.c.payload))).all()
        }
    assert topics["plan.approved"]["data"]["url"] == f"{API}/plans/{plan['id']}"
    assert topics["plan.approved"]["region"] == COUNTY
    assert topics["plan.filed"]["data"]["url"] == f"{API}/plans/{plan['id']}/filing"
    assert set(topics["plan.filed"]) == {"event_id", "type", "occurred_at", "region", "data"}

    # approving twice is a conflict, the roster is not asked again
    calls = len(roster.calls)
    r = await client.post(f"{API}/plans/{plan['id']}/approve", headers=approver)
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert len(roster.calls) == calls

    # closing releases the unfilled seats through the outbox and the relay
    r = await client.post(f"{API}/plans/{plan['id']}/close", headers=who.county())
    assert r.status_code == 200 and r.json()["status"] == "closed"
    await app.state.relay.drain()
    assert roster.released == ["100"]
    # the announced events went to the gateway's intake, for the webhook subscribers
    announced = {e["type"]: e for e in roster.announced}
    assert set(announced) == {"plan.approved", "plan.filed"}
    assert announced["plan.filed"]["data"]["url"] == f"{API}/plans/{plan['id']}/filing"
    _, _, headers, _ = roster.calls[-1]
    assert headers["authorization"] == "Bearer svc-token"  # the service's own credentials


async def test_quota_exceeded_keeps_the_plan_submitted(client, issuer, roster) -> None:
    who = Who(issuer)
    plan = await _submitted(client, who)
    roster.capacity = 4
    r = await client.post(f"{API}/plans/{plan['id']}/approve", headers=who.province())
    assert r.status_code == 409 and r.json()["code"] == "quota_exceeded"
    r = await client.get(f"{API}/plans/{plan['id']}", headers=who.county())
    assert r.json()["status"] == "submitted" and r.json()["reservation"] is None
    roster.capacity = None
    roster.down = True
    r = await client.post(f"{API}/plans/{plan['id']}/approve", headers=who.province())
    assert r.status_code == 503 and r.json()["code"] == "roster_unavailable"
    r = await client.get(f"{API}/plans/{plan['id']}", headers=who.county())
    assert r.json()["status"] == "submitted"
    roster.down = False
    r = await client.post(f"{API}/plans/{plan['id']}/approve", headers=who.province())
    assert r.status_code == 200


async def test_approval_authority_and_jurisdiction(client, issuer) -> None:
    who = Who(issuer)
    plan = await _submitted(client, who)
    url = f"{API}/plans/{plan['id']}/approve"
    same_level = issuer.headers("province_admin", region=COUNTY)
    r = await client.post(url, headers=same_level)
    assert r.status_code == 403 and r.json()["code"] == "approval_outside_authority"
    r = await client.post(url, headers=who.province("15"))
    assert r.status_code == 404 and r.json()["code"] == "plan_not_found"
    r = await client.post(url, headers=who.county())
    assert r.status_code == 403 and r.json()["code"] == "role_not_allowed"
    r = await client.post(
        f"{API}/plans/{plan['id']}/reject", json={"reason": "too many"}, headers=who.province("37")
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["decision_reason"] == "too many"
    r = await client.get(f"{API}/plans/{plan['id']}/filing", headers=who.county())
    assert r.status_code == 409 and r.json()["code"] == "plan_not_approved"
    # outside the county's jurisdiction: as if absent
    r = await client.get(f"{API}/plans/{plan['id']}", headers=who.county("371325"))
    assert r.status_code == 404
    r = await client.post(
        f"{API}/plans",
        json={"region": "371325", "year": 2027, "positions": POSITIONS},
        headers=who.county(),
    )
    assert r.status_code == 403 and r.json()["code"] == "region_outside_jurisdiction"


async def test_list_for_compensation_and_filing(client, issuer) -> None:
    who = Who(issuer)
    approved = await approved_plan(client, who)
    await _submitted(client, who)
    r = await client.get(
        f"{API}/plans", params={"region": "3713", "status": "approved"}, headers=who.service()
    )
    assert r.status_code == 200
    items = r.json()["items"]
    assert [p["id"] for p in items] == [approved["id"]]
    assert items[0]["positions"][0] == {
        "post_category": "duty",
        "post": "patrol",
        "headcount": 2,
        "unit": "十字路派出所",
        "filled": 0,
    }
    r = await client.get(f"{API}/plans", params={"region": "15"}, headers=who.service())
    assert r.json()["items"] == []
    r = await client.get(f"{API}/plans", params={"limit": 1}, headers=who.county())
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"]

    r = await client.get(f"{API}/plans/{approved['id']}/filing", headers=who.auditor())
    assert r.status_code == 200
    doc = r.json()
    assert doc["document"] == "pre_recruitment_report" and doc["headcount"] == 3
    assert doc["approved_by"] == "province-3713"
    r = await client.get(
        f"{API}/plans/{approved['id']}/filing", params={"format": "xlsx"}, headers=who.auditor()
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(r.content))
    positions = list(book.worksheets[1].iter_rows(values_only=True))
    assert positions[0] == ("post_category", "post", "headcount", "unit")
    assert positions[1][:3] == ("duty", "patrol", 2)
    assert positions[-1][0] == "total" and positions[-1][2] == 3
    r = await client.get(
        f"{API}/plans/{approved['id']}/filing",
        params={"format": "xlsx", "lang": "zh"},
        headers=who.auditor(),
    )
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["报备", "岗位"]
    assert next(book.worksheets[1].iter_rows(values_only=True)) == ("类别", "岗位", "人数", "单位")


async def test_bad_plans_are_refused(client, issuer) -> None:
    who = Who(issuer)
    bad = [
        {"region": "3713270", "year": 2027, "positions": POSITIONS},
        {"region": COUNTY, "year": 2027, "positions": []},
        {"region": COUNTY, "year": 2027, "positions": [POSITIONS[0], POSITIONS[0]]},
        {"region": COUNTY, "year": 2027, "positions": [{**POSITIONS[0], "headcount": 0}]},
        {"region": COUNTY, "year": 2027, "positions": [{**POSITIONS[0], "post": "Patrol Unit"}]},
        {"region": COUNTY, "year": 2027, "positions": POSITIONS, "status": "approved"},
    ]
    for body in bad:
        r = await client.post(f"{API}/plans", json=body, headers=who.county())
        assert r.status_code == 422, (body, r.text)
    r = await client.post(f"{API}/plans/999999/submit", headers=who.county())
    assert r.status_code == 404 and r.json()["code"] == "plan_not_found"


async def test_idempotency_key_replays_plan_creation(client, issuer) -> None:
    who = Who(issuer)
    headers = {**who.county(), "Idempotency-Key": "plan-1"}
    body = {"region": COUNTY, "year": 2027, "positions": POSITIONS}
    first = await client.post(f"{API}/plans", json=body, headers=headers)
    again = await client.post(f"{API}/plans", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = await client.post(f"{API}/plans", json={**body, "year": 2028}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


async def test_stale_if_match_is_refused(client, issuer: TestIssuer) -> None:
    who = Who(issuer)
    r = await client.post(
        f"{API}/plans",
        json={"region": COUNTY, "year": 2027, "positions": POSITIONS},
        headers=who.county(),
    )
    plan_id = r.json()["id"]
    stale = r.headers["etag"]
    assert (
        await client.post(f"{API}/plans/{plan_id}/submit", headers=who.county())
    ).status_code == 200
    r = await client.post(
        f"{API}/plans/{plan_id}/approve", headers={**who.province(), "If-Match": stale}
    )
    assert r.status_code == 412
