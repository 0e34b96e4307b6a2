"""Reports (JSON, CSV, XLSX), the promotions due, and the streamed snapshot."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from openpyxl import load_workbook

from services.roster import snapshot
from services.roster.tests.conftest import API, CITY, FEI, JUNAN, PROVINCE, SHIZILU, hire, id_number

REPORTS = f"{API}/reports"


async def test_quota_report_per_child_with_total_and_target(client, roles) -> None:
    for _ in range(3):
        await hire(client, roles.junan)
    await hire(client, roles.fei, region=FEI)
    await client.post(
        f"{API}/quota-reservations",
        json={"region": FEI, "seats": 4, "reference": "rep"},
        headers=roles.fei,
    )
    r = await client.get(
        f"{REPORTS}/quota",
        params={"region": CITY, "target_per_10k": "15"},
        headers=roles.auditor,
    )
    assert r.status_code == 200, r.text
    report = r.json()
    lines = {line["region"]: line for line in report["lines"]}
    assert set(lines) == {FEI, JUNAN}
    fei = lines[FEI]
    assert (fei["quota"], fei["headcount"], fei["reserved"], fei["available"]) == (30, 1, 4, 25)
    assert fei["per_10k_population"] == "0.50" and fei["per_police"] == "0.03"
    assert fei["gap_to_target"] == 29 and fei["fulfilment"] == "0.0333"
    total = report["total"]
    assert (total["quota"], total["headcount"], total["reserved"]) == (1267, 4, 4)
    assert total["population"] == 845_000 and total["gap_to_target"] == 1263
    province = await client.get(
        f"{REPORTS}/quota", params={"region": PROVINCE, "level": "county"}, headers=roles.auditor
    )
    assert {x["region"] for x in province.json()["lines"]} == {FEI, JUNAN}
    cities = await client.get(
        f"{REPORTS}/quota", params={"region": PROVINCE}, headers=roles.auditor
    )
    assert [(x["region"], x["headcount"]) for x in cities.json()["lines"]] == [(CITY, 4)]


async def test_quota_report_formats(client, roles) -> None:
    await hire(client, roles.junan)
    params = {"region": CITY}
    r = await client.get(f"{REPORTS}/quota", params=params | {"format": "csv"}, headers=roles.junan)
    assert r.status_code == 404  # the city lies outside a county's jurisdiction
    r = await client.get(
        f"{REPORTS}/quota", params=params, headers={**roles.auditor, "Accept": "text/csv"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["region", "name", "level", "quota"]
    assert [row[0] for row in rows[1:]] == [FEI, JUNAN, "total"]
    assert rows[2][1] == "莒南县"
    r = await client.get(
        f"{REPORTS}/quota", params=params | {"format": "xlsx"}, headers=roles.auditor
    )
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "region" and values[-1][0] == "total" and values[2][4] == 1
    r = await client.get(
        f"{REPORTS}/quota", params=params | {"format": "pdf"}, headers=roles.auditor
    )
    assert r.status_code == 422
    # Chinese headers on request, same column order, the totals row labelled 合计
    r = await client.get(
        f"{REPORTS}/quota", params=params | {"format": "csv", "lang": "zh"}, headers=roles.auditor
    )
    zh = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert zh[0][:4] == ["地区代码", "名称", "级别", "定额"]
    assert len(zh[0]) == len(rows[0]) and zh[-1][0] == "合计"
    r = await client.get(
        f"{REPORTS}/structure",
        params={"region": JUNAN, "format": "xlsx", "lang": "zh"},
        headers=roles.auditor,
    )
    header = next(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert header == ("维度", "项目", "人数", "占比")
    bad = await client.get(
        f"{REPORTS}/quota", params=params | {"format": "csv", "lang": "fr"}, headers=roles.auditor
    )
    assert bad.status_code == 422


async def test_report_roles(client, roles) -> None:
    params = {"region": JUNAN}
    for headers, status in (
        (roles.junan, 200),
        (roles.auditor, 200),
        (roles.province, 200),
        (roles("finance_officer", region=JUNAN), 200),
        (roles.station, 404),  # a township user asking about the whole county
        (roles("recruiter", region=JUNAN), 403),
        (roles.service, 403),
        (roles.fei, 404),
    ):
        r = await client.get(f"{REPORTS}/structure", params=params, headers=headers)
        assert r.status_code == status, headers
    r = await client.get(f"{REPORTS}/structure", params={"region": "3"}, headers=roles.auditor)
    assert r.status_code == 422


async def test_structure_as_of_with_share_under_30(client, roles) -> None:
    as_of = date(2025, 6, 30)
    young = [date(1996, 7, 1), date(2000, 1, 1)]  # 28 and 25 on the day
    older = [date(1995, 6, 30), date(1980, 1, 1), date(1970, 5, 5)]  # 30, 45, 55
    for i, birth in enumerate(young + older):
        await hire(
            client,
            roles.junan,
            id_number=id_number(birth=birth, male=i % 2 == 0),
            post="clerk" if i == 0 else "patrol",
            post_category="civilian" if i == 0 else "duty",
            education="junior_college" if i < 2 else "senior_high",
            hire_date="2020-01-01",
        )
    # hired after the day, and one who left before it: not counted
    await hire(client, roles.junan, hire_date="2025-07-01")
    gone = await hire(client, roles.junan, hire_date="2020-01-01")
    await client.post(
        f"{API}/personnel/{gone['id']}/departures",
        json={"date": "2025-06-29", "reason": "resigned"},
        headers=roles.junan,
    )
    r = await client.get(
        f"{REPORTS}/structure",
        params={"region": JUNAN, "as_of": as_of.isoformat()},
        headers=roles.junan,
    )
    s = r.json()
    assert s["total"] == 5
    assert s["by_age_band"] == {"<30": 2, "30-40": 1, "40-50": 1, ">=50": 1}
    assert s["share_under_30"] == "0.4000" and s["percent_under_30"] == "40.0"
    assert s["by_post_category"] == {"civilian": 1, "duty": 4}
    assert s["by_level"] == {"6": 2, "7": 3}
    assert s["by_education"]["junior_college"] == 2 and s["by_sex"] == {"male": 3, "female": 2}
    r = await client.get(
        f"{REPORTS}/structure",
        params={"region": JUNAN, "as_of": as_of.isoformat(), "format": "csv"},
        headers=roles.junan,
    )
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert ["age_band", "<30", "2", "0.4000"] in rows


async def test_turnover_by_reason_and_age_band(client, roles) -> None:
    people = [
        await hire(
            client, roles.junan, hire_date="2023-01-01", id_number=id_number(birth=date(1998, 1, 1))
        )
        for _ in range(4)
    ]
    older = await hire(
        client, roles.junan, hire_date="2023-01-01", id_number=id_number(birth=date(1970, 1, 1))
    )
    for p, reason in ((people[0], "resigned"), (people[1], "resigned"), (older, "retired")):
        r = await client.post(
            f"{API}/personnel/{p['id']}/departures",
            json={"date": "2024-05-01", "reason": reason},
            headers=roles.junan,
        )
        assert r.status_code == 201
    await hire(client, roles.junan, hire_date="2024-03-01")
    r = await client.get(
        f"{REPORTS}/turnover", params={"region": JUNAN, "year": 2024}, headers=roles.auditor
    )
    t = r.json()
    assert (t["leavers"], t["headcount_start"], t["headcount_end"]) == (3, 5, 3)
    assert t["average_headcount"] == "4" and t["rate"] == "0.7500" and t["rate_percent"] == "75.0"
    assert t["by_reason"]["resigned"] == 2 and t["by_reason"]["retired"] == 1
    assert t["by_age_band"] == {"<30": 2, "30-40": 0, "40-50": 0, ">=50": 1}
    r = await client.get(
        f"{REPORTS}/turnover",
        params={"region": JUNAN, "year": 2024, "format": "xlsx"},
        headers=roles.auditor,
    )
    assert r.status_code == 200 and r.content[:2] == b"PK"
    r = await client.get(
        f"{REPORTS}/turnover", params={"region": JUNAN, "year": 2099}, headers=roles.auditor
    )
    assert r.status_code == 422


async def test_promotions_due_with_reasons(client, roles) -> None:
    due = await hire(client, roles.junan, hire_date="2019-01-01", probation_months=6)
    short = await hire(client, roles.junan, hire_date="2024-01-01")
    weak = await hire(client, roles.junan, hire_date="2019-01-01", region=SHIZILU)
    for year in range(2019, 2026):
        for p, grade in (
            (due, "competent"),
            (weak, "basically_competent" if year == 2024 else "excellent"),
        ):
            await client.post(
                f"{API}/personnel/{p['id']}/assessments",
                json={"year": year, "grade": grade},
                headers=roles.junan,
            )
    r = await client.get(
        f"{API}/promotions/due", params={"region": JUNAN, "year": 2025}, headers=roles.junan
    )
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["personnel_id"], i["status"], i["from_level"], i["to_level"]) for i in items] == [
        (due["id"], "due", 7, 6)
    ]
    assert any("probation excluded" in reason for reason in items[0]["reasons"])
    r = await client.get(
        f"{API}/promotions/due",
        params={"region": JUNAN, "year": 2025, "status": ["not_due"]},
        headers=roles.junan,
    )
    reasons = {i["personnel_id"]: i["reasons"] for i in r.json()["items"]}
    assert set(reasons) == {short["id"], weak["id"]}
    assert any("below competent" in x for x in reasons[weak["id"]])
    station = await client.get(
        f"{API}/promotions/due",
        params={"region": SHIZILU, "year": 2025, "status": ["not_due"]},
        headers=roles.station,
    )
    assert [i["personnel_id"] for i in station.json()["items"]] == [weak["id"]]


async def test_snapshot_streams_ndjson_for_the_period(client, roles) -> None:
    stays = await hire(client, roles.junan, hire_date="2024-01-01")
    await hire(client, roles.junan, hire_date="2026-05-01")  # after the period
    left = await hire(client, roles.junan, hire_date="2024-01-01")
    await client.post(
        f"{API}/personnel/{left['id']}/departures",
        json={"date": "2025-03-10", "reason": "resigned"},
        headers=roles.junan,
    )
    gone = await hire(client, roles.junan, hire_date="2024-01-01")
    await client.post(
        f"{API}/personnel/{gone['id']}/departures",
        json={"date": "2025-02-28", "reason": "resigned"},
        headers=roles.junan,
    )
    suspended = await hire(client, roles.junan, hire_date="2024-01-01")
    await client.post(
        f"{API}/personnel/{suspended['id']}/status-changes",
        json={"status": "suspended", "date": "2025-01-15", "reason": "investigation"},
        headers=roles.junan,
    )
    other = await hire(client, roles.fei, region=FEI, hire_date="2024-01-01")
    await client.post(
        f"{API}/personnel/{stays['id']}/assessments",
        json={"year": 2024, "grade": "excellent"},
        headers=roles.junan,
    )
    params = {"from": "2025-03-01", "to": "2025-03-31"}
    r = await client.get(f"{API}/personnel-snapshot", params=params, headers=roles.service)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [x["id"] for x in rows] == [stays["id"], left["id"], other["id"]]
    first = rows[0]
    assert list(first) == list(snapshot.KEYS)
    assert (first["veteran"], first["level"], first["hire_date"]) == (False, 7, "2024-01-01")
    assert first["probation_end"] is None and first["birth_date"] == stays["birth_date"]
    assert first["last_assessment_grade"] == "excellent" and first["last_assessment_year"] == 2024
    assert first["id_number"] == stays["id_number"]
    assert rows[1]["left_date"] == "2025-03-10"
    county = await client.get(
        f"{API}/personnel-snapshot", params=params | {"region": FEI}, headers=roles.service
    )
    assert [json.loads(x)["id"] for x in county.text.splitlines()] == [other["id"]]
    finance = await client.get(
        f"{API}/personnel-snapshot", params=params, headers=roles("finance_officer", region=JUNAN)
    )
    masked = [json.loads(x) for x in finance.text.splitlines()]
    assert [x["id"] for x in masked] == [stays["id"], left["id"]]
    assert masked[0]["id_number"] == stays["id_number"][:4] + "*" * 10 + stays["id_number"][-4:]
    bad = await client.get(
        f"{API}/personnel-snapshot",
        params={"from": "2025-03-31", "to": "2025-03-01"},
        headers=roles.service,
    )
    assert bad.status_code == 422
    r = await client.get(f"{API}/personnel-snapshot", params=params, headers=roles("recruiter"))
    assert r.status_code == 403


async def test_promotions_are_capped_when_the_top_levels_are_full(client, roles) -> None:
    # Fei: 10 on the staff; levels 1–3 ≤ 30% → 3 seats, all taken by level-3 files
    top = [
        await hire(client, roles.fei, region=FEI, level=3, hire_date="2015-01-01") for _ in range(3)
    ]
    waiting = [
        await hire(client, roles.fei, region=FEI, level=4, hire_date="2018-01-01") for _ in range(7)
    ]
    for p in waiting:
        for year in (2024, 2025):  # the whole years in the last three
            r = await client.post(
                f"{API}/personnel/{p['id']}/assessments",
                json={"year": year, "grade": "competent"},
                headers=roles.fei,
            )
            assert r.status_code == 201
    r = await client.get(
        f"{API}/promotions/due", params={"region": FEI, "year": 2026}, headers=roles.fei
    )
    items = r.json()["items"]
    assert {i["personnel_id"] for i in items} == {p["id"] for p in waiting}
    assert {i["status"] for i in items} == {"capped"}
    assert "3 seats: no seat free" in items[0]["reasons"][-1]
    assert all(t["id"] not in {i["personnel_id"] for i in items} for t in top)


async def test_report_days_before_1949_are_refused(client, roles) -> None:
    """The age bands subtract decades from the day: year 28 was a 500 (found by the API
    fuzz). Reports count from 1949, like their `year`."""
    for path, name in (
        (f"{REPORTS}/structure", "as_of"),
        (f"{API}/promotions/due", "as_of"),
        (f"{REPORTS}/quota", "on"),
    ):
        region = CITY if path.endswith("quota") else JUNAN
        for day in ("0001-01-01", "0028-12-07", "2101-01-01"):
            r = await client.get(path, params={"region": region, name: day}, headers=roles.auditor)
            assert r.status_code == 422 and r.json()["code"] == "validation_error", (path, day)
        r = await client.get(
            path, params={"region": region, name: "1949-10-01"}, headers=roles.auditor
        )
        assert r.status_code == 200, (path, r.text)
