"""The backfill policy's limits (rounds and the deadline) through the API, a running
publicity notice that blocks the hire and the close, the medical re-examination that
fails (final, backfilled) or has already been decided, and the pass/fail gates uploaded
as CSV and XLSX tables."""

from __future__ import annotations

import copy
import csv
import io
from datetime import timedelta
from typing import Any

from openpyxl import Workbook

from services.recruitment import clock
from services.recruitment.tabular import XLSX
from services.recruitment.tests.helpers import (
    API,
    RULES,
    Who,
    applicant,
    approved_plan,
    campaign,
    close,
    register,
    results,
)

ONE_POST = [{"post_category": "duty", "post": "patrol", "headcount": 1}]


def _rules(**backfill: Any) -> dict[str, Any]:
    rules = copy.deepcopy(RULES)
    rules["posts"]["patrol"]["entry_ratio"] = "3"  # headcount 1: all three are interviewed
    rules["backfill"] = {**rules["backfill"], **backfill}
    return rules


async def _ranked(client, who: Who, rules: dict[str, Any], n: int = 3) -> tuple[int, list[int]]:
    """A campaign at the fitness stage: ids[0] holds the one place, the others are reserves
    in that order."""
    rec = who.recruiter()
    plan = await approved_plan(client, who, positions=ONE_POST)
    cid = (await campaign(client, who, plan, rules))["id"]
    ids = [(await register(client, who, cid, applicant(i)))["id"] for i in range(1, n + 1)]
    await close(client, rec, cid, "registration")
    await results(
        client,
        rec,
        cid,
        "written",
        [{"application_id": a, "score": str(90 - k)} for k, a in enumerate(ids)],
    )
    await close(client, rec, cid, "written")
    await results(
        client, rec, cid, "interview", [{"application_id": a, "score": "80"} for a in ids]
    )
    await close(client, rec, cid, "interview")
    return cid, ids


def _move_time(monkeypatch, days: int) -> None:
    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + timedelta(days=days))


async def test_no_backfill_beyond_max_rounds(client, issuer) -> None:
    who = Who(issuer)
    rec = who.recruiter()
    cid, ids = await _ranked(client, who, _rules(max_rounds=1))
    first = await results(
        client, rec, cid, "fitness", [{"application_id": ids[0], "passed": False, "reason": "a"}]
    )
    assert [(x["promoted"], x["decision"]) for x in first["losses"]] == [(ids[1], "backfilled")]
    second = await results(
        client, rec, cid, "fitness", [{"application_id": ids[1], "passed": False, "reason": "b"}]
    )
    assert second["losses"] == [
        {
            "application_id": ids[1],
            "cause": "fitness",
            "promoted": None,
            "decision": "max_rounds_reached",
            "owed_gates": [],
        }
    ]
    ranking = (await client.get(f"{API}/campaigns/{cid}/ranking", headers=rec)).json()["items"]
    statuses = {e["application_id"]: e["status"] for e in ranking}
    assert statuses == {ids[0]: "out", ids[1]: "out", ids[2]: "reserve"}
    history = (await client.get(f"{API}/applications/{ids[1]}/history", headers=rec)).json()
    skipped = [h for h in history["items"] if h["kind"] == "backfill_skipped"]
    assert skipped and skipped[0]["data"]["decision"] == "max_rounds_reached"
    assert not any(
        h["kind"] == "backfill"
        for h in (await client.get(f"{API}/applications/{ids[2]}/history", headers=rec)).json()[
            "items"
        ]
    )


async def test_no_backfill_after_the_policy_deadline(client, issuer, monkeypatch) -> None:
    who = Who(issuer)
    rec = who.recruiter()
    # the last day of backfilling is today (inclusive); the loss comes two days later
    cid, ids = await _ranked(client, who, _rules(until=clock.today().isoformat()))
    _move_time(monkeypatch, 2)
    out = await results(
        client, rec, cid, "fitness", [{"application_id": ids[0], "passed": False, "reason": "a"}]
    )
    assert out["losses"] == [
        {
            "application_id": ids[0],
            "cause": "fitness",
            "promoted": None,
            "decision": "deadline_passed",
            "owed_gates": [],
        }
    ]
    ranking = (await client.get(f"{API}/campaigns/{cid}/ranking", headers=rec)).json()["items"]
    statuses = {e["application_id"]: e["status"] for e in ranking}
    assert statuses == {ids[0]: "out", ids[1]: "reserve", ids[2]: "reserve"}


async def _cleared(client, who: Who) -> tuple[int, list[int]]:
    """ids[0] holds the place with fitness, medical and political passed; publicity open."""
    rec, county = who.recruiter(), who.county()
    cid, ids = await _ranked(client, who, _rules(), n=2)
    for gate in ("fitness", "medical"):
        await results(client, rec, cid, gate, [{"application_id": ids[0], "passed": True}])
        await close(client, rec, cid, gate)
    await results(client, county, cid, "political", [{"application_id": ids[0], "passed": True}])
    await close(client, county, cid, "political")
    return cid, ids


async def test_a_running_notice_blocks_the_hire_and_the_close(client, issuer, monkeypatch) -> None:
    who = Who(issuer)
    county = who.county()
    cid, ids = await _cleared(client, who)
    r = await client.post(
        f"{API}/campaigns/{cid}/publicity",
        json={"starts": clock.today().isoformat()},
        headers=county,
    )
    assert r.status_code == 201, r.text
    assert r.json()["application_ids"] == [ids[0]]
    r = await client.post(f"{API}/campaigns/{cid}/hire", headers=county)
    assert r.status_code == 409 and r.json()["code"] == "nobody_to_hire"
    r = await client.post(f"{API}/campaigns/{cid}/stages/publicity/close", headers=county)
    assert r.status_code == 409 and r.json()["code"] == "publicity_running"
    # five working days later (and a weekend or holiday or two), the notice has run
    _move_time(monkeypatch, 20)
    done = await close(client, county, cid, "publicity")
    assert done["next_stage"] is None
    r = await client.post(f"{API}/campaigns/{cid}/hire", headers=county)
    assert r.status_code == 201, r.text
    assert [h["application_id"] for h in r.json()["hired"]] == [ids[0]]


async def test_a_failed_reexamination_is_final_and_backfilled(client, issuer) -> None:
    who = Who(issuer)
    rec = who.recruiter()
    cid, ids = await _ranked(client, who, _rules())
    await results(client, rec, cid, "fitness", [{"application_id": ids[0], "passed": True}])
    await close(client, rec, cid, "fitness")
    await results(
        client, rec, cid, "medical", [{"application_id": ids[0], "passed": False, "reason": "bp"}]
    )
    r = await client.post(f"{API}/applications/{ids[0]}/medical-recheck", headers=rec)
    assert r.status_code == 200 and r.json()["scores"]["medical"] == "recheck_pending"
    r = await client.post(f"{API}/applications/{ids[0]}/medical-recheck", headers=rec)
    assert r.status_code == 409 and r.json()["code"] == "recheck_requested"
    out = await results(
        client,
        rec,
        cid,
        "medical",
        [{"application_id": ids[0], "passed": False, "reason": "bp again"}],
    )
    assert out["losses"] == [
        {
            "application_id": ids[0],
            "cause": "medical",
            "promoted": ids[1],
            "decision": "backfilled",
            "owed_gates": ["fitness"],
        }
    ]
    lost = (await client.get(f"{API}/applications/{ids[0]}", headers=rec)).json()
    assert (lost["status"], lost["reason"]) == ("out", "failed_medical")
    # after the re-examination's result there is no other one
    r = await client.post(f"{API}/applications/{ids[0]}/medical-recheck", headers=rec)
    assert r.status_code == 409 and r.json()["code"] == "not_in_stage"
    history = (await client.get(f"{API}/applications/{ids[0]}/history", headers=rec)).json()
    medical = [
        (h["kind"], h["passed"])
        for h in history["items"]
        if h["stage"] == "medical" and h["kind"] in ("score", "recheck")
    ]
    assert medical == [("score", False), ("recheck", False)]


async def test_no_second_request_after_a_passed_reexamination(client, issuer) -> None:
    who = Who(issuer)
    rec = who.recruiter()
    cid, ids = await _ranked(client, who, _rules(), n=2)
    await results(client, rec, cid, "fitness", [{"application_id": ids[0], "passed": True}])
    await close(client, rec, cid, "fitness")
    await results(
        client, rec, cid, "medical", [{"application_id": ids[0], "passed": False, "reason": "bp"}]
    )
    r = await client.post(f"{API}/applications/{ids[0]}/medical-recheck", headers=rec)
    assert r.status_code == 200
    await results(client, rec, cid, "medical", [{"application_id": ids[0], "passed": True}])
    r = await client.post(f"{API}/applications/{ids[0]}/medical-recheck", headers=rec)
    assert r.status_code == 409 and r.json()["code"] == "recheck_requested"
    passed = (await client.get(f"{API}/applications/{ids[0]}", headers=rec)).json()
    assert passed["status"] == "place" and passed["scores"]["medical"] == "passed"


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_FIT = {"shuttle_10m_x4": "12.5", "run_1000m": "4'00", "run_800m": "3'30"}


async def test_gate_results_uploaded_as_tables(client, issuer) -> None:
    who = Who(issuer)
    rec, county = who.recruiter(), who.county()
    plan = await approved_plan(
        client, who, positions=[{"post_category": "duty", "post": "patrol", "headcount": 2}]
    )
    rules = _rules()
    rules["posts"]["patrol"]["entry_ratio"] = "2"
    cid = (await campaign(client, who, plan, rules))["id"]
    ids = [(await register(client, who, cid, applicant(i)))["id"] for i in range(1, 5)]
    await close(client, rec, cid, "registration")
    scores = [{"application_id": a, "score": str(90 - k)} for k, a in enumerate(ids)]
    await results(client, rec, cid, "written", scores)
    await close(client, rec, cid, "written")
    await results(client, rec, cid, "interview", [{**s, "score": "80"} for s in scores])
    await close(client, rec, cid, "interview")

    # fitness measurements as CSV, judged by the default standard: ids[1] is too slow on
    # the shuttle run and ids[2] is backfilled into the place (and then passes, as XLSX)
    fitness = [
        {"application_id": ids[0], **_FIT, "vertical_jump_touch": "280"},
        {"application_id": ids[1], **_FIT, "shuttle_10m_x4": "15.9", "vertical_jump_touch": "280"},
    ]
    r = await client.post(
        f"{API}/campaigns/{cid}/results/fitness",
        files={"file": ("fitness.csv", _csv(fitness), "text/csv")},
        headers=rec,
    )
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] == 2
    assert [(x["application_id"], x["promoted"]) for x in r.json()["losses"]] == [(ids[1], ids[2])]
    history = (await client.get(f"{API}/applications/{ids[1]}/history", headers=rec)).json()
    fit = next(h for h in history["items"] if h["kind"] == "score" and h["stage"] == "fitness")
    assert fit["passed"] is False and "shuttle_10m_x4" in fit["reason"]
    r = await client.post(
        f"{API}/campaigns/{cid}/results/fitness",
        content=_xlsx([{"application_id": ids[2], "passed": "yes"}]),
        headers={**rec, "content-type": XLSX},
    )
    assert r.status_code == 200, r.text
    await close(client, rec, cid, "fitness")

    # medical as XLSX (a file part), political as CSV (a raw body)
    medical = [{"application_id": a, "passed": "yes", "reason": ""} for a in (ids[0], ids[2])]
    r = await client.post(
        f"{API}/campaigns/{cid}/results/medical",
        files={"file": ("medical.xlsx", _xlsx(medical), XLSX)},
        headers=rec,
    )
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] == 2 and r.json()["losses"] == []
    await close(client, rec, cid, "medical")
    political = [
        {"application_id": ids[0], "passed": "yes", "reason": ""},
        {"application_id": ids[2], "passed": "no", "reason": "record"},
    ]
    r = await client.post(
        f"{API}/campaigns/{cid}/results/political",
        content=_csv(political),
        headers={**rec, "content-type": "text/csv"},
    )
    assert r.status_code == 403  # political review is the county's
    r = await client.post(
        f"{API}/campaigns/{cid}/results/political",
        content=_csv(political),
        headers={**county, "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["losses"] == [
        {
            "application_id": ids[2],
            "cause": "political",
            "promoted": None,
            "decision": "cause_not_backfilled",
            "owed_gates": [],
        }
    ]
    for key, gates in ((0, (True, "passed", True)), (2, (True, "passed", False))):
        got = (await client.get(f"{API}/applications/{ids[key]}", headers=rec)).json()["scores"]
        assert (got["fitness_passed"], got["medical"], got["political_passed"]) == gates
    await close(client, county, cid, "political")
