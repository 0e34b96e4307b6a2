"""Budget and pay check through the API (figures under the api.md example schedule; see
test_budget for the monthly amounts)."""

from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import load_workbook

from services.compensation.tests.conftest import SERVICE_TOKEN
from services.compensation.tests.test_api_payroll_runs import (
    BASE,
    calculate,
    new_run,
    put_schedule,
    staff,
)
from services.compensation.tests.test_api_schedules_inputs import schedule


def plan(pid, region, year, *positions, status="approved"):
    return {
        "id": pid,
        "region": region,
        "year": year,
        "status": status,
        "positions": [
            {"post_category": "duty", "post": post, "headcount": n, "filled": filled}
            for post, n, filled in positions
        ],
    }


async def test_budget_from_headcount_and_approved_plans(client, upstream, h):
    staff(upstream)
    upstream.add(9, left="2026-01-31")  # gone before today: not in the headcount
    upstream.plans += [
        plan(1, "371327", 2027, ("patrol", 3, 1), ("clerk", 2, 0)),
        plan(2, "371327", 2028, ("patrol", 5, 0)),  # a later year
        plan(3, "371325", 2027, ("patrol", 4, 0)),  # another county
        plan(4, "371327001", 2026, ("patrol", 1, 1)),  # filled
    ]
    await put_schedule(client, h)
    r = await client.get(f"{BASE}/budget", params={"region": "371327", "year": 2027}, headers=h.fin)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["plans_available"] is True and b["warnings"] == []
    assert all(a == f"Bearer {SERVICE_TOKEN}" for a in upstream.plan_auth)
    assert b["entry_level"] == 7
    assert b["schedules"] == [{"region_prefix": "37", "effective_from": "2026-01-01"}]
    # current: 12 × (5,850 + 6,220 + 5,850); employer 12 × (2 × 1,795.95 + 1,909.54)
    assert b["current"] == {
        "headcount": 3,
        "fixed_pay": "215040.00",
        "employer_contributions": "66017.28",
        "total": "281057.28",
    }
    # planned at level 7, step 1, no grade: 2 patrol × 5,350 and 2 clerk × 4,850 a month;
    # employer 2 × 1,642.45 + 2 × 1,488.95
    assert b["planned"] == {
        "headcount": 4,
        "fixed_pay": "244800.00",
        "employer_contributions": "75153.60",
        "total": "319953.60",
    }
    assert Decimal(b["total"]["total"]) == Decimal("281057.28") + Decimal("319953.60")
    assert [r["region"] for r in b["by_region"]] == ["371327", "371327001"]
    posts = {p["post"]: p for p in b["by_post"]}
    assert posts["patrol"]["current"]["headcount"] == 2
    assert posts["patrol"]["planned"]["headcount"] == 2
    assert b["unpriced"] == []
    r = await client.get(
        f"{BASE}/budget",
        params={"region": "371327", "year": 2027, "format": "xlsx", "lang": "zh"},
        headers=h.fin,
    )
    sheet = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert sheet[0][:3] == ("岗位", "现有人数", "现有人员年度成本")
    assert sheet[-1][0] == "合计" and sheet[-1][8] == 601010.88


async def test_budget_without_recruitment(client, upstream, h):
    staff(upstream)
    upstream.recruitment_down = True
    await put_schedule(client, h)
    r = await client.get(f"{BASE}/budget", params={"region": "371327", "year": 2027}, headers=h.fin)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["plans_available"] is False and b["warnings"]
    assert b["planned"]["headcount"] == 0 and b["current"]["headcount"] == 3


async def test_budget_lists_what_it_cannot_price(client, upstream, h):
    staff(upstream)
    upstream.add(4, post="hotline", category="civilian")
    upstream.plans.append(plan(1, "371327", 2027, ("custody", 2, 0)))
    await put_schedule(client, h)
    b = (
        await client.get(f"{BASE}/budget", params={"region": "371327", "year": 2027}, headers=h.fin)
    ).json()
    assert {(u["kind"], u["post"], u["count"]) for u in b["unpriced"]} == {
        ("person", "hotline", 1),
        ("planned_hire", "custody", 2),
    }
    assert b["current"]["headcount"] == 3


async def test_budget_bad_requests(client, upstream, h):
    r = await client.get(f"{BASE}/budget", params={"region": "371327"}, headers=h.fin)
    assert r.status_code == 422
    r = await client.get(f"{BASE}/budget", params={"region": "371325", "year": 2027}, headers=h.fin)
    assert r.status_code == 404
    upstream.roster_down = True
    r = await client.get(f"{BASE}/budget", params={"year": 2027}, headers=h.fin)
    assert r.status_code == 503 and r.json()["code"] == "roster_unavailable"
    r = await client.get(f"{BASE}/budget", params={"year": 2027}, headers=h.recruiter)
    assert r.status_code == 403


async def test_pay_check(client, upstream, h):
    upstream.add(1, post="patrol", grade="competent")  # 5,850
    upstream.add(4, post="patrol", grade="excellent")  # 6,150 (grade: justified)
    upstream.add(5, post="patrol", grade="competent", region="371327001")  # 5,950
    upstream.add(6, post="clerk", grade=None, category="civilian")  # 4,850 < 4,900
    upstream.add(7, post="patrol", hire="2026-01-20")  # part of the month: left out
    await put_schedule(client, h, schedule(minimum_wage="4900.00"))
    township = schedule(position_pay={"patrol": "2100.00", "clerk": "1500.00"})
    await put_schedule(client, h, township, prefix="371327001")
    rid = (await new_run(client, h))["id"]
    assert (await calculate(client, rid, h.fin)).status_code == 200

    r = await client.get(
        f"{BASE}/reports/pay-check",
        params={"region": "371327", "period": "2026-01"},
        headers=h.auditor,
    )
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["runs"] == [{"id": rid, "region": "371327", "status": "calculated"}]
    assert c["headcount"] == 4 and c["excluded_partial_month"] == 1
    assert c["average_pay"] == "5700.00"
    assert c["pct_of_local_average"] == "114.00" and c["pct_of_minimum_wage"] == "116.33"
    assert c["below_minimum"] == [
        {
            "personnel_id": 6,
            "level": 7,
            "step": 1,
            "post": "clerk",
            "fixed_pay": "4850.00",
            "shortfall": "50.00",
        }
    ]
    [group] = c["unequal_pay"]
    assert (group["level"], group["step"], group["post"], group["headcount"]) == (7, 1, "patrol", 3)
    assert group["justified"] is False
    causes = {cause["component"]: cause for cause in group["causes"]}
    assert set(causes) == {"position_pay", "performance_pay"}
    assert "post is the same" in causes["position_pay"]["reason"]
    assert "assessment grade" in causes["performance_pay"]["reason"]
    assert [p["key"] for p in c["below_peg"]] == ["clerk"]

    r = await client.get(
        f"{BASE}/reports/pay-check", params={"region": "371327", "period": "2026-1"}, headers=h.fin
    )
    assert r.status_code == 422
    r = await client.get(
        f"{BASE}/reports/pay-check", params={"region": "371325", "period": "2026-01"}, headers=h.fin
    )
    assert r.status_code == 404


async def test_pay_check_without_schedule(client, h):
    r = await client.get(
        f"{BASE}/reports/pay-check", params={"region": "371327", "period": "2026-01"}, headers=h.fin
    )
    assert r.status_code == 422 and r.json()["code"] == "no_schedule_in_force"


async def test_national_callers_name_the_region(client, issuer):
    national = issuer.headers("auditor", sub="national-auditor")
    params = {"period": "2026-01"}
    r = await client.get(f"{BASE}/reports/pay-check", params=params, headers=national)
    assert r.status_code == 422 and r.json()["code"] == "region_required"
    r = await client.get(f"{BASE}/budget", params={"year": 2027}, headers=national)
    assert r.status_code == 422 and r.json()["code"] == "region_required"
