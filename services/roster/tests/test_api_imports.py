"""Bulk imports: per-row validation, batches, a re-run creates nothing, progress."""

from __future__ import annotations

import csv
import io
import logging
from datetime import date
from typing import Any

from openpyxl import Workbook

from services.roster.events import created_bundle_events
from services.roster.tests.conftest import API, FEI, JUNAN, SHIZILU, id_number

IMPORTS = f"{API}/imports"
HEADER = [
    "id_number", "name", "region", "unit", "post_category", "post", "education", "veteran",
    "hire_date", "level", "probation_months", "contract_kind", "contract_end",
]  # fmt: skip


def good_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "id_number": id_number(),
        "name": "李娜",
        "region": JUNAN,
        "unit": "巡特警大队",
        "post_category": "duty",
        "post": "patrol",
        "education": "senior_high",
        "veteran": "no",
        "hire_date": "2023-05-01",
        "level": "",
        "probation_months": "",
        "contract_kind": "",
        "contract_end": "",
    }
    row.update(overrides)
    return row


def to_csv(rows: list[dict[str, Any]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


async def upload(client: Any, headers: dict[str, str], content: bytes, name: str = "p.csv") -> Any:
    return await client.post(
        f"{IMPORTS}/personnel", files={"file": (name, content, "text/csv")}, headers=headers
    )


async def test_csv_import_lands_valid_rows_and_reports_bad_ones(client, roles, caplog) -> None:
    caplog.set_level(logging.INFO, logger="auxpol.roster.imports")
    rows = [good_row() for _ in range(120)]
    rows[3] = good_row(id_number="371327199505010035")  # bad check character
    rows[10] = good_row(region="371399")  # unknown region
    rows[20] = good_row(education="小学")
    rows[30] = good_row(id_number=rows[29]["id_number"])  # repeated in the file
    rows[40] = good_row(hire_date="2023-02-30")
    rows[50] = good_row(region=FEI)  # outside the uploader's jurisdiction
    rows[60] = good_row(post="clerk", post_category="duty")
    rows[61] = good_row(post="clerk", post_category="civilian")  # the file defined clerk as duty
    rows[70] = good_row(contract_kind="labour", contract_end="2023-12-31", probation_months="3")
    rows[80] = good_row(region=SHIZILU, education="大专", veteran="是", post_category="勤务")
    r = await upload(client, roles.junan, to_csv(rows))
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["total_rows"] == 120
    job = (await client.get(f"{IMPORTS}/{started['id']}", headers=roles.junan)).json()
    assert job["status"] == "completed" and job["progress"] == "1.0000"
    assert (job["created"], job["skipped"], job["failed"]) == (112, 0, 8)
    errors = {(e["line"], e["column"], e["code"]) for e in job["errors"]}
    assert errors == {
        (5, "id_number", "invalid_id_number"),
        (12, "region", "region_not_found"),
        (22, "education", "invalid_value"),
        (32, "id_number", "duplicate_in_file"),
        (42, "hire_date", "invalid_date"),
        (52, "region", "region_not_found"),
        (63, "post", "post_category_mismatch"),
        (72, "contract", "invalid_contract"),
    }
    assert "371327199505010035" not in str(job)
    assert any(r.getMessage() == "import completed" for r in caplog.records)
    listed = (
        await client.get(f"{API}/personnel", params={"limit": 500}, headers=roles.junan)
    ).json()
    assert len(listed["items"]) == 112
    by_line_81 = [p for p in listed["items"] if p["region"] == SHIZILU]
    assert by_line_81[0]["education"] == "junior_college" and by_line_81[0]["veteran"] is True
    assert by_line_81[0]["level"] == 6
    quota = (await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.junan)).json()
    assert quota["headcount"] == 112
    history = (
        await client.get(f"{API}/personnel/{listed['items'][0]['id']}/history", headers=roles.junan)
    ).json()
    assert history["items"][0]["data"]["import_id"] == started["id"]

    # the same file again creates nobody
    r = await upload(client, roles.junan, to_csv(rows))
    again = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
    assert (again["created"], again["skipped"], again["failed"]) == (0, 112, 8)
    quota = (await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.junan)).json()
    assert quota["headcount"] == 112

    page = (
        await client.get(
            f"{IMPORTS}/{started['id']}/errors", params={"limit": 5}, headers=roles.junan
        )
    ).json()
    assert [e["line"] for e in page["items"]] == [5, 12, 22, 32, 42] and page["next_cursor"]
    listed_imports = (await client.get(IMPORTS, headers=roles.junan)).json()["items"]
    assert [i["id"] for i in listed_imports] == [started["id"], r.json()["id"]]


async def test_duplicates_of_existing_staff_and_quota_per_row(client, roles) -> None:
    await client.post(
        f"{API}/quota-reservations",
        json={"region": FEI, "seats": 27, "reference": "fei-plan"},
        headers=roles.fei,
    )
    existing = good_row(region=FEI)
    first = await upload(client, roles.fei, to_csv([existing]))
    assert (await client.get(f"{IMPORTS}/{first.json()['id']}", headers=roles.fei)).json()[
        "created"
    ] == 1
    renamed = {**existing, "name": "别人"}
    rows = [renamed] + [good_row(region=FEI) for _ in range(4)]
    rows.append(good_row(region=FEI, reservation_reference="fei-plan"))
    header = [*HEADER, "reservation_reference"]
    r = await upload(
        client, roles.fei, to_csv([{"reservation_reference": ""} | x for x in rows], header)
    )
    job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.fei)).json()
    # 30 seats: 27 reserved, 1 taken → 2 free: rows 3 and 4 land, 5 and 6 do not;
    # the last row takes a seat of the reservation
    assert (job["created"], job["failed"]) == (3, 3)
    assert {(e["line"], e["code"]) for e in job["errors"]} == {
        (2, "duplicate_id_number"),
        (5, "quota_exceeded"),
        (6, "quota_exceeded"),
    }
    res = (
        await client.get(
            f"{API}/quota-reservations", params={"reference": "fei-plan"}, headers=roles.fei
        )
    ).json()["items"][0]
    assert (res["converted"], res["held"]) == (1, 26)


async def test_xlsx_import_with_chinese_headers(client, roles) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(
        ["身份证号", "姓名", "区划代码", "单位", "岗位类别", "岗位", "学历", "入职日期", "等级"]
    )
    sheet.append(
        [id_number(), "王芳", JUNAN, "指挥中心", "文职", "dispatcher", "本科", date(2022, 7, 1), 5]
    )
    sheet.append([None] * 9)  # blank rows are ignored
    sheet.append(
        [id_number(), "赵强", int(JUNAN), "交警大队", "勤务", "traffic", "高中", "2021/3/15", None]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    r = await client.post(
        f"{IMPORTS}/personnel",
        files={"file": ("名单.xlsx", buffer.getvalue(), "application/octet-stream")},
        headers=roles.junan,
    )
    assert r.status_code == 202, r.text
    job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
    assert (job["file_format"], job["total_rows"], job["created"], job["failed"]) == (
        "xlsx",
        2,
        2,
        0,
    )
    people = (await client.get(f"{API}/personnel", headers=roles.junan)).json()["items"]
    assert {(p["name"], p["post_category"], p["level"], p["hire_date"]) for p in people} == {
        ("王芳", "civilian", 5, "2022-07-01"),
        ("赵强", "duty", 7, "2021-03-15"),
    }


async def test_gb18030_csv_is_read(client, roles) -> None:
    content = to_csv([good_row(name="欧阳修", unit="城关派出所")]).decode().encode("gb18030")
    r = await upload(client, roles.junan, content)
    job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
    assert job["created"] == 1
    people = (await client.get(f"{API}/personnel", headers=roles.junan)).json()["items"]
    assert people[0]["name"] == "欧阳修"


async def test_bad_files_are_refused_whole(client, roles) -> None:
    for content, name in (
        (b"", "empty.csv"),
        (b"name,region\n", "missing.csv"),
        (to_csv([good_row()]).replace(b"hire_date", b"salary"), "unknown.csv"),
        (b"PK\x03\x04garbage", "broken.xlsx"),
    ):
        r = await upload(client, roles.junan, content, name)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["code"] == "invalid_import_file"
    r = await upload(client, roles.junan, b"name,name\n")
    assert any("repeated" in e["msg"] for e in r.json()["errors"])
    assert (await client.get(IMPORTS, headers=roles.junan)).json()["items"] == []


async def test_import_roles_and_jurisdiction(client, roles) -> None:
    content = to_csv([good_row()])
    for headers in (roles.station, roles.auditor, roles.service, roles("recruiter", region=JUNAN)):
        assert (await upload(client, headers, content)).status_code == 403
    r = await upload(client, roles.junan, content)
    import_id = r.json()["id"]
    assert (await client.get(f"{IMPORTS}/{import_id}", headers=roles.auditor)).status_code == 200
    assert (await client.get(f"{IMPORTS}/{import_id}", headers=roles.fei)).status_code == 404
    assert (await client.get(f"{IMPORTS}/{import_id}/errors", headers=roles.fei)).status_code == 404
    assert (await client.get(f"{IMPORTS}/{import_id}", headers=roles.station)).status_code == 403
    assert (await client.get(IMPORTS, headers=roles.fei)).json()["items"] == []
    assert (await client.get(f"{IMPORTS}/999999", headers=roles.junan)).status_code == 404


async def test_imported_files_get_the_same_created_event(client, app, roles) -> None:
    from sqlalchemy import select

    from services.roster.db import KERNEL_TABLES

    body = {
        "id_number": id_number(),
        "name": "甲",
        "region": JUNAN,
        "unit": "u",
        "post_category": "duty",
        "post": "patrol",
        "education": "senior_high",
        "hire_date": "2023-05-01",
        "external_reference": "ext-1",
    }
    single = (await client.post(f"{API}/personnel", json=body, headers=roles.junan)).json()
    r = await upload(
        client,
        roles.junan,
        to_csv([good_row(external_reference="ext-2"), good_row()], [*HEADER, "external_reference"]),
    )
    assert (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()[
        "created"
    ] == 2
    outbox = KERNEL_TABLES.outbox
    async with app.state.db.session() as session:
        rows = (
            await session.execute(
                select(outbox.c.event_id, outbox.c.topic, outbox.c.payload, outbox.c.status)
            )
        ).all()
    # the import's batch is one bundle row; POST /personnel's file has its own row
    bundles = [
        (e, created_bundle_events(p), s) for e, t, p, s in rows if t == "personnel.created.bundle"
    ]
    assert len(bundles) == 1 and len(bundles[0][1]) == 2
    assert bundles[0][0] == f"personnel.created.bundle:{bundles[0][1][0]['data']['personnel_id']}"
    flat = [(e, p, s) for e, t, p, s in rows if t == "personnel.created"]
    flat += [(p["event_id"], p, s) for _, bundle, s in bundles for p in bundle]
    events = {p["data"]["external_reference"]: (e, p, s) for e, p, s in flat}
    (e1, one, s1), (e2, two, s2) = events["ext-1"], events["ext-2"]
    assert None in events  # no external reference: null, not a broken document
    assert e1 == f"personnel.created:{single['id']}" and one["event_id"] == e1
    assert s1 == s2 == "pending"
    assert set(one) == set(two) and set(one["data"]) == set(two["data"])
    for key in ("personnel_id", "url", "region", "post_category", "post", "status", "hire_date"):
        assert type(one["data"][key]) is type(two["data"][key]), key
    assert two["data"]["url"] == f"/api/v1/roster/personnel/{two['data']['personnel_id']}"
    assert two["data"]["hire_date"] == "2023-05-01" and two["type"] == "personnel.created"
    assert e2 == two["event_id"] == f"personnel.created:{two['data']['personnel_id']}"


async def test_a_failing_batch_leaves_nothing_half_written(
    client, roles, monkeypatch, caplog
) -> None:
    from services.roster import import_service

    original = import_service.Importer._write
    calls = {"n": 0}

    async def flaky(self, session, landing, now):
        calls["n"] += 1
        await original(self, session, landing, now)
        if calls["n"] == 2:  # after the second batch's rows are written, before commit
            raise RuntimeError(f"disk full while writing {landing[0][0].id_number}")

    monkeypatch.setattr(import_service.Importer, "_write", flaky)
    rows = [good_row() for _ in range(120)]  # batches of 50 in these tests
    r = await upload(client, roles.junan, to_csv(rows))
    job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
    assert job["status"] == "failed" and "RuntimeError" in job["error"]
    assert (job["processed_rows"], job["created"]) == (50, 50)
    people = (
        await client.get(f"{API}/personnel", params={"limit": 500}, headers=roles.junan)
    ).json()
    assert len(people["items"]) == 50
    quota = (await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.junan)).json()
    assert quota["headcount"] == 50
    logged = "\n".join(str(getattr(rec, "trace", "")) + rec.getMessage() for rec in caplog.records)
    assert "import failed" in logged and "disk full" in logged
    assert not any(row["id_number"] in logged for row in rows)


async def test_a_batch_that_meets_a_concurrent_writer_is_retried(
    client, app, roles, monkeypatch
) -> None:
    import asyncpg
    from sqlalchemy import select

    from services.roster import import_service
    from services.roster.db import KERNEL_TABLES

    original = import_service.Importer._write
    calls = {"n": 0}

    async def clashing(self, session, landing, now):
        calls["n"] += 1
        await original(self, session, landing, now)
        if calls["n"] == 1:  # as COPY reports a row that a concurrent request inserted
            raise asyncpg.exceptions.UniqueViolationError("duplicate key value")

    monkeypatch.setattr(import_service.Importer, "_write", clashing)
    rows = [good_row() for _ in range(30)]
    r = await upload(client, roles.junan, to_csv(rows))
    job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
    assert (job["status"], job["created"], job["failed"]) == ("completed", 30, 0)
    assert calls["n"] == 2
    outbox = KERNEL_TABLES.outbox
    async with app.state.db.session() as session:
        bundles = (await session.execute(select(outbox.c.payload))).scalars().all()
    assert len(bundles) == 1 and len(created_bundle_events(bundles[0])) == 30  # the retry's, once


async def test_an_import_that_outdates_the_statistics_refreshes_them(
    client, roles, monkeypatch
) -> None:
    """A large import ANALYZEs the files' tables before it reports completion (a real
    ANALYZE on PostgreSQL; nothing to do on SQLite); a small one into a large table
    leaves that to autovacuum."""
    from kernel.testing import StatisticsSpy
    from services.roster import import_service

    spy = StatisticsSpy(monkeypatch, import_service)
    for rows in (0.0, 10_000.0):  # 60 new rows hardly change a table of 10,000
        spy.rows = rows
        r = await upload(client, roles.junan, to_csv([good_row() for _ in range(60)]))
        job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
        assert (job["status"], job["created"]) == ("completed", 60)
        assert [table for table, _ in spy.refreshed] == ["personnel", "contracts"]
    assert spy.asked == ["personnel", "personnel"]
