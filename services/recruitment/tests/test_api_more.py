"""Scored fitness in the composite, a medical failure made final at the stage close and
backfilled, a hire the roster refuses (recorded, then sent again), and a plan that cannot
close while hires are on their way."""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta

from services.recruitment import clock
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


async def _ranked(client, who: Who, rules: dict, n: int = 3) -> tuple[int, list[int]]:
    plan = await approved_plan(client, who, positions=ONE_POST)
    c = await campaign(client, who, plan, rules)
    cid = c["id"]
    rec = who.recruiter()
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
    return cid, ids


async def test_scored_fitness_counts_in_the_composite(client, issuer) -> None:
    who = Who(issuer)
    rec = who.recruiter()
    rules = copy.deepcopy(RULES)
    rules["weights"] = {"written": "0.4", "interview": "0.4", "fitness": "0.2"}
    rules["posts"]["patrol"]["entry_ratio"] = "3"
    cid, ids = await _ranked(client, who, rules)
    await results(
        client,
        rec,
        cid,
        "interview",
        [
            {"application_id": ids[0], "score": "80"},
            {"application_id": ids[1], "score": "80"},
            {"application_id": ids[2], "absent": True},
        ],
    )
    out = await close(client, rec, cid, "interview")
    assert out["next_stage"] == "fitness" and out["summary"] == {"absent": 1, "to_fitness": 2}
    r = await client.get(f"{API}/campaigns/{cid}/ranking", headers=rec)
    assert r.status_code == 409  # the ranking comes with the fitness scores
    r = await client.post(
        f"{API}/campaigns/{cid}/results/fitness",
        json=[{"application_id": ids[0], "passed": True}],
        headers=rec,
    )
    assert r.status_code == 422 and r.json()["code"] == "result_kind_mismatch"
    await results(
        client,
        rec,
        cid,
        "fitness",
        [{"application_id": ids[0], "score": "60"}, {"application_id": ids[1], "score": "100"}],
    )
    await close(client, rec, cid, "fitness")
    ranking = (await client.get(f"{API}/campaigns/{cid}/ranking", headers=rec)).json()["items"]
    # 0.4 × 90 + 0.4 × 80 + 0.2 × 60 = 80.00; 0.4 × 89 + 0.4 × 80 + 0.2 × 100 = 87.60
    assert [(e["application_id"], e["composite"], e["status"]) for e in ranking[:2]] == [
        (ids[1], "87.60", "place"),
        (ids[0], "80.00", "reserve"),
    ]
    assert ranking[0]["fitness"] == "100.00"
    c = (await client.get(f"{API}/campaigns/{cid}", headers=rec)).json()
    assert c["current_stage"] == "medical"


async def test_medical_failure_becomes_final_at_the_close(client, issuer) -> None:
    who = Who(issuer)
    rec = who.recruiter()
    cid, ids = await _ranked(client, who, RULES, n=2)
    await results(
        client, rec, cid, "interview", [{"application_id": a, "score": "80"} for a in ids]
    )
    await close(client, rec, cid, "interview")
    await results(client, rec, cid, "fitness", [{"application_id": ids[0], "passed": True}])
    await close(client, rec, cid, "fitness")
    await results(
        client,
        rec,
        cid,
        "medical",
        [{"application_id": ids[0], "passed": False, "reason": "vision"}],
    )
    r = await client.post(
        f"{API}/campaigns/{cid}/results/medical",
        json=[{"application_id": ids[0], "passed": True}],
        headers=rec,
    )
    assert r.status_code == 409 and r.json()["code"] == "result_exists"
    done = await close(client, rec, cid, "medical")
    assert done["summary"]["losses"] == [
        {
            "application_id": ids[0],
            "cause": "medical",
            "promoted": ids[1],
            "decision": "backfilled",
            "owed_gates": ["fitness", "medical"],
        }
    ]
    r = await client.post(f"{API}/applications/{ids[0]}/medical-recheck", headers=rec)
    assert r.status_code == 409 and r.json()["code"] == "not_in_stage"
    # the promoted candidate takes the closed gates on their own, with one re-examination
    await results(client, rec, cid, "fitness", [{"application_id": ids[1], "passed": True}])
    await results(
        client, rec, cid, "medical", [{"application_id": ids[1], "passed": False, "reason": "bp"}]
    )
    promoted = (await client.get(f"{API}/applications/{ids[1]}", headers=rec)).json()
    assert promoted["owed_gates"] == ["medical"] and promoted["scores"]["medical"] == "failed"
    r = await client.post(
        f"{API}/applications/{ids[1]}/medical-recheck", json={"reason": "asked"}, headers=rec
    )
    assert r.status_code == 200 and r.json()["scores"]["medical"] == "recheck_pending"
    await results(client, rec, cid, "medical", [{"application_id": ids[1], "passed": True}])
    promoted = (await client.get(f"{API}/applications/{ids[1]}", headers=rec)).json()
    assert promoted["owed_gates"] == [] and promoted["scores"]["medical"] == "passed"
    history = (await client.get(f"{API}/applications/{ids[1]}/history", headers=rec)).json()
    medical = [
        (h["kind"], h["passed"])
        for h in history["items"]
        if h["stage"] == "medical" and h["kind"] in ("score", "recheck")
    ]
    assert medical == [("score", False), ("recheck", True)]


async def _to_hire(client, who: Who) -> tuple[int, list[int], dict]:
    rec, county = who.recruiter(), who.county()
    plan = await approved_plan(client, who, positions=ONE_POST)
    c = await campaign(client, who, plan)
    cid = c["id"]
    ids = [(await register(client, who, cid, applicant(i)))["id"] for i in range(1, 3)]
    await close(client, rec, cid, "registration")
    await results(client, rec, cid, "written", [{"application_id": a, "score": "80"} for a in ids])
    await close(client, rec, cid, "written")
    await results(
        client, rec, cid, "interview", [{"application_id": a, "score": "80"} for a in ids]
    )
    await close(client, rec, cid, "interview")
    for gate in ("fitness", "medical"):
        await results(client, rec, cid, gate, [{"application_id": ids[0], "passed": True}])
        await close(client, rec, cid, gate)
    await results(client, county, cid, "political", [{"application_id": ids[0], "passed": True}])
    await close(client, county, cid, "political")
    starts = (clock.today() - timedelta(days=15)).isoformat()
    r = await client.post(
        f"{API}/campaigns/{cid}/publicity", json={"starts": starts}, headers=county
    )
    assert r.status_code == 201
    return cid, ids, plan


async def test_a_refused_hire_is_recorded_and_sent_again(client, issuer, roster, app) -> None:
    who = Who(issuer)
    county = who.county()
    cid, ids, plan = await _to_hire(client, who)
    number = applicant(1)["id_number"]
    roster.refuse_hire[number] = (
        409,
        {"code": "duplicate_person", "detail": "already on the staff"},
    )
    r = await client.post(f"{API}/campaigns/{cid}/hire", headers=county)
    assert r.status_code == 201
    # closing the plan waits for the hire to reach the roster
    r = await client.post(f"{API}/plans/{plan['id']}/close", headers=county)
    assert r.status_code == 409 and r.json()["code"] == "hires_pending"
    await app.state.relay.drain()
    hire = (await client.get(f"{API}/applications/{ids[0]}", headers=county)).json()["hire"]
    assert hire["state"] == "failed" and "duplicate_person" in hire["error"]
    tries = [c for c in roster.calls if c[1] == "/api/v1/roster/personnel"]
    assert len(tries) == 2  # asked once more to tell a concurrent duplicate from a real one
    # the cause is fixed in the roster; the county administrator sends the hire again
    del roster.refuse_hire[number]
    r = await client.post(f"{API}/applications/{ids[0]}/redeliver", headers=who.recruiter())
    assert r.status_code == 403
    r = await client.post(f"{API}/applications/{ids[0]}/redeliver", headers=county)
    assert r.status_code == 202 and r.json()["hire"]["state"] == "pending"
    await app.state.relay.drain()
    hire = (await client.get(f"{API}/applications/{ids[0]}", headers=county)).json()["hire"]
    assert hire["state"] == "delivered" and hire["error"] is None
    assert len(roster.people) == 1
    r = await client.post(f"{API}/applications/{ids[0]}/redeliver", headers=county)
    assert r.status_code == 409
    kinds = [
        h["kind"]
        for h in (await client.get(f"{API}/applications/{ids[0]}/history", headers=county)).json()[
            "items"
        ]
    ]
    assert kinds[-3:] == ["hire_failed", "hire_redelivery", "hire_delivered"]
    r = await client.post(f"{API}/plans/{plan['id']}/close", headers=county)
    assert r.status_code == 200


async def test_a_roster_outage_delays_the_hire(client, issuer, roster, app) -> None:
    who = Who(issuer)
    county = who.county()
    cid, ids, _ = await _to_hire(client, who)
    roster.down = True
    r = await client.post(f"{API}/campaigns/{cid}/hire", headers=county)
    assert r.status_code == 201
    await app.state.relay.run_once()
    hire = (await client.get(f"{API}/applications/{ids[0]}", headers=county)).json()["hire"]
    assert hire["state"] == "pending"
    roster.down = False
    for _ in range(50):
        await asyncio.sleep(0.02)
        await app.state.relay.run_once()
        hire = (await client.get(f"{API}/applications/{ids[0]}", headers=county)).json()["hire"]
        if hire["state"] == "delivered":
            break
    assert hire["state"] == "delivered" and len(roster.people) == 1


async def test_a_dismissed_objection_keeps_the_candidate(client, issuer) -> None:
    who = Who(issuer)
    county = who.county()
    cid, ids, _ = await _to_hire(client, who)
    r = await client.post(
        f"{API}/applications/{ids[0]}/objections", json={"reason": "rumour"}, headers=county
    )
    assert r.status_code == 201 and r.json()["text"] == "rumour"
    oid = r.json()["id"]
    r = await client.post(f"{API}/campaigns/{cid}/stages/publicity/close", headers=county)
    assert r.status_code == 409 and r.json()["code"] == "objections_pending"
    r = await client.post(
        f"{API}/applications/{ids[0]}/objections/{oid}/decide", json={}, headers=county
    )
    assert r.status_code == 422
    r = await client.post(
        f"{API}/applications/{ids[0]}/objections/{oid}/decide",
        json={"decision": "dismissed"},
        headers=county,
    )
    assert r.status_code == 200 and r.json()["objection"]["status"] == "dismissed"
    assert r.json()["loss"] is None
    r = await client.post(
        f"{API}/applications/{ids[0]}/objections/{oid}/decide",
        json={"upheld": True, "reason": "again"},
        headers=county,
    )
    assert r.status_code == 409 and r.json()["code"] == "objection_decided"
    r = await client.post(f"{API}/campaigns/{cid}/hire", headers=county)
    assert r.status_code == 201 and [h["application_id"] for h in r.json()["hired"]] == [ids[0]]
