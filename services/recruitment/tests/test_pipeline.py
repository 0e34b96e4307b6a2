"""The whole pipeline for a campaign with two posts: registration, the written cut with
ties at the boundary, the interview ranking with the tie-break, a fitness failure that
is backfilled, a medical re-examination, a political-review failure that the policy does
not backfill, an upheld objection whose backfilled candidate clears the gates the place
had passed, publicity, the hire reaching the (stubbed) roster exactly once, the history
and the filings."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from services.recruitment import clock
from services.recruitment.models import KERNEL_TABLES
from services.recruitment.tests.helpers import (
    API,
    COUNTY,
    Who,
    applicant,
    approved_plan,
    campaign,
    close,
    register,
    results,
)


async def test_full_pipeline(client, issuer, roster, app) -> None:
    who = Who(issuer)
    rec, county = who.recruiter(), who.county()
    plan = await approved_plan(client, who)
    c = await campaign(client, who, plan)
    cid = c["id"]
    assert [s["state"] for s in c["stages"]] == ["open"] + ["pending"] * 6
    assert c["current_stage"] == "registration" and c["registration_open"]

    # --- registration ---------------------------------------------------------------------
    ids: dict[str, int] = {}
    for i in range(1, 9):
        extra = {"veteran": True} if i == 2 else {}
        ids[f"p{i}"] = (await register(client, who, cid, applicant(i, **extra)))["id"]
    short = await register(client, who, cid, applicant(9, height_cm=160))
    assert short["eligibility"] == "ineligible" and short["status"] == "out"
    assert [r["code"] for r in short["eligibility_reasons"]] == ["height_below_min"]
    assert short["id_number"].count("*") == 10  # a recruiter sees it masked
    ids["p9"] = short["id"]
    for i in range(1, 5):
        ids[f"c{i}"] = (await register(client, who, cid, applicant(20 + i, post="clerk")))["id"]
    veteran = await client.get(f"{API}/applications/{ids['p2']}", headers=county)
    assert veteran.json()["scores"]["bonus_written"] == "2.00"
    assert veteran.json()["id_number"].count("*") == 0  # the county administrator sees it

    # results for a stage that is not open yet
    r = await client.post(
        f"{API}/campaigns/{cid}/results/written",
        json=[{"application_id": ids["p1"], "score": "90"}],
        headers=rec,
    )
    assert r.status_code == 409 and r.json()["code"] == "stage_not_open"
    done = await close(client, rec, cid, "registration")
    assert done["next_stage"] == "written"
    r = await client.post(f"{API}/campaigns/{cid}/applications", json=applicant(30), headers=rec)
    assert r.status_code == 409 and r.json()["code"] == "registration_not_open"

    # --- written: k = 2 × 2 = 4 for patrol; three tied at the boundary all go through -------
    written = {"p1": "90", "p2": "86", "p3": "85", "p4": "80", "p5": "80", "p6": "80", "p7": "70"}
    written |= {"c1": "88", "c2": "75", "c3": "70", "c4": "60"}
    await results(
        client,
        rec,
        cid,
        "written",
        [{"application_id": ids[k], "score": v} for k, v in written.items() if k != "p7"],
    )
    missing = await close(client, rec, cid, "written", expect=409)
    assert missing["code"] == "results_missing" and missing["missing"] == 2
    await results(
        client,
        rec,
        cid,
        "written",
        [
            {"application_id": ids["p7"], "score": "70"},
            {"application_id": ids["p8"], "absent": True},
        ],
    )
    # a score is corrected by a new entry with a reason, never overwritten
    r = await client.post(
        f"{API}/campaigns/{cid}/results/written",
        json=[{"application_id": ids["p7"], "score": "71"}],
        headers=rec,
    )
    assert r.status_code == 409 and r.json()["code"] == "result_exists"
    out = await results(
        client,
        rec,
        cid,
        "written",
        [{"application_id": ids["p7"], "score": "72", "correction_reason": "marking error"}],
    )
    assert out["corrections"] == 1
    r = await client.get(f"{API}/campaigns/{cid}/ranking?post=patrol", headers=rec)
    assert r.status_code == 409 and r.json()["code"] == "ranking_not_available"
    cut = await close(client, rec, cid, "written")
    assert cut["summary"]["patrol"] == {
        "k": 4,
        "ratio": "2",
        "boundary": "80.00",
        "advancing": 6,
        "ties_at_boundary": 2,
        "out": 2,
    }
    assert cut["summary"]["clerk"]["advancing"] == 3

    # --- interview: composite, rank and the tie-break (interview before written) ---------
    interview = [
        {"application_id": ids["p1"], "score": "80"},
        {"application_id": ids["p2"], "score": "84"},
        {"application_id": ids["p3"], "score": "85"},
        {"application_id": ids["p4"], "score": "70"},
        {"application_id": ids["p5"], "examiner_scores": ["70", "90", "80", "100", "60"]},
        {"application_id": ids["p6"], "absent": True},
        {"application_id": ids["c1"], "score": "80"},
        {"application_id": ids["c2"], "score": "90"},
        {"application_id": ids["c3"], "score": "70"},
    ]
    r = await client.post(
        f"{API}/campaigns/{cid}/results/interview",
        json=[{"application_id": ids["p7"], "score": "50"}],
        headers=rec,
    )
    assert r.status_code == 409 and r.json()["code"] == "not_in_stage"
    await results(client, rec, cid, "interview", interview)
    ranked = await close(client, rec, cid, "interview")
    assert ranked["next_stage"] == "fitness"
    r = await client.get(f"{API}/campaigns/{cid}/ranking", params={"post": "patrol"}, headers=rec)
    assert r.status_code == 200
    rows = {e["application_id"]: e for e in r.json()["items"]}
    order = [e["application_id"] for e in r.json()["items"]]
    assert order[:5] == [ids["p2"], ids["p3"], ids["p1"], ids["p5"], ids["p4"]]
    assert rows[ids["p2"]]["composite"] == "86.00" and rows[ids["p2"]]["bonus"] == "2.00"
    assert rows[ids["p3"]]["composite"] == rows[ids["p1"]]["composite"] == "85.00"
    assert rows[ids["p5"]]["interview"] == "80.00"  # 70, 80, 90 after dropping 60 and 100
    assert [rows[ids[k]]["status"] for k in ("p2", "p3", "p1", "p5", "p4")] == [
        "place",
        "place",
        "reserve",
        "reserve",
        "reserve",
    ]
    assert (rows[ids["p6"]]["status"], rows[ids["p6"]]["reason"]) == ("out", "absent_interview")
    assert rows[ids["p7"]]["reason"] == "below_entry_cut"
    assert rows[ids["p8"]]["reason"] == "absent_written"
    assert rows[ids["p9"]]["reason"] == "ineligible"

    # --- fitness: p2 fails and p1 (rank 3) takes the place while the stage is open -------
    failed = await results(
        client,
        rec,
        cid,
        "fitness",
        [
            {
                "application_id": ids["p2"],
                # p2 is a woman: the women's items, and the shuttle run alone fails
                "measurements": {
                    "shuttle_10m_x4": "14.6",
                    "run_800m": "4'05",
                    "vertical_jump_touch": "240",
                },
            },
            {"application_id": ids["p3"], "passed": True},
            {"application_id": ids["c1"], "passed": True},
        ],
    )
    assert failed["losses"] == [
        {
            "application_id": ids["p2"],
            "cause": "fitness",
            "promoted": ids["p1"],
            "decision": "backfilled",
            "owed_gates": [],
        }
    ]
    lost = (await client.get(f"{API}/applications/{ids['p2']}/history", headers=rec)).json()
    scored = [e for e in lost["items"] if e["kind"] == "score" and e["stage"] == "fitness"]
    assert [e["data"]["failed_items"] for e in scored] == [["shuttle_10m_x4"]]
    assert scored[0]["reason"] == "failed shuttle_10m_x4"
    p1 = (await client.get(f"{API}/applications/{ids['p1']}", headers=rec)).json()
    assert p1["status"] == "place" and p1["called"]
    assert (await close(client, rec, cid, "fitness", expect=409))["code"] == "results_missing"
    await results(client, rec, cid, "fitness", [{"application_id": ids["p1"], "passed": True}])
    await close(client, rec, cid, "fitness")

    # --- medical, with one re-examination -----------------------------------------------
    await results(
        client,
        rec,
        cid,
        "medical",
        [
            {"application_id": ids["p3"], "passed": False, "reason": "blood pressure"},
            {"application_id": ids["p1"], "passed": True},
            {"application_id": ids["c1"], "passed": True},
        ],
    )
    r = await client.post(f"{API}/applications/{ids['p3']}/medical-recheck", headers=rec)
    assert r.status_code == 200 and r.json()["scores"]["medical"] == "recheck_pending"
    r = await client.post(f"{API}/applications/{ids['p3']}/medical-recheck", headers=rec)
    assert r.status_code == 409 and r.json()["code"] == "recheck_requested"
    assert (await close(client, rec, cid, "medical", expect=409))["code"] == "results_missing"
    await results(client, rec, cid, "medical", [{"application_id": ids["p3"], "passed": True}])
    await close(client, rec, cid, "medical")

    # --- political review: county only; a failure is not backfilled by this policy -------
    items = [
        {"application_id": ids["p3"], "passed": True},
        {"application_id": ids["p1"], "passed": True},
        {"application_id": ids["c1"], "passed": False, "reason": "undeclared detention"},
    ]
    r = await client.post(f"{API}/campaigns/{cid}/results/political", json=items, headers=rec)
    assert r.status_code == 403 and r.json()["code"] == "role_not_allowed"
    political = await results(client, county, cid, "political", items)
    assert political["losses"] == [
        {
            "application_id": ids["c1"],
            "cause": "political",
            "promoted": None,
            "decision": "cause_not_backfilled",
            "owed_gates": [],
        }
    ]
    assert (await close(client, rec, cid, "political", expect=403))["code"] == "role_not_allowed"
    await close(client, county, cid, "political")

    # --- publicity and an upheld objection ------------------------------------------------
    starts = clock.today() - timedelta(days=20)
    r = await client.post(
        f"{API}/campaigns/{cid}/publicity", json={"starts": starts.isoformat()}, headers=county
    )
    assert r.status_code == 201, r.text
    notice = r.json()
    assert sorted(notice["application_ids"]) == sorted([ids["p3"], ids["p1"]])
    assert notice["working_days"] == 5 and notice["ends"] > notice["starts"]
    r = await client.post(
        f"{API}/applications/{ids['p1']}/objections",
        json={"text": "a fight in 2024 was not declared", "objector": "anonymous letter"},
        headers=county,
    )
    assert r.status_code == 201
    oid = r.json()["id"]
    r = await client.post(f"{API}/campaigns/{cid}/hire", headers=county)
    assert r.status_code == 201  # p3 is hireable; p1 waits on the objection
    first_hire = r.json()["hired"]
    assert [h["application_id"] for h in first_hire] == [ids["p3"]]
    assert first_hire[0]["unit"] == "十字路派出所"
    r = await client.post(
        f"{API}/applications/{ids['p1']}/objections/{oid}/decide",
        json={"upheld": True, "reason": "confirmed by the police station"},
        headers=county,
    )
    assert r.status_code == 200
    decision = r.json()
    assert decision["objection"]["status"] == "upheld"
    assert decision["loss"]["promoted"] == ids["p5"]
    assert decision["loss"]["owed_gates"] == ["fitness", "medical", "political"]

    # the backfilled candidate owes the gates the place had passed, after they closed
    r = await client.post(
        f"{API}/campaigns/{cid}/results/fitness",
        json=[{"application_id": ids["p3"], "passed": True, "correction_reason": "x"}],
        headers=rec,
    )
    assert r.status_code == 409 and r.json()["code"] in ("stage_not_open", "not_in_stage")
    await results(client, rec, cid, "fitness", [{"application_id": ids["p5"], "passed": True}])
    await results(client, rec, cid, "medical", [{"application_id": ids["p5"], "passed": True}])
    await results(client, county, cid, "political", [{"application_id": ids["p5"], "passed": True}])
    p5 = (await client.get(f"{API}/applications/{ids['p5']}", headers=rec)).json()
    assert p5["owed_gates"] == [] and p5["status"] == "place"
    r = await client.post(
        f"{API}/campaigns/{cid}/publicity", json={"starts": starts.isoformat()}, headers=county
    )
    assert r.status_code == 201 and r.json()["application_ids"] == [ids["p5"]]
    await close(client, county, cid, "publicity")

    # --- hire: one outbox entry per hire, delivered once -----------------------------------
    r = await client.post(f"{API}/campaigns/{cid}/hire", json={"probation_months": 2}, headers=rec)
    assert r.status_code == 403
    r = await client.post(
        f"{API}/campaigns/{cid}/hire", json={"probation_months": 2}, headers=county
    )
    assert r.status_code == 201, r.text
    assert [h["application_id"] for h in r.json()["hired"]] == [ids["p5"]]
    r = await client.post(f"{API}/campaigns/{cid}/hire", headers=county)
    assert r.status_code == 409 and r.json()["code"] == "nobody_to_hire"
    assert roster.people == {}  # nothing reaches the roster before the relay runs
    await app.state.relay.drain()
    assert len(roster.people) == 2
    hired = roster.people[f"recruitment:campaign:{cid}:application:{ids['p5']}"]
    assert hired["reservation_reference"] == f"recruitment-plan-{plan['id']}"
    assert hired["post_category"] == "duty" and hired["region"] == COUNTY
    assert hired["probation_months"] == 2 and hired["step"] == 1 and "level" not in hired
    calls = [c for c in roster.calls if c[1] == "/api/v1/roster/personnel"]
    assert all(c[2]["authorization"] == "Bearer svc-token" for c in calls)
    assert all(c[2]["idempotency-key"] for c in calls)
    p5 = (await client.get(f"{API}/applications/{ids['p5']}", headers=county)).json()
    assert p5["status"] == "hired" and p5["hire"]["state"] == "delivered"
    assert p5["hire"]["roster_person_id"] == str(hired["id"])

    # delivering an event again (a restart mid-delivery) duplicates nothing
    outbox = KERNEL_TABLES.outbox
    async with app.state.db.session() as s:
        events = (
            await s.execute(
                select(outbox.c.event_id, outbox.c.payload, outbox.c.status).where(
                    outbox.c.topic == "roster.hire"
                )
            )
        ).all()
        hired_events = (
            await s.execute(select(outbox.c.payload).where(outbox.c.topic == "campaign.hired"))
        ).all()
    assert [e.status for e in events] == ["delivered", "delivered"]
    assert len(hired_events) == 2
    await app.state.roster_delivery.hire(events[0].event_id, events[0].payload)
    assert len(roster.people) == 2

    # --- the record ---------------------------------------------------------------------
    r = await client.get(f"{API}/campaigns/{cid}/ranking", params={"post": "patrol"}, headers=rec)
    rows = {e["application_id"]: e for e in r.json()["items"]}
    assert (rows[ids["p2"]]["status"], rows[ids["p2"]]["reason"]) == ("out", "failed_fitness")
    assert (rows[ids["p1"]]["status"], rows[ids["p1"]]["reason"]) == ("out", "objection_upheld")
    assert rows[ids["p3"]]["status"] == rows[ids["p5"]]["status"] == "hired"
    assert rows[ids["p4"]]["status"] == "reserve"
    r = await client.get(f"{API}/campaigns/{cid}/ranking", params={"post": "clerk"}, headers=rec)
    clerk = {e["application_id"]: e for e in r.json()["items"]}
    assert (clerk[ids["c1"]]["status"], clerk[ids["c1"]]["reason"]) == ("out", "failed_political")
    assert clerk[ids["c2"]]["status"] == "reserve"  # not called: the policy keeps the place empty

    history = (await client.get(f"{API}/applications/{ids['p5']}/history", headers=rec)).json()
    kinds = [h["kind"] for h in history["items"]]
    assert kinds[0] == "status" and "backfill" in kinds and "publicity" in kinds
    backfill = next(h for h in history["items"] if h["kind"] == "backfill")
    assert backfill["actor"] == "county-371327"
    assert (
        "replaces" in backfill["reason"]
        and "owes fitness, medical, political" in backfill["reason"]
    )
    assert backfill["data"]["round"] == 2
    scores = [
        (h["stage"], h["kind"]) for h in history["items"] if h["kind"] in ("score", "correction")
    ]
    assert scores[:2] == [("written", "score"), ("interview", "score")]
    p7 = (await client.get(f"{API}/applications/{ids['p7']}/history", headers=rec)).json()
    entries = [
        h for h in p7["items"] if h["stage"] == "written" and h["kind"] in ("score", "correction")
    ]
    assert [(h["kind"], h["score"], h["reason"]) for h in entries] == [
        ("score", "70.00", None),
        ("correction", "72.00", "marking error"),
    ]
    assert entries[1]["data"] == {"previous": "70.00"}

    filing = (await client.get(f"{API}/campaigns/{cid}/filing", headers=who.auditor())).json()
    assert filing["hired"] == 2 and filing["complete"]
    assert {h["application_id"]: h["backfilled"] for h in filing["hires"]} == {
        ids["p3"]: False,
        ids["p5"]: True,
    }
    patrol = next(p for p in filing["posts"] if p["post"] == "patrol")
    assert (patrol["applicants"], patrol["eligible"], patrol["hired"]) == (9, 8, 2)
    assert patrol["backfill_rounds"] == 2
    r = await client.get(
        f"{API}/campaigns/{cid}/filing",
        headers={
            **who.auditor(),
            "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
    )
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[2]
    assert len(list(sheet.iter_rows(values_only=True))) == 3
    posts = list(book.worksheets[1].iter_rows(values_only=True))
    assert posts[0][:3] == ("post", "post_category", "places") and posts[-1][0] == "total"
    r = await client.get(
        f"{API}/campaigns/{cid}/filing",
        params={"format": "csv", "lang": "zh"},
        headers=who.auditor(),
    )
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["报名号", "姓名", "身份证号"] and len(lines) == 3
    assert len(lines[1][2]) == 18 and lines[1][6] in ("是", "否")  # auditors read ID numbers

    r = await client.get(f"{API}/plans/{plan['id']}", headers=county)
    positions = {p["post"]: p["filled"] for p in r.json()["positions"]}
    assert positions == {"patrol": 2, "clerk": 0}
    r = await client.post(f"{API}/plans/{plan['id']}/close", headers=county)
    assert r.status_code == 200
    r = await client.get(f"{API}/campaigns/{cid}", headers=rec)
    assert r.json()["status"] == "closed"
