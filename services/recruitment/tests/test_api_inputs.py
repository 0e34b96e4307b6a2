"""Bad inputs, the role matrix, jurisdiction, public registration, eligibility overrides."""

from __future__ import annotations

import copy
from datetime import timedelta

from services.recruitment import clock
from services.recruitment.tests.helpers import (
    API,
    CLEAR,
    RULES,
    Who,
    applicant,
    approved_plan,
    campaign,
    close,
    register,
    results,
)


async def _written_open(client, who: Who) -> tuple[int, list[int]]:
    plan = await approved_plan(client, who)
    c = await campaign(client, who, plan)
    ids = [(await register(client, who, c["id"], applicant(i)))["id"] for i in range(1, 4)]
    await close(client, who.recruiter(), c["id"], "registration")
    return c["id"], ids


async def test_bad_results_get_clear_codes(client, issuer) -> None:
    who = Who(issuer)
    cid, ids = await _written_open(client, who)
    url = f"{API}/campaigns/{cid}/results/written"
    rec = who.recruiter()
    cases = [
        ([{"application_id": ids[0], "score": "101"}], 422, "score_out_of_range"),
        ([{"application_id": ids[0], "score": -1}], 422, "score_out_of_range"),
        ([{"application_id": ids[0], "score": "80.555"}], 422, "score_precision"),
        ([{"application_id": 999999, "score": "80"}], 422, "unknown_application"),
        ([{"application_id": ids[0], "passed": True}], 422, "result_kind_mismatch"),
        ([{"application_id": ids[0]}], 422, "result_kind_mismatch"),
        (
            [{"application_id": ids[0], "score": "1"}, {"application_id": ids[0], "score": "2"}],
            422,
            "duplicate_result",
        ),
        ([{"application_id": ids[0], "score": "80", "grade": "A"}], 422, "unknown_field"),
        ({"application_id": ids[0], "score": "80"}, 422, "validation_error"),
        ([], 422, "empty_results"),
        (
            [{"application_id": ids[0], "score": "80", "correction_reason": "typo"}],
            422,
            "nothing_to_correct",
        ),
    ]
    for body, status, code in cases:
        r = await client.post(url, json=body, headers=rec)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    r = await client.post(
        f"{API}/campaigns/{cid}/results/interview",
        json=[{"application_id": ids[0], "score": "1"}],
        headers=rec,
    )
    assert r.status_code == 409 and r.json()["code"] == "stage_not_open"
    r = await client.post(f"{API}/campaigns/{cid}/results/hire", json=[], headers=rec)
    assert r.status_code == 422
    r = await client.post(
        url, content=b"not json", headers={**rec, "content-type": "application/json"}
    )
    assert r.status_code == 422
    r = await client.post(url, content=b"x", headers={**rec, "content-type": "application/pdf"})
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
    # a stage that has closed refuses results
    await results(client, rec, cid, "written", [{"application_id": i, "score": "70"} for i in ids])
    await close(client, rec, cid, "written")
    r = await client.post(
        url,
        json=[{"application_id": ids[0], "score": "71", "correction_reason": "late"}],
        headers=rec,
    )
    assert r.status_code == 409 and r.json()["code"] == "stage_not_open"
    assert (await close(client, rec, cid, "written", expect=409))["code"] == "stage_not_open"
    # unknown application in another campaign's path
    r = await client.get(f"{API}/applications/999999", headers=rec)
    assert r.status_code == 404 and r.json()["code"] == "application_not_found"


async def test_bad_applications(client, issuer) -> None:
    who = Who(issuer)
    plan = await approved_plan(client, who)
    c = await campaign(client, who, plan)
    url = f"{API}/campaigns/{c['id']}/applications"
    rec = who.recruiter()
    bad_id = applicant(1)
    bad_id["id_number"] = bad_id["id_number"][:-1] + (
        "0" if bad_id["id_number"][-1] != "0" else "1"
    )
    cases = [
        (bad_id, 422, "invalid_id_number"),
        (applicant(2, post="sniper"), 422, "unknown_post"),
        (applicant(3, education="kindergarten"), 422, "validation_error"),
        ({**applicant(4), "status": "hired"}, 422, "unknown_field"),
        (
            applicant(5, declarations={"criminal_record": False, "lied": False}),
            422,
            "validation_error",
        ),
        (applicant(6, vision="9.0"), 422, "validation_error"),
        (applicant(7, hukou_region="12345"), 422, "validation_error"),
    ]
    for body, status, code in cases:
        r = await client.post(url, json=body, headers=rec)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    ok = await register(client, who, c["id"], applicant(8))
    assert ok["eligibility"] == "eligible" and ok["status"] == "applied"
    r = await client.post(url, json=applicant(8), headers=rec)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_application"
    old = applicant(9, id_number=applicant(9)["id_number"][:6] + "19800101" + "0019")
    from services.common.resident_id import make_id_number

    old["id_number"] = make_id_number("371327", clock.today().replace(year=1980), 19)
    aged = await register(client, who, c["id"], old)
    assert aged["eligibility"] == "ineligible"
    assert [r["code"] for r in aged["eligibility_reasons"]] == ["age_above_max"]
    undeclared = await register(
        client, who, c["id"], applicant(11, declarations={**CLEAR, "serious_bad_credit": True})
    )
    assert "negative_list:serious_bad_credit" in [
        r["code"] for r in undeclared["eligibility_reasons"]
    ]

    # a reviewer overrides with a recorded reason
    r = await client.post(
        f"{API}/applications/{aged['id']}/eligibility-override",
        json={"eligible": True, "reason": "veteran papers arrived late"},
        headers=rec,
    )
    assert r.status_code == 200
    assert (r.json()["eligibility"], r.json()["status"]) == ("eligible", "applied")
    assert r.json()["eligibility_override"] == "veteran papers arrived late"
    r = await client.post(
        f"{API}/applications/{aged['id']}/eligibility-override",
        json={"eligible": True, "reason": "again"},
        headers=rec,
    )
    assert r.status_code == 409
    history = (await client.get(f"{API}/applications/{aged['id']}/history", headers=rec)).json()
    override = [h for h in history["items"] if h["kind"] == "override"]
    assert override[0]["reason"] == "veteran papers arrived late"
    assert override[0]["actor"] == "recruiter-371327"


async def test_bad_campaigns(client, issuer) -> None:
    who = Who(issuer)
    plan = await approved_plan(client, who)
    today = clock.today()
    base = {
        "plan_id": plan["id"],
        "registration_opens": today.isoformat(),
        "registration_closes": (today + timedelta(days=5)).isoformat(),
        "rules": RULES,
    }
    rules_float = copy.deepcopy(RULES)
    rules_float["weights"] = {"written": 0.5, "interview": 0.5}
    rules_sum = copy.deepcopy(RULES)
    rules_sum["weights"] = {"written": "0.6", "interview": "0.5"}
    rules_posts = copy.deepcopy(RULES)
    rules_posts["posts"]["guard"] = rules_posts["posts"]["patrol"]
    rules_unknown = copy.deepcopy(RULES)
    rules_unknown["lottery"] = True
    cases = [
        ({**base, "rules": rules_float}, 422, "validation_error"),
        ({**base, "rules": rules_sum}, 422, "validation_error"),
        ({**base, "rules": rules_unknown}, 422, "unknown_field"),
        ({**base, "rules": rules_posts}, 422, "rules_posts_mismatch"),
        (
            {**base, "registration_closes": (today - timedelta(days=5)).isoformat()},
            422,
            "invalid_window",
        ),
        ({**base, "plan_id": 999999}, 404, "plan_not_found"),
    ]
    for body, status, code in cases:
        r = await client.post(f"{API}/campaigns", json=body, headers=who.recruiter())
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    r = await client.post(
        f"{API}/plans",
        json={
            "region": "371327",
            "year": 2027,
            "positions": [{"post_category": "duty", "post": "patrol", "headcount": 1}],
        },
        headers=who.county(),
    )
    draft = r.json()
    r = await client.post(
        f"{API}/campaigns", json={**base, "plan_id": draft["id"]}, headers=who.recruiter()
    )
    assert r.status_code == 409 and r.json()["code"] == "plan_not_approved"
    await campaign(client, who, plan)
    r = await client.post(f"{API}/campaigns", json=base, headers=who.recruiter())
    assert r.status_code == 409 and r.json()["code"] == "campaign_exists"


async def test_role_matrix_and_jurisdiction(client, issuer) -> None:
    who = Who(issuer)
    cid, ids = await _written_open(client, who)
    finance = who.finance()
    unit = issuer.headers("unit_manager", region="371327001")
    for headers in (finance, unit):
        for method, path in (
            ("GET", f"{API}/campaigns/{cid}"),
            ("GET", f"{API}/plans"),
            ("GET", f"{API}/applications/{ids[0]}"),
            ("POST", f"{API}/campaigns/{cid}/stages/written/close"),
            ("POST", f"{API}/campaigns/{cid}/hire"),
        ):
            r = await client.request(method, path, headers=headers)
            assert r.status_code == 403 and r.json()["code"] == "role_not_allowed", (method, path)
    assert (await client.get(f"{API}/campaigns/{cid}")).status_code == 401
    # recruiters: no political review, no hire, no publicity, no objections
    rec = who.recruiter()
    assert (await client.post(f"{API}/campaigns/{cid}/hire", headers=rec)).status_code == 403
    r = await client.post(
        f"{API}/campaigns/{cid}/publicity", json={"starts": "2026-01-05"}, headers=rec
    )
    assert r.status_code == 403
    r = await client.post(
        f"{API}/applications/{ids[0]}/objections", json={"text": "x"}, headers=rec
    )
    assert r.status_code == 403
    # the auditor reads across the province and changes nothing
    auditor = who.auditor("37")
    assert (await client.get(f"{API}/campaigns/{cid}", headers=auditor)).status_code == 200
    r = await client.post(f"{API}/campaigns/{cid}/stages/written/close", headers=auditor)
    assert r.status_code == 403
    # another county sees nothing of this one
    other = who.recruiter("371325")
    assert (await client.get(f"{API}/campaigns/{cid}", headers=other)).status_code == 404
    assert (await client.get(f"{API}/applications/{ids[0]}", headers=other)).status_code == 404
    r = await client.post(
        f"{API}/campaigns/{cid}/results/written",
        json=[{"application_id": ids[0], "score": "50"}],
        headers=other,
    )
    assert r.status_code == 404
    listed = (await client.get(f"{API}/campaigns", headers=other)).json()["items"]
    assert cid not in [c["id"] for c in listed]
    listed = (await client.get(f"{API}/campaigns", headers=who.recruiter())).json()["items"]
    assert cid in [c["id"] for c in listed]
    page = (
        await client.get(f"{API}/campaigns/{cid}/applications", params={"limit": 2}, headers=rec)
    ).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert "*" in page["items"][0]["id_number"]


async def test_public_announcements_and_online_registration(client, issuer) -> None:
    who = Who(issuer)
    plan = await approved_plan(client, who)
    c = await campaign(client, who, plan)
    listed = (await client.get(f"{API}/public/announcements")).json()["items"]
    assert c["id"] in [a["id"] for a in listed]
    one = (await client.get(f"{API}/public/announcements/{c['id']}")).json()
    patrol = next(p for p in one["posts"] if p["post"] == "patrol")
    assert patrol["places"] == 2 and patrol["conditions"]["min_height_cm"] == "170"
    body = applicant(40)
    r = await client.post(f"{API}/public/announcements/{c['id']}/applications", json=body)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["id_number"] != body["id_number"] and "*" in answer["id_number"]
    assert body["id_number"] not in r.text
    assert answer["eligibility"] == "eligible"
    r = await client.post(f"{API}/public/announcements/{c['id']}/applications", json=body)
    assert r.status_code == 409 and body["id_number"] not in r.text
    r = await client.post(
        f"{API}/public/announcements/{c['id']}/applications", json={**applicant(41), "phone": None}
    )
    assert r.status_code == 422 and r.json()["code"] == "phone_required"
    r = await client.post(
        f"{API}/public/announcements/{c['id']}/applications", json={**applicant(42), "source": "x"}
    )
    assert r.status_code == 422
    app = (
        await client.get(f"{API}/applications/{answer['application_id']}", headers=who.county())
    ).json()
    assert app["source"] == "online"
    # once registration closes the announcement is gone
    await close(client, who.recruiter(), c["id"], "registration")
    assert (await client.get(f"{API}/public/announcements/{c['id']}")).status_code == 404
    r = await client.post(f"{API}/public/announcements/{c['id']}/applications", json=applicant(43))
    assert r.status_code == 404 and r.json()["code"] == "announcement_not_found"
    listed = (await client.get(f"{API}/public/announcements")).json()["items"]
    assert c["id"] not in [a["id"] for a in listed]


async def test_registration_closes_by_itself_at_its_deadline(client, issuer) -> None:
    who = Who(issuer)
    plan = await approved_plan(client, who)
    today = clock.today()
    c = await campaign(
        client, who, plan, opens=today - timedelta(days=10), closes=today - timedelta(days=1)
    )
    assert c["current_stage"] == "written" and not c["registration_open"]
    states = {s["stage"]: s["state"] for s in c["stages"]}
    assert states["registration"] == "closed" and states["written"] == "open"
    r = await client.post(
        f"{API}/campaigns/{c['id']}/applications", json=applicant(1), headers=who.recruiter()
    )
    assert r.status_code == 409 and r.json()["code"] == "registration_not_open"
    # the first write materialises the close: the written stage is open for results
    r = await client.post(
        f"{API}/campaigns/{c['id']}/stages/written/close", headers=who.recruiter()
    )
    assert r.status_code == 200
    assert r.json()["next_stage"] == "interview"


async def test_withdrawal_before_and_after_the_ranking(client, issuer) -> None:
    who = Who(issuer)
    plan = await approved_plan(
        client, who, positions=[{"post_category": "duty", "post": "patrol", "headcount": 1}]
    )
    c = await campaign(client, who, plan)
    cid = c["id"]
    rec = who.recruiter()
    ids = [(await register(client, who, cid, applicant(i)))["id"] for i in range(1, 5)]
    r = await client.post(f"{API}/applications/{ids[3]}/withdraw", headers=rec)
    assert r.status_code == 200 and r.json()["loss"] is None
    await close(client, rec, cid, "registration")
    await results(
        client,
        rec,
        cid,
        "written",
        [{"application_id": i, "score": str(90 - n)} for n, i in enumerate(ids[:3])],
    )
    await close(client, rec, cid, "written")
    # k = 1 × 2: the third is out below the entry cut
    await results(
        client, rec, cid, "interview", [{"application_id": i, "score": "80"} for i in ids[:2]]
    )
    await close(client, rec, cid, "interview")
    r = await client.post(
        f"{API}/applications/{ids[0]}/withdraw", json={"reason": "moved away"}, headers=rec
    )
    assert r.status_code == 200
    assert r.json()["loss"] == {
        "application_id": ids[0],
        "cause": "withdrawal",
        "promoted": ids[1],
        "decision": "backfilled",
        "owed_gates": [],
    }
    r = await client.post(
        f"{API}/applications/{ids[0]}/withdraw", json={"reason": "again"}, headers=rec
    )
    assert r.status_code == 409
    ranking = (await client.get(f"{API}/campaigns/{cid}/ranking", headers=rec)).json()
    statuses = [(e["application_id"], e["status"]) for e in ranking["items"]]
    assert statuses[:3] == [(ids[0], "withdrawn"), (ids[1], "place"), (ids[2], "out")]
    assert (ids[3], "withdrawn") in statuses


async def test_political_failure_is_backfilled_when_the_policy_says_so(client, issuer) -> None:
    who = Who(issuer)
    plan = await approved_plan(
        client, who, positions=[{"post_category": "duty", "post": "patrol", "headcount": 1}]
    )
    rules = copy.deepcopy(RULES)
    rules["backfill"] = {"on": ["political"], "max_rounds": 1}
    c = await campaign(client, who, plan, rules)
    cid = c["id"]
    rec, county = who.recruiter(), who.county()
    ids = [(await register(client, who, cid, applicant(i)))["id"] for i in range(1, 5)]
    await close(client, rec, cid, "registration")
    await results(
        client,
        rec,
        cid,
        "written",
        [{"application_id": i, "score": str(90 - n)} for n, i in enumerate(ids)],
    )
    await close(client, rec, cid, "written")
    await results(
        client, rec, cid, "interview", [{"application_id": i, "score": "80"} for i in ids[:2]]
    )
    await close(client, rec, cid, "interview")
    await results(client, rec, cid, "fitness", [{"application_id": ids[0], "passed": True}])
    await close(client, rec, cid, "fitness")
    await results(client, rec, cid, "medical", [{"application_id": ids[0], "passed": True}])
    await close(client, rec, cid, "medical")
    out = await results(
        client,
        county,
        cid,
        "political",
        [{"application_id": ids[0], "passed": False, "reason": "record"}],
    )
    assert out["losses"][0]["promoted"] == ids[1]
    assert out["losses"][0]["owed_gates"] == ["fitness", "medical"]
    # the political stage is still open: the promoted candidate takes it with the others
    r = await client.post(f"{API}/campaigns/{cid}/stages/political/close", headers=county)
    assert r.status_code == 409 and r.json()["code"] == "results_missing"
    await results(
        client, rec, cid, "fitness", [{"application_id": ids[1], "passed": False, "reason": "slow"}]
    )
    ranking = (await client.get(f"{API}/campaigns/{cid}/ranking", headers=rec)).json()
    statuses = {e["application_id"]: (e["status"], e["reason"]) for e in ranking["items"]}
    assert statuses[ids[1]] == ("out", "failed_fitness")  # fitness is not backfilled here
    history = (await client.get(f"{API}/applications/{ids[1]}/history", headers=rec)).json()
    skipped = [h for h in history["items"] if h["kind"] == "backfill_skipped"]
    assert skipped and "cause_not_backfilled" in skipped[0]["reason"]
