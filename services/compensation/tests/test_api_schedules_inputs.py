"""Schedules and payroll inputs through the API: validation, roles, jurisdiction, ETags."""

from __future__ import annotations

import copy

import pytest

from services.compensation.tests.test_schedule_rules import API_EXAMPLE

BASE = "/api/v1/compensation"
SCHEDULE = copy.deepcopy(API_EXAMPLE)


def schedule(**changes):
    d = copy.deepcopy(SCHEDULE)
    d.update(changes)
    return d


@pytest.fixture
def prov(issuer):
    return issuer.headers("province_admin", region="37", sub="sd-admin")


@pytest.fixture
def fin(issuer):
    return issuer.headers("finance_officer", region="371327", sub="junan-finance")


async def test_put_get_and_replace_schedule(client, prov, fin, issuer):
    r = await client.put(f"{BASE}/schedules/37/2026-01-01", json=SCHEDULE, headers=prov)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["region_prefix"] == "37" and body["effective_from"] == "2026-01-01"
    assert body["level_pay"]["7"] == ["3000.00", "3150.00"]
    etag = r.headers["etag"]

    # readable by a county finance officer below the province
    r = await client.get(f"{BASE}/schedules/37/2026-01-01", headers=fin)
    assert r.status_code == 200 and r.headers["etag"] == etag
    r = await client.get(f"{BASE}/schedules", headers=fin)
    assert [s["region_prefix"] for s in r.json()["items"]] == ["37"]
    r = await client.get(
        f"{BASE}/schedules/in-force", params={"region": "371327", "on": "2026-05-01"}, headers=fin
    )
    assert r.status_code == 200 and r.json()["effective_from"] == "2026-01-01"
    r = await client.get(
        f"{BASE}/schedules/in-force", params={"region": "371327", "on": "2025-12-31"}, headers=fin
    )
    assert r.status_code == 404 and r.json()["code"] == "schedule_not_found"

    # replace with the current ETag, then a stale one gets 412
    changed = schedule(local_average_wage="5200.00")
    r = await client.put(
        f"{BASE}/schedules/37/2026-01-01", json=changed, headers={**prov, "If-Match": etag}
    )
    assert r.status_code == 200 and r.json()["local_average_wage"] == "5200.00"
    assert r.headers["etag"] != etag
    r = await client.put(
        f"{BASE}/schedules/37/2026-01-01", json=changed, headers={**prov, "If-Match": etag}
    )
    assert r.status_code == 412

    # another province cannot see or write it
    other = issuer.headers("province_admin", region="15", sub="nm-admin")
    assert (await client.get(f"{BASE}/schedules/37/2026-01-01", headers=other)).status_code == 404
    r = await client.put(f"{BASE}/schedules/37/2026-02-01", json=SCHEDULE, headers=other)
    assert r.status_code == 404
    # only province admins write schedules
    r = await client.put(f"{BASE}/schedules/371327/2026-01-01", json=SCHEDULE, headers=fin)
    assert r.status_code == 403 and r.json()["code"] == "role_not_allowed"
    assert (await client.put(f"{BASE}/schedules/37/2026-01-01", json=SCHEDULE)).status_code == 401


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        (
            {"contributions": {"pension": {"employer": "-0.16", "employee": "0.08"}}},
            ["contributions", "pension", "employer"],
        ),
        ({"base_floor_ratio": "3.5"}, ["base_floor_ratio"]),
        ({"level_pay": {"7": ["3000.00"], "5": ["3800.00"]}}, ["level_pay"]),
        ({"position_pay": {"patrol": "-1.00"}}, ["position_pay", "patrol"]),
        ({"minimum_wage": "9000.00"}, ["minimum_wage"]),
    ],
)
async def test_invalid_schedules_are_refused(client, prov, changes, loc):
    r = await client.put(f"{BASE}/schedules/37/2026-01-01", json=schedule(**changes), headers=prov)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_schedule"
    assert loc in [e["loc"] for e in body["errors"]]


async def test_schedule_shape_errors(client, prov):
    r = await client.put(
        f"{BASE}/schedules/37/2026-01-01", json=schedule(local_average_wage=5000.5), headers=prov
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = await client.put(f"{BASE}/schedules/37/2026-01-01", json=schedule(bonus="1"), headers=prov)
    assert r.status_code == 422 and r.json()["code"] == "unknown_field"
    r = await client.put(f"{BASE}/schedules/37/2026-13-01", json=SCHEDULE, headers=prov)
    assert r.status_code == 422
    r = await client.put(f"{BASE}/schedules/3x/2026-01-01", json=SCHEDULE, headers=prov)
    assert r.status_code == 404


async def test_payroll_input_create_replace_and_list(client, upstream, fin, issuer):
    upstream.add(101)
    body = {
        "personnel_id": 101,
        "period": "2026-03",
        "overtime_hours": {"weekday": "4.5", "rest_day": "8", "holiday": "0"},
        "unpaid_leave_days": "1",
        "awards": "1000.00",
        "deductions": "50.00",
        "special_additional_deductions": "2000.00",
    }
    r = await client.post(f"{BASE}/payroll-inputs", json=body, headers=fin)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["region"] == "371327" and out["awards"] == "1000.00"
    assert out["overtime_hours"] == {"weekday": "4.50", "rest_day": "8.00", "holiday": "0.00"}
    r = await client.post(f"{BASE}/payroll-inputs", json={**body, "awards": "200.00"}, headers=fin)
    assert r.status_code == 200 and r.json()["awards"] == "200.00"
    page = (await client.get(f"{BASE}/payroll-inputs?period=2026-03", headers=fin)).json()
    assert [i["personnel_id"] for i in page["items"]] == [101]
    # another county's finance officer does not see it
    fei = issuer.headers("finance_officer", region="371325", sub="fei-finance")
    assert (await client.get(f"{BASE}/payroll-inputs", headers=fei)).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"personnel_id": 999, "period": "2026-03"}, "unknown_personnel"),
        (
            {"personnel_id": 101, "period": "2026-03", "overtime_hours": {"weekday": "-1"}},
            "validation_error",
        ),
        ({"personnel_id": 101, "period": "2026-3"}, "validation_error"),
        ({"personnel_id": 101, "period": "2026-13"}, "validation_error"),
        ({"personnel_id": 101, "period": "2026-03", "unpaid_leave_days": "-1"}, "validation_error"),
        ({"personnel_id": 101, "period": "2026-03", "awards": "-1.00"}, "validation_error"),
        ({"personnel_id": 101, "period": "2026-03", "awards": "1.001"}, "validation_error"),
        ({"personnel_id": 101, "period": "2026-03", "salary": "1"}, "unknown_field"),
    ],
)
async def test_bad_payroll_inputs(client, upstream, fin, body, code):
    upstream.add(101)
    r = await client.post(f"{BASE}/payroll-inputs", json=body, headers=fin)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code


async def test_payroll_input_jurisdiction_roles_and_roster_down(client, upstream, fin, issuer):
    upstream.add(202, region="371325")
    r = await client.post(
        f"{BASE}/payroll-inputs", json={"personnel_id": 202, "period": "2026-03"}, headers=fin
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_personnel"
    admin = issuer.headers("county_admin", region="371327")
    r = await client.post(
        f"{BASE}/payroll-inputs", json={"personnel_id": 202, "period": "2026-03"}, headers=admin
    )
    assert r.status_code == 403
    upstream.add(101)
    upstream.roster_down = True
    r = await client.post(
        f"{BASE}/payroll-inputs", json={"personnel_id": 101, "period": "2026-03"}, headers=fin
    )
    assert r.status_code == 503 and r.json()["code"] == "roster_unavailable"
