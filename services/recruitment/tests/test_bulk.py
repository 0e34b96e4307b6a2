"""Bulk paths: applications imported from CSV and XLSX, results uploaded as CSV and XLSX,
and stage closes over a few hundred applicants (COPY and set-based updates on
PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

import csv
import io
import random
from datetime import date
from typing import Any

from openpyxl import Workbook

from services.common.resident_id import make_id_number
from services.recruitment.eligibility import NEGATIVE_LIST
from services.recruitment.tabular import XLSX
from services.recruitment.tests.helpers import API, Who, approved_plan, campaign, close

N = 240


def _csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx(rows: list[dict]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _upload(client, path: str, name: str, rows: list[dict], headers: dict) -> Any:
    """POST `rows` as a CSV or XLSX file (by `name`) to `path`."""
    xlsx = name.endswith(".xlsx")
    file = (name, _xlsx(rows) if xlsx else _csv(rows), XLSX if xlsx else "text/csv")
    return await client.post(path, files={"file": file}, headers=headers)


def _people(start: int, count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(start, start + count):
        post = "patrol" if i % 3 else "clerk"
        rows.append(
            {
                "id_number": make_id_number(
                    "371327", date(1996 + i % 8, 1 + i % 12, 1 + i % 27), i
                ),
                "name": f"考生{i}",
                "post": post,
                "education": rng.choice(["senior_high", "junior_college", "bachelor"]),
                "veteran": "是" if i % 10 == 0 else "否",
                "height_cm": str(rng.randint(165, 190)),
                "vision": "5.0",
                "phone": f"1390000{i:04d}",
                "negative_list_clear": "yes",
            }
        )
    return rows


async def test_imports_uploads_and_bulk_closes(client, issuer) -> None:
    who = Who(issuer)
    rec = who.recruiter()
    plan = await approved_plan(
        client,
        who,
        positions=[
            {"post_category": "duty", "post": "patrol", "headcount": 20},
            {"post_category": "civilian", "post": "clerk", "headcount": 10},
        ],
    )
    c = await campaign(client, who, plan)
    cid = c["id"]

    people = _people(1, N // 2, seed=1)
    people[3]["id_number"] = "371327199601010000"  # bad check character
    people[5]["post"] = "sniper"
    people[7] = dict(people[6])  # the same person twice
    r = await _upload(
        client, f"{API}/campaigns/{cid}/applications/import", "applicants.csv", people, rec
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["received"] == N // 2 and first["created"] == N // 2 - 3
    assert [(e["row"], e["code"]) for e in first["errors"]] == [
        (4, "invalid_id_number"),
        (6, "unknown_post"),
        (8, "duplicate_application"),
    ]
    more = _people(N // 2 + 1, N // 2, seed=2)
    more[0] = {**more[0], "criminal_record": "是"}  # declared: out as ineligible
    r = await client.post(
        f"{API}/campaigns/{cid}/applications/import",
        content=_xlsx([people[0], *more]),  # people[0] is already registered
        headers={**rec, "content-type": XLSX},
    )
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["created"] == N // 2
    assert [(e["row"], e["code"]) for e in second["errors"]] == [(1, "duplicate_application")]
    # the JSON columns of imported rows read back as they were built (COPY on PostgreSQL)
    declared = (
        await client.get(f"{API}/applications/{second['application_ids'][0]}", headers=who.county())
    ).json()
    assert declared["eligibility"] == "ineligible" and declared["status"] == "out"
    assert declared["eligibility_reasons"] and all(
        set(r) >= {"code", "message"} for r in declared["eligibility_reasons"]
    )
    assert declared["declarations"] == dict.fromkeys(NEGATIVE_LIST, False)
    r = await client.post(
        f"{API}/campaigns/{cid}/applications/import",
        content=b"id_number,name,favourite_colour\n1,2,3\n",
        headers={**rec, "content-type": "text/csv"},
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_column"

    await close(client, rec, cid, "registration")
    ids = first["application_ids"] + second["application_ids"]
    listed: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 500, "status": "applied"} | ({"cursor": cursor} if cursor else {})
        page = (
            await client.get(f"{API}/campaigns/{cid}/applications", params=params, headers=rec)
        ).json()
        listed += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    applied = [a["id"] for a in listed]
    assert set(applied) <= set(ids) and len(applied) > N // 2  # clerks need a college degree

    rng = random.Random(3)
    scores = [
        {"application_id": i, "score": f"{rng.randint(4000, 9500) / 100:.2f}"} for i in applied
    ]
    scores[0] = {"application_id": applied[0], "score": "", "absent": "yes"}
    r = await _upload(client, f"{API}/campaigns/{cid}/results/written", "written.csv", scores, rec)
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] == len(applied)
    bad = [{"application_id": applied[1], "score": "101"}]
    r = await client.post(
        f"{API}/campaigns/{cid}/results/written",
        content=_csv(bad),
        headers={**rec, "content-type": "text/csv"},
    )
    assert r.status_code == 422 and r.json()["code"] == "score_out_of_range"
    assert r.json()["errors"][0]["loc"] == [1, "score"]
    cut = await close(client, rec, cid, "written")
    patrol = cut["summary"]["patrol"]
    assert patrol["k"] == 40 and patrol["advancing"] >= 40
    assert cut["summary"]["clerk"]["k"] == 30

    interviewees: list[int] = []
    cursor = None
    while True:
        params = {"limit": 500, "status": "applied"} | ({"cursor": cursor} if cursor else {})
        page = (
            await client.get(f"{API}/campaigns/{cid}/applications", params=params, headers=rec)
        ).json()
        interviewees += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(interviewees) == patrol["advancing"] + cut["summary"]["clerk"]["advancing"]
    rows = [
        {"application_id": i, "examiner_scores": f"{70 + n % 20};{75 + n % 15};{80}"}
        for n, i in enumerate(interviewees)
    ]
    r = await _upload(
        client, f"{API}/campaigns/{cid}/results/interview", "interview.xlsx", rows, rec
    )
    assert r.status_code == 200, r.text
    ranked = await close(client, rec, cid, "interview")
    assert ranked["summary"]["patrol"]["place"] == 20
    assert ranked["summary"]["clerk"]["place"] == 10
    r = await client.get(
        f"{API}/campaigns/{cid}/ranking", params={"post": "patrol", "limit": 25}, headers=rec
    )
    page = r.json()
    assert [e["rank"] for e in page["items"]] == list(range(1, 26))
    assert page["next_cursor"]
    r = await client.get(
        f"{API}/campaigns/{cid}/ranking",
        params={"post": "patrol", "limit": 25, "cursor": page["next_cursor"]},
        headers=rec,
    )
    assert r.json()["items"][0]["rank"] == 26
    c = (await client.get(f"{API}/campaigns/{cid}", headers=rec)).json()
    patrol_counts = next(p for p in c["posts"] if p["post"] == "patrol")["counts"]
    assert patrol_counts["place"] == 20 and patrol_counts["applied"] == 0
    assert c["current_stage"] == "fitness"
    assert NEGATIVE_LIST  # the declarations columns are the negative list


def test_one_value_throughout_means_the_same_stored_value() -> None:
    from decimal import Decimal

    from services.recruitment.bulk import _one_value

    assert _one_value([None, None]) and _one_value(["out", "out"])
    assert _one_value([Decimal("85.50"), Decimal("85.50")])
    assert not _one_value([Decimal("85.5"), Decimal("85.50")])  # equal, stored differently
    assert not _one_value([True, 1]) and not _one_value([0, False])
    assert not _one_value(["a", "b"])


def test_arrays_travel_in_postgres_array_syntax_or_as_lists() -> None:
    from decimal import Decimal

    from services.recruitment.bulk import _array

    assert _array("bigint", [3, 1, 2]) == ("{3,1,2}", "text::bigint[]")
    assert _array("integer", [1, None]) == ("{1,NULL}", "text::integer[]")
    assert _array("numeric", [Decimal("85.50"), None, Decimal("1E+2")]) == (
        "{85.50,NULL,1E+2}",
        "text::numeric[]",
    )
    assert _array("boolean", [True, False, None]) == ("{t,f,NULL}", "text::boolean[]")
    assert _array("text", ["place", None, "", "null", "名次 1"]) == (
        '{"place",null,"","null","名次 1"}',
        "text::text[]",
    )
    # anything the array syntax would need a backslash for goes as a list
    for values in (['a "quoted" word'], ["back\\slash"], ["two\nlines"]):
        assert _array("text", values) == (values, "text[]")
    assert _array("bigint", [True, 2]) == ([True, 2], "bigint[]")
    assert _array("timestamptz", [None]) == ([None], "timestamptz[]")


async def test_a_registration_that_outdates_the_statistics_refreshes_them(
    client, issuer, monkeypatch
) -> None:
    """A bulk registration larger than autovacuum's share of the table ANALYZEs the
    planned columns of `applications` in its transaction (for real on PostgreSQL;
    nothing to do on SQLite); a small one into a large table leaves it to autovacuum."""
    from kernel.testing import StatisticsSpy
    from services.recruitment import applications_service, bulk

    spy = StatisticsSpy(monkeypatch, bulk)
    who = Who(issuer)
    rec = who.recruiter()
    plan = await approved_plan(
        client, who, positions=[{"post_category": "duty", "post": "patrol", "headcount": 20}]
    )
    cid = (await campaign(client, who, plan))["id"]
    people = [dict(p, post="patrol") for p in _people(1, 120, seed=3)]

    for rows in (people[:60], people[60:]):
        r = await _upload(
            client, f"{API}/campaigns/{cid}/applications/import", "applicants.csv", rows, rec
        )
        assert r.status_code == 201, r.text
        assert r.json()["created"] == len(rows)
        if not spy.rows:
            assert spy.refreshed == [("applications", applications_service.PLANNED_COLUMNS)]
            spy.rows = 10_000.0  # 60 more hardly change a table of 10,000
    assert len(spy.refreshed) == 1 and spy.asked == ["applications", "applications"]
