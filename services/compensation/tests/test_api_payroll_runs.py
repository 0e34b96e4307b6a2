"""Payroll runs through the API: lifecycle, roles and separation of duties, jurisdiction,
overlap, bad inputs, payslip figures, year to date, the bank file and the outbox event.

Monthly figures under the api.md example schedule (see test_budget):
- level 7 step 1 patrol, competent: 3,000 + 2,000 + 500 + 350 = 5,850 gross;
  employee 468 + 117 + 29.25 + 409.50 = 1,023.75; employer 1,795.95; no tax in January
  (5,850 − 5,000 − 1,023.75 < 0); net 4,826.25; employer cost 7,645.95.
- level 6 step 2 clerk, excellent: 3,570 + 1,500 + 800 + 350 = 6,220; employee 1,088.50;
  taxable 131.50, tax 3.945 → 3.95; net 5,127.55.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from services.compensation.models import KERNEL_TABLES
from services.compensation.tests.test_api_schedules_inputs import SCHEDULE, schedule

BASE = "/api/v1/compensation"


async def put_schedule(client, h, payload=None, prefix="37", start="2026-01-01"):
    r = await client.put(
        f"{BASE}/schedules/{prefix}/{start}", json=payload or SCHEDULE, headers=h.prov
    )
    assert r.status_code in (200, 201), r.text


async def new_run(client, h, region="371327", period="2026-01", headers=None):
    r = await client.post(
        f"{BASE}/payroll-runs", json={"region": region, "period": period}, headers=headers or h.fin
    )
    assert r.status_code == 201, r.text
    return r.json()


async def calculate(client, run_id, headers):
    return await client.post(f"{BASE}/payroll-runs/{run_id}/calculate", headers=headers)


async def approve(client, run_id, headers):
    return await client.post(f"{BASE}/payroll-runs/{run_id}/approve", headers=headers)


async def payslips(client, run_id, headers, **params):
    out, cursor = [], None
    while True:
        q = dict(params, limit=2) | ({"cursor": cursor} if cursor else {})
        page = (
            await client.get(f"{BASE}/payroll-runs/{run_id}/payslips", params=q, headers=headers)
        ).json()
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def staff(upstream):
    upstream.add(1, post="patrol", level=7, step=1, grade="competent")
    upstream.add(2, post="clerk", level=6, step=2, grade="excellent", category="civilian")
    upstream.add(3, post="patrol", level=7, step=1, grade="competent", region="371327001")


async def test_run_lifecycle(client, app, upstream, h):
    staff(upstream)
    await put_schedule(client, h)
    r = await client.post(
        f"{BASE}/payroll-inputs",
        json={"personnel_id": 1, "period": "2026-01", "awards": "1000.00"},
        headers=h.fin,
    )
    assert r.status_code == 201
    run = await new_run(client, h)
    assert run["status"] == "draft" and run["totals"] is None
    rid = run["id"]

    r = await calculate(client, rid, h.fin)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "calculated" and run["calculated_by"] == "junan-finance"
    assert run["headcount"] == 3
    assert run["schedules"] == [{"region_prefix": "37", "effective_from": "2026-01-01"}]
    # the roster was asked for the month with the caller's own token
    call = upstream.snapshot_calls[-1]
    assert call["region"] == "371327" and str(call["from"]) == "2026-01-01"
    assert str(call["to"]) == "2026-01-31" and call["auth"] == h.fin["Authorization"]

    slips = {p["personnel_id"]: p for p in await payslips(client, rid, h.fin)}
    p1 = slips[1]
    assert p1["gross"] == "6850.00" and p1["awards"] == "1000.00"
    assert p1["employee_contributions_total"] == "1023.75"
    assert p1["employee_contributions"]["housing_fund"] == "409.50"
    assert p1["employer_contributions_total"] == "1795.95"
    assert p1["cumulative_taxable_income"] == "826.25" and p1["tax"] == "24.79"
    assert p1["net"] == "5801.46" and p1["employer_cost"] == "8645.95"
    assert p1["allowance_items"] == {"work_allowance": "350.00"}
    assert p1["id_number"] == "3713**********1234"  # finance officers see it masked
    p2 = slips[2]
    assert (p2["gross"], p2["tax"], p2["net"]) == ("6220.00", "3.95", "5127.55")
    assert slips[3]["net"] == "4826.25"
    totals = run["totals"]
    assert totals["net"] == "15755.26"  # 5,801.46 + 5,127.55 + 4,826.25
    assert totals["employer_cost"] == "24421.44"  # 8,645.95 + 8,129.54 + 7,645.95

    # the county admin (not the calculator) approves; the event is in the outbox
    r = await client.post(f"{BASE}/payroll-runs/{rid}/approve", headers=h.fin)
    assert r.status_code == 403 and r.json()["code"] == "role_not_allowed"
    r = await client.post(f"{BASE}/payroll-runs/{rid}/approve", headers=h.admin)
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "approved" and approved["approved_by"] == "junan-admin"
    async with app.state.db.session() as s:
        rows = (
            await s.execute(
                select(KERNEL_TABLES.outbox).where(
                    KERNEL_TABLES.outbox.c.topic == "payroll_run.approved"
                )
            )
        ).all()
    events = [r.payload for r in rows if r.payload["data"]["payroll_run_id"] == rid]
    assert len(events) == 1
    event = events[0]
    assert set(event) == {"event_id", "type", "occurred_at", "region", "data"}
    assert event["type"] == "payroll_run.approved" and event["region"] == "371327"
    assert event["data"]["url"] == f"/api/v1/compensation/payroll-runs/{rid}"
    assert event["data"]["period"] == "2026-01"
    assert event["data"]["totals"]["net"] == "15755.26"

    # an approved run is immutable
    for action in ("calculate", "cancel", "approve"):
        r = await client.post(f"{BASE}/payroll-runs/{rid}/{action}", headers=h.both)
        assert r.status_code == 409, action
        assert r.json()["code"] == "invalid_transition"
    r = await client.post(
        f"{BASE}/payroll-inputs", json={"personnel_id": 1, "period": "2026-01"}, headers=h.fin
    )
    assert r.status_code == 409 and r.json()["code"] == "payroll_period_closed"

    r = await client.post(f"{BASE}/payroll-runs/{rid}/mark-paid", headers=h.fin)
    assert r.status_code == 200 and r.json()["status"] == "paid"
    r = await client.post(f"{BASE}/payroll-runs/{rid}/mark-paid", headers=h.fin)
    assert r.status_code == 409
    # a run overlapping the paid (locked) one
    r = await client.post(
        f"{BASE}/payroll-runs", json={"region": "3713", "period": "2026-01"}, headers=h.city_fin
    )
    assert r.status_code == 409 and r.json()["code"] == "payroll_run_overlaps"
    assert "paid and locked" in r.json()["detail"]

    summary = (await client.get(f"{BASE}/payroll-runs/{rid}/summary", headers=h.auditor)).json()
    assert summary["employer_cost"] == totals["employer_cost"]
    assert {g["key"]: g["headcount"] for g in summary["by_post"]} == {"clerk": 1, "patrol": 2}
    assert sum(Decimal(g["net"]) for g in summary["by_unit"]) == Decimal(totals["net"])
    r = await client.get(
        f"{BASE}/payroll-runs/{rid}/summary",
        params={"format": "csv", "lang": "zh"},
        headers=h.auditor,
    )
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines[0][:4] == ["维度", "项目", "人数", "应发合计"]
    assert lines[-1][0] == "合计" and lines[-1][8] == totals["employer_cost"]


async def test_role_matrix(client, upstream, h):
    staff(upstream)
    await put_schedule(client, h)
    for headers in (h.admin, h.auditor, h.recruiter, h.unit, h.prov):
        r = await client.post(
            f"{BASE}/payroll-runs", json={"region": "371327", "period": "2026-01"}, headers=headers
        )
        assert r.status_code == 403, headers
    run = await new_run(client, h)
    rid = run["id"]
    for headers in (h.admin, h.auditor, h.recruiter, h.unit):
        assert (await calculate(client, rid, headers)).status_code == 403
    assert (await calculate(client, rid, h.fin)).status_code == 200
    for headers in (h.fin, h.auditor, h.recruiter, h.unit, h.prov):
        r = await client.post(f"{BASE}/payroll-runs/{rid}/approve", headers=headers)
        assert r.status_code == 403
    # readers
    for headers in (h.fin, h.admin, h.auditor, h.prov):
        assert (await client.get(f"{BASE}/payroll-runs/{rid}", headers=headers)).status_code == 200
    for headers in (h.recruiter, h.unit):
        assert (await client.get(f"{BASE}/payroll-runs/{rid}", headers=headers)).status_code == 403
    assert (await client.get(f"{BASE}/payroll-runs/{rid}")).status_code == 401


async def test_separation_of_duties(client, upstream, h):
    staff(upstream)
    await put_schedule(client, h)
    rid = (await new_run(client, h, headers=h.both))["id"]
    assert (await calculate(client, rid, h.both)).status_code == 200
    r = await client.post(f"{BASE}/payroll-runs/{rid}/approve", headers=h.both)
    assert r.status_code == 403 and r.json()["code"] == "separation_of_duties"
    # recalculated by someone else, the same person may now approve
    assert (await calculate(client, rid, h.fin)).status_code == 200
    r = await client.post(f"{BASE}/payroll-runs/{rid}/approve", headers=h.both)
    assert r.status_code == 200 and r.json()["approved_by"] == "both"


async def test_jurisdiction(client, upstream, h, issuer):
    staff(upstream)
    await put_schedule(client, h)
    rid = (await new_run(client, h))["id"]
    for path in ("", "/payslips", "/summary", "/export"):
        r = await client.get(f"{BASE}/payroll-runs/{rid}{path}", headers=h.fei_fin)
        assert r.status_code == 404, path
    r = await calculate(client, rid, h.fei_fin)
    assert r.status_code == 404 and r.json()["code"] == "payroll_run_not_found"
    fei_admin = issuer.headers("county_admin", region="371325", sub="fei-admin")
    assert (await approve(client, rid, fei_admin)).status_code == 404
    assert (await client.get(f"{BASE}/payroll-runs", headers=h.fei_fin)).json()["items"] == []
    listed = (await client.get(f"{BASE}/payroll-runs", headers=h.auditor)).json()["items"]
    assert [r["id"] for r in listed] == [rid]
    # a run outside the caller's jurisdiction cannot be created
    r = await client.post(
        f"{BASE}/payroll-runs", json={"region": "371325", "period": "2026-01"}, headers=h.fin
    )
    assert r.status_code == 404 and r.json()["code"] == "region_not_found"


async def test_overlapping_runs(client, upstream, h, issuer):
    city_fin = issuer.headers("finance_officer", region="3713", sub="linyi-finance")
    first = await new_run(client, h, period="2026-03")
    for region, headers in (("371327", h.fin), ("3713", city_fin), ("371327001", h.fin)):
        r = await client.post(
            f"{BASE}/payroll-runs", json={"region": region, "period": "2026-03"}, headers=headers
        )
        assert r.status_code == 409, region
        assert r.json()["code"] == "payroll_run_overlaps"
        assert r.json()["overlapping"][0]["id"] == first["id"]
    # other periods and sibling regions are free
    await new_run(client, h, period="2026-04")
    fei = issuer.headers("finance_officer", region="371325", sub="fei-finance")
    await new_run(client, h, region="371325", period="2026-03", headers=fei)
    # once cancelled, the region and month are free again
    r = await client.post(f"{BASE}/payroll-runs/{first['id']}/cancel", headers=h.fin)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    await new_run(client, h, period="2026-03")


@pytest.mark.parametrize(
    "body",
    [
        {"region": "371327", "period": "2026-3"},
        {"region": "371327", "period": "202603"},
        {"region": "371327", "period": "2026-00"},
        {"region": "371327", "period": "0000-01"},
        {"region": "37132", "period": "2026-03"},
        {"region": "371327"},
        {"region": "371327", "period": "2026-03", "status": "approved"},
    ],
)
async def test_bad_run_requests(client, h, body):
    r = await client.post(f"{BASE}/payroll-runs", json=body, headers=h.fin)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_roster_down_leaves_the_run_draft(client, upstream, h):
    staff(upstream)
    await put_schedule(client, h)
    rid = (await new_run(client, h))["id"]
    upstream.roster_down = True
    r = await calculate(client, rid, h.fin)
    assert r.status_code == 503 and r.json()["code"] == "roster_unavailable"
    run = (await client.get(f"{BASE}/payroll-runs/{rid}", headers=h.fin)).json()
    assert run["status"] == "draft" and run["headcount"] == 0
    upstream.roster_down = False
    assert (await calculate(client, rid, h.fin)).status_code == 200


async def test_posts_without_pay_are_listed(client, upstream, h):
    staff(upstream)
    upstream.add(4, post="hotline", category="civilian")
    upstream.add(5, post="hotline", category="civilian")
    upstream.add(6, post="custody")
    await put_schedule(client, h)
    rid = (await new_run(client, h))["id"]
    r = await calculate(client, rid, h.fin)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "no_pay_for_post" and body["posts"] == ["custody", "hotline"]
    assert {"loc": ["post", "hotline"], "msg": "no position pay (2 people)", "count": 2} in body[
        "errors"
    ]
    run = (await client.get(f"{BASE}/payroll-runs/{rid}", headers=h.fin)).json()
    assert run["status"] == "draft"


async def test_no_schedule_in_force(client, upstream, h):
    staff(upstream)
    await put_schedule(client, h, start="2026-06-01")
    rid = (await new_run(client, h))["id"]
    r = await calculate(client, rid, h.fin)
    assert r.status_code == 422 and r.json()["code"] == "no_schedule_in_force"


async def test_most_specific_schedule_applies(client, upstream, h):
    staff(upstream)
    await put_schedule(client, h)
    county = schedule(position_pay={"patrol": "2100.00", "clerk": "1500.00"})
    await put_schedule(client, h, county, prefix="371327001", start="2025-06-01")
    rid = (await new_run(client, h))["id"]
    run = (await calculate(client, rid, h.fin)).json()
    assert [s["region_prefix"] for s in run["schedules"]] == ["37", "371327001"]
    slips = {p["personnel_id"]: p for p in await payslips(client, rid, h.fin)}
    assert slips[1]["position_pay"] == "2000.00"
    assert slips[3]["position_pay"] == "2100.00"


async def test_recalculation_replaces_lines_and_is_deterministic(client, upstream, h):
    staff(upstream)
    upstream.add(7, hire="2026-01-15")  # a joiner: 17 of 31 days
    upstream.add(8, left="2026-01-10")  # a leaver: 10 of 31 days
    await put_schedule(client, h)
    rid = (await new_run(client, h))["id"]
    first = (await calculate(client, rid, h.fin)).json()
    again = (await calculate(client, rid, h.fin)).json()
    assert first["totals"] == again["totals"] and again["headcount"] == 5
    slips = {p["personnel_id"]: p for p in await payslips(client, rid, h.fin)}
    assert (slips[7]["days_employed"], slips[7]["days_in_period"]) == (17, 31)
    assert slips[7]["level_pay"] == "1645.16"  # 3,000 × 17 / 31 = 1,645.161…
    assert slips[8]["days_employed"] == 10
    del upstream.people[2]
    third = (await calculate(client, rid, h.fin)).json()
    assert third["headcount"] == 4
    assert 2 not in {p["personnel_id"] for p in await payslips(client, rid, h.fin)}


async def test_year_to_date_from_approved_runs(client, upstream, h):
    upstream.add(1)
    await put_schedule(client, h)
    await client.post(
        f"{BASE}/payroll-inputs",
        json={"personnel_id": 1, "period": "2026-01", "awards": "1000.00"},
        headers=h.fin,
    )
    jan = (await new_run(client, h, period="2026-01"))["id"]
    await calculate(client, jan, h.fin)
    feb = (await new_run(client, h, period="2026-02"))["id"]
    # January not yet approved: February starts the year afresh
    await calculate(client, feb, h.fin)
    slip = (await payslips(client, feb, h.fin))[0]
    assert slip["months_employed"] == 1
    assert (await approve(client, jan, h.admin)).status_code == 200
    # the approval of January made February stale: it must be recalculated
    run = (await client.get(f"{BASE}/payroll-runs/{feb}", headers=h.fin)).json()
    assert run["stale"] is True
    r = await client.post(f"{BASE}/payroll-runs/{feb}/approve", headers=h.admin)
    assert r.status_code == 409 and r.json()["code"] == "payroll_run_stale"
    await calculate(client, feb, h.fin)
    slip = (await payslips(client, feb, h.fin))[0]
    # cumulative: income 6,850 + 5,850; deductions 2 × 5,000 + 2 × 1,023.75
    assert slip["months_employed"] == 2
    assert slip["cumulative_income"] == "12700.00"
    assert slip["cumulative_employee_contributions"] == "2047.50"
    assert slip["cumulative_taxable_income"] == "652.50"
    assert slip["cumulative_tax"] == "19.58"
    assert slip["tax"] == "0.00"  # 24.79 already withheld in January, no refund mid-year
    assert (await approve(client, feb, h.admin)).status_code == 200


async def test_inputs_after_calculation_make_the_run_stale(client, upstream, h):
    staff(upstream)
    await put_schedule(client, h)
    rid = (await new_run(client, h))["id"]
    await calculate(client, rid, h.fin)
    r = await client.post(
        f"{BASE}/payroll-inputs",
        json={"personnel_id": 3, "period": "2026-01", "overtime_hours": {"weekday": "10"}},
        headers=h.fin,
    )
    assert r.status_code == 201
    r = await client.post(f"{BASE}/payroll-runs/{rid}/approve", headers=h.admin)
    assert r.status_code == 409 and r.json()["code"] == "payroll_run_stale"
    run = (await calculate(client, rid, h.fin)).json()
    assert run["stale"] is False
    slip = (await payslips(client, rid, h.fin, personnel_id=3))[0]
    # 5,000 base × 10 h × 1.5 ÷ 174 = 431.034… → 431.03
    assert slip["overtime_items"]["weekday"] == "431.03"
    assert slip["overtime_hours"]["weekday"] == "10.00"
    assert (await approve(client, rid, h.admin)).status_code == 200


async def test_negative_net_blocks_approval(client, upstream, h):
    staff(upstream)
    await put_schedule(client, h)
    await client.post(
        f"{BASE}/payroll-inputs",
        json={"personnel_id": 1, "period": "2026-01", "deductions": "9000.00"},
        headers=h.fin,
    )
    rid = (await new_run(client, h))["id"]
    run = (await calculate(client, rid, h.fin)).json()
    assert [w["code"] for w in run["warnings"]] == ["negative_net_pay"]
    assert run["warnings"][0]["personnel_ids"] == [1]
    r = await client.post(f"{BASE}/payroll-runs/{rid}/approve", headers=h.admin)
    assert r.status_code == 409 and r.json()["code"] == "negative_net_pay"


async def test_payslip_total_equals_bank_file_total(client, upstream, h):
    for i in range(1, 24):
        upstream.add(
            i,
            post="patrol" if i % 3 else "clerk",
            level=6 + i % 2,
            step=1 + i % 2,
            grade=("excellent", "competent", None)[i % 3],
            name=f"张{i}",
        )
    upstream.add(30, hire="2026-01-20")
    await put_schedule(client, h)
    for i, hours in ((2, "3.5"), (5, "7.25"), (11, "1")):
        await client.post(
            f"{BASE}/payroll-inputs",
            json={
                "personnel_id": i,
                "period": "2026-01",
                "overtime_hours": {"weekday": hours, "holiday": "8"},
                "unpaid_leave_days": "0.5",
                "awards": "123.45",
            },
            headers=h.fin,
        )
    rid = (await new_run(client, h))["id"]
    run = (await calculate(client, rid, h.fin)).json()
    slips = await payslips(client, rid, h.fin)
    payslip_total = sum(Decimal(p["net"]) for p in slips)
    assert payslip_total == Decimal(run["totals"]["net"])

    r = await client.get(f"{BASE}/payroll-runs/{rid}/export", headers=h.fin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "unapproved" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == len(slips) == 24
    assert sum(Decimal(row["amount"]) for row in rows) == payslip_total
    assert Decimal(r.headers["x-payroll-total"]) == payslip_total
    assert rows[0]["name"] == "张1" and rows[0]["id_number"] == "3713**********1234"
    assert [int(row["seq"]) for row in rows] == list(range(1, 25))

    assert (await approve(client, rid, h.admin)).status_code == 200
    r = await client.get(f"{BASE}/payroll-runs/{rid}/export?format=xlsx", headers=h.admin)
    assert r.status_code == 200
    assert "unapproved" not in r.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("seq", "personnel_id", "name", "id_number", "unit", "amount")
    assert len(values) == 25
    xlsx_total = sum(Decimal(str(v[5])).quantize(Decimal("0.01")) for v in values[1:])
    assert xlsx_total == payslip_total
    assert values[1][3] == "371327199001011234"  # the county admin may read ID numbers
    r = await client.get(f"{BASE}/payroll-runs/{rid}/export?lang=zh", headers=h.admin)
    header = next(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert header == ["序号", "人员编号", "姓名", "身份证号", "单位", "实发金额"]


async def test_export_of_a_draft_is_refused(client, h):
    rid = (await new_run(client, h))["id"]
    r = await client.get(f"{BASE}/payroll-runs/{rid}/export", headers=h.fin)
    assert r.status_code == 409 and r.json()["code"] == "payroll_run_not_calculated"
    r = await client.get(f"{BASE}/payroll-runs/{rid}/export?format=pdf", headers=h.fin)
    assert r.status_code == 422


async def test_idempotent_creation(client, h):
    headers = {**h.fin, "Idempotency-Key": "run-2026-05"}
    body = {"region": "371327", "period": "2026-05"}
    first = await client.post(f"{BASE}/payroll-runs", json=body, headers=headers)
    again = await client.post(f"{BASE}/payroll-runs", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"


async def test_if_match_on_transitions(client, upstream, h):
    staff(upstream)
    await put_schedule(client, h)
    rid = (await new_run(client, h))["id"]
    r = await calculate(client, rid, h.fin)
    etag = r.headers["etag"]
    await calculate(client, rid, h.fin)
    r = await client.post(
        f"{BASE}/payroll-runs/{rid}/approve", headers={**h.admin, "If-Match": etag}
    )
    assert r.status_code == 412


def test_record_layout_matches_the_table():
    from services.compensation.models import Payslip
    from services.compensation.run_calculation import RECORD_FIELDS

    assert tuple(c.name for c in Payslip.__table__.columns) == RECORD_FIELDS


async def test_year_to_date_when_a_later_month_was_approved_first(client, app, upstream, h):
    from services.compensation import repository

    upstream.add(1)
    upstream.add(2, post="clerk", level=6, step=2, grade="excellent")
    await put_schedule(client, h)
    await client.post(
        f"{BASE}/payroll-inputs",
        json={"personnel_id": 1, "period": "2026-01", "awards": "1000.00"},
        headers=h.fin,
    )
    for period in ("2026-01", "2026-03"):
        rid = (await new_run(client, h, period=period))["id"]
        assert (await calculate(client, rid, h.fin)).status_code == 200
        assert (await approve(client, rid, h.admin)).status_code == 200
    march = (await payslips(client, rid, h.fin, personnel_id=1))[0]
    assert (march["months_employed"], march["cumulative_income"]) == (2, "12700.00")

    feb = (await new_run(client, h, period="2026-02"))["id"]
    assert (await calculate(client, feb, h.fin)).status_code == 200
    slip = (await payslips(client, feb, h.fin, personnel_id=1))[0]
    # January only: March (approved first) is later in the year
    assert (slip["months_employed"], slip["cumulative_income"]) == (2, "12700.00")
    assert slip["cumulative_tax"] == "19.58" and slip["tax"] == "0.00"

    # the kept totals and the exact sum agree for a month after every approved one
    async with app.state.db.session() as s:
        fast = await repository.year_to_date(s, 0, "2026-04", [1, 2])
        exact = await repository.summed_year_to_date(s, 0, "2026-04", [1, 2])
    assert fast == exact and fast[1].months_employed == 2
    assert fast[1].cumulative_income == 685000 + 585000


async def test_a_crash_mid_calculation_leaves_the_run_as_it_was(
    client, app, upstream, h, monkeypatch
):
    import httpx

    from services.compensation import payroll_service
    from services.compensation.run_calculation import RunCalculator

    for i in range(1, 8):
        upstream.add(i)
    await put_schedule(client, h)
    rid = (await new_run(client, h))["id"]
    monkeypatch.setattr(payroll_service, "CHUNK_RECORDS", 2)
    original = RunCalculator._records
    calls = {"n": 0}

    def failing(self, priced):
        calls["n"] += 1
        if calls["n"] == 3:  # after two chunks were handed to the writer
            raise RuntimeError("power cut")
        return original(self, priced)

    monkeypatch.setattr(RunCalculator, "_records", failing)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as raw:
        r = await raw.post(f"{BASE}/payroll-runs/{rid}/calculate", headers=h.fin)
        assert r.status_code == 500 and r.json()["code"] == "internal_error"
        run = (await client.get(f"{BASE}/payroll-runs/{rid}", headers=h.fin)).json()
        assert run["status"] == "draft" and run["headcount"] == 0
        assert await payslips(client, rid, h.fin) == []

        # a calculated run that fails to recalculate keeps its earlier lines
        calls["n"] = -100
        good = (await calculate(client, rid, h.fin)).json()
        assert good["status"] == "calculated" and good["headcount"] == 7
        upstream.add(8)
        calls["n"] = 2
        r = await raw.post(f"{BASE}/payroll-runs/{rid}/calculate", headers=h.fin)
        assert r.status_code == 500
        again = (await client.get(f"{BASE}/payroll-runs/{rid}", headers=h.fin)).json()
        assert again["totals"] == good["totals"] and again["version"] == good["version"]
        assert len(await payslips(client, rid, h.fin)) == 7


async def test_inputs_of_people_not_in_the_snapshot_are_reported(client, upstream, h):
    staff(upstream)
    upstream.add(9, left="2025-12-31")
    await put_schedule(client, h)
    r = await client.post(
        f"{BASE}/payroll-inputs",
        json={"personnel_id": 9, "period": "2026-01", "awards": "100.00"},
        headers=h.fin,
    )
    assert r.status_code == 201
    rid = (await new_run(client, h))["id"]
    run = (await calculate(client, rid, h.fin)).json()
    [warning] = run["warnings"]
    assert warning["code"] == "inputs_without_person" and warning["personnel_ids"] == [9]
