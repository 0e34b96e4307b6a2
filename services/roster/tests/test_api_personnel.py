"""Personnel files: creation on a quota seat, validation, masking, jurisdiction,
updates with If-Match, life events and history, outbox events."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from services.common.resident_id import make_id_number
from services.roster.db import KERNEL_TABLES
from services.roster.tests.conftest import API, FEI, JUNAN, SHIZILU, hire, id_number, person

PERSONNEL = f"{API}/personnel"


async def test_create_derives_birth_date_sex_and_status(client, roles) -> None:
    number = make_id_number(JUNAN, date(2000, 2, 29), 24)  # even: female
    r = await client.post(
        PERSONNEL,
        json=person(
            id_number=number,
            hire_date="2024-03-01",
            education="bachelor",
            contract={
                "kind": "labour",
                "start": "2024-03-01",
                "end": "2027-02-28",
                "probation_months": 6,
            },
        ),
        headers=roles.junan,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id_number"] == number
    assert (body["birth_date"], body["sex"]) == ("2000-02-29", "female")
    assert body["level"] == 5  # bachelor enters at 五级
    assert body["probation_months"] == 6 and body["probation_end"] == "2024-08-31"
    assert body["status"] == "active"  # probation ended long ago
    assert r.headers["location"] == f"{PERSONNEL}/{body['id']}"
    full = (await client.get(f"{PERSONNEL}/{body['id']}", headers=roles.junan)).json()
    assert full["contracts"][0]["end"] == "2027-02-28"


async def test_new_hire_is_on_probation(client, roles) -> None:
    today = date.today()
    body = await hire(client, roles.junan, hire_date=today.isoformat(), probation_months=2)
    assert body["status"] == "probation" and body["probation_end"] is not None


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"id_number": "371327199505010035"}, "invalid_id_number"),  # bad check character
        ({"id_number": "37132719950501003"}, "invalid_id_number"),
        ({"id_number": "371327199513010039"}, "invalid_id_number"),  # month 13
        ({"salary": 5000}, "unknown_field"),
        ({"status": "active"}, "unknown_field"),
        ({"birth_date": "1990-01-01"}, "unknown_field"),
        ({"post_category": "investigation"}, "validation_error"),
        ({"education": "phd"}, "validation_error"),
        ({"post": "Patrol Officer"}, "validation_error"),
        ({"level": 8}, "invalid_level"),
        ({"probation_months": 7}, "validation_error"),
        ({"hire_date": "2090-01-01"}, "invalid_date"),
        (
            {
                "probation_months": 3,
                "contract": {"kind": "labour", "start": "2024-03-01", "end": "2025-02-28"},
            },
            "invalid_contract",
        ),
        (
            {
                "contract": {
                    "kind": "labour",
                    "start": "2024-03-01",
                    "end": "2025-02-28",
                    "probation_months": 3,
                }
            },
            "invalid_contract",
        ),
    ],
)
async def test_bad_input_is_422(client, roles, override, code) -> None:
    r = await client.post(PERSONNEL, json=person(**override), headers=roles.junan)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == code
    assert r.headers["content-type"] == "application/problem+json"
    number = override.get("id_number")
    if number:
        assert number not in r.text  # never echoed back


async def test_under_sixteen_is_refused(client, roles) -> None:
    number = make_id_number(JUNAN, date(2010, 1, 1), 11)
    r = await client.post(PERSONNEL, json=person(id_number=number), headers=roles.junan)
    assert r.status_code == 422 and r.json()["code"] == "under_age"


async def test_duplicate_id_number_among_current_staff_is_409(client, roles) -> None:
    first = await hire(client, roles.junan)
    r = await client.post(PERSONNEL, json=person(id_number=first["id_number"]), headers=roles.junan)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_id_number"
    # after leaving, the same person may be hired again
    r = await client.post(
        f"{PERSONNEL}/{first['id']}/departures",
        json={"date": "2024-06-30", "reason": "resigned"},
        headers=roles.junan,
    )
    assert r.status_code == 201
    again = await hire(client, roles.junan, id_number=first["id_number"], hire_date="2025-01-01")
    assert again["id"] != first["id"]


async def test_post_keeps_its_category(client, roles) -> None:
    await hire(client, roles.junan, post="video_surveillance", post_category="civilian")
    r = await client.post(
        PERSONNEL,
        json=person(post="video_surveillance", post_category="duty"),
        headers=roles.junan,
    )
    assert r.status_code == 422 and r.json()["code"] == "post_category_mismatch"


async def test_quota_exhausted_is_409_and_departure_frees_the_seat(client, roles) -> None:
    # Fei: 30 seats; 29 taken by a reservation
    await client.post(
        f"{API}/quota-reservations",
        json={"region": FEI, "seats": 29, "reference": "fill"},
        headers=roles.fei,
    )
    last = await hire(client, roles.fei, region=FEI)
    r = await client.post(PERSONNEL, json=person(region=FEI), headers=roles.fei)
    assert r.status_code == 409
    assert r.json()["code"] == "quota_exceeded" and r.json()["available"] == 0
    r = await client.post(
        f"{PERSONNEL}/{last['id']}/departures",
        json={"date": "2024-12-31", "reason": "contract_ended"},
        headers=roles.fei,
    )
    assert r.status_code == 201
    await hire(client, roles.fei, region=FEI)


async def test_external_reference_makes_creation_idempotent(client, roles) -> None:
    body = person(external_reference="recruitment:campaign:12:application:345")
    first = await client.post(PERSONNEL, json=body, headers=roles.service)
    assert first.status_code == 201
    again = await client.post(PERSONNEL, json=body, headers=roles.service)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    quota = (await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.junan)).json()
    assert quota["headcount"] == 1
    listed = await client.get(
        PERSONNEL,
        params={"external_reference": body["external_reference"]},
        headers=roles.service,
    )
    assert [p["id"] for p in listed.json()["items"]] == [first.json()["id"]]
    r = await client.post(
        PERSONNEL, json={**body, "region": FEI}, headers=roles.fei
    )  # a reference used in another county
    assert r.status_code == 409 and r.json()["code"] == "reference_conflict"


async def test_id_numbers_are_masked_for_roles_that_may_not_see_them(client, roles) -> None:
    created = await hire(client, roles.junan, region=SHIZILU)
    number = created["id_number"]
    masked = number[:4] + "*" * 10 + number[-4:]
    for headers, expected in (
        (roles.junan, number),
        (roles.auditor, number),
        (roles.system, number),
        (roles.service, number),
        (roles.station, masked),
        (roles("finance_officer", region=JUNAN), masked),
        (roles("province_admin", region="37"), masked),
    ):
        one = (await client.get(f"{PERSONNEL}/{created['id']}", headers=headers)).json()
        assert one["id_number"] == expected, headers
        listed = (await client.get(PERSONNEL, headers=headers)).json()["items"]
        assert [p["id_number"] for p in listed] == [expected]


async def test_jurisdiction_in_lists_and_single_files(client, roles) -> None:
    a = await hire(client, roles.junan)
    b = await hire(client, roles.fei, region=FEI)
    assert [
        p["id"] for p in (await client.get(PERSONNEL, headers=roles.junan)).json()["items"]
    ] == [a["id"]]
    assert [p["id"] for p in (await client.get(PERSONNEL, headers=roles.fei)).json()["items"]] == [
        b["id"]
    ]
    listed = await client.get(PERSONNEL, params={"region": FEI}, headers=roles.junan)
    assert listed.json()["items"] == []
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"unit": "x"}),
        ("GET", "/history", None),
        ("POST", "/departures", {"date": "2024-05-01", "reason": "resigned"}),
        ("POST", "/assessments", {"year": 2024, "grade": "competent"}),
        ("POST", "/rewards", {"date": "2024-05-01", "kind": "commendation", "description": "x"}),
    ):
        r = await client.request(
            method, f"{PERSONNEL}/{a['id']}{suffix}", json=body, headers=roles.fei
        )
        assert r.status_code == 404, (method, suffix, r.text)
    r = await client.post(PERSONNEL, json=person(region=JUNAN), headers=roles.fei)
    assert r.status_code == 404 and r.json()["code"] == "region_not_found"
    r = await client.post(PERSONNEL, json=person(region="371399"), headers=roles.system)
    assert r.status_code == 404


async def test_role_matrix(client, roles) -> None:
    a = await hire(client, roles.junan, region=SHIZILU)
    recruiter = roles("recruiter", region=JUNAN)
    finance = roles("finance_officer", region=JUNAN)
    assert (await client.get(PERSONNEL)).status_code == 401
    assert (await client.get(PERSONNEL, headers=recruiter)).status_code == 403
    assert (await client.get(PERSONNEL, headers=finance)).status_code == 200
    for headers in (recruiter, finance, roles.station, roles.auditor, roles.province):
        r = await client.post(PERSONNEL, json=person(), headers=headers)
        assert r.status_code == 403, headers
    for headers in (roles.station, roles.auditor, finance):
        r = await client.patch(f"{PERSONNEL}/{a['id']}", json={"unit": "x"}, headers=headers)
        assert r.status_code == 403
        r = await client.post(
            f"{PERSONNEL}/{a['id']}/departures",
            json={"date": "2024-05-01", "reason": "resigned"},
            headers=headers,
        )
        assert r.status_code == 403
    # unit managers record assessments, rewards, punishments and training
    r = await client.post(
        f"{PERSONNEL}/{a['id']}/assessments",
        json={"year": 2024, "grade": "excellent"},
        headers=roles.station,
    )
    assert r.status_code == 201
    r = await client.post(
        f"{PERSONNEL}/{a['id']}/level-changes",
        json={"level": 6, "date": "2024-12-01", "reason": "x"},
        headers=roles.station,
    )
    assert r.status_code == 403


async def test_patch_with_if_match_and_history(client, roles) -> None:
    a = await hire(client, roles.junan)
    r = await client.get(f"{PERSONNEL}/{a['id']}", headers=roles.junan)
    etag = r.headers["etag"]
    r = await client.patch(
        f"{PERSONNEL}/{a['id']}",
        json={"unit": "刑侦大队", "phone": "13800000000", "reason": "reassigned"},
        headers={**roles.junan, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.json()["unit"] == "刑侦大队" and r.headers["etag"] != etag
    stale = await client.patch(
        f"{PERSONNEL}/{a['id']}", json={"unit": "x"}, headers={**roles.junan, "If-Match": etag}
    )
    assert stale.status_code == 412
    r = await client.patch(
        f"{PERSONNEL}/{a['id']}", json={"post_category": "civilian"}, headers=roles.junan
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_field"
    r = await client.patch(f"{PERSONNEL}/{a['id']}", json={"level": 1}, headers=roles.junan)
    assert r.status_code == 422
    r = await client.patch(
        f"{PERSONNEL}/{a['id']}", json={"id_number": id_number()}, headers=roles.junan
    )
    assert r.status_code == 422
    history = (await client.get(f"{PERSONNEL}/{a['id']}/history", headers=roles.junan)).json()
    kinds = [(e["kind"], e["recorded_by"]) for e in history["items"]]
    assert kinds == [("created", "junan_admin"), ("updated", "junan_admin")]
    update = history["items"][1]
    assert update["reason"] == "reassigned"
    assert update["data"]["changes"]["unit"] == {"from": "十字路派出所", "to": "刑侦大队"}


async def test_transfer_moves_the_seat(client, roles) -> None:
    a = await hire(client, roles.junan)
    r = await client.patch(
        f"{PERSONNEL}/{a['id']}", json={"region": FEI, "reason": "transfer"}, headers=roles.system
    )
    assert r.status_code == 200 and r.json()["region"] == FEI
    junan = (await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.system)).json()
    fei = (await client.get(f"{API}/regions/{FEI}/quota", headers=roles.system)).json()
    assert (junan["headcount"], fei["headcount"]) == (0, 1)
    history = (await client.get(f"{PERSONNEL}/{a['id']}/history", headers=roles.system)).json()
    assert history["items"][-1]["kind"] == "transferred"


async def test_status_changes_suspension_and_reinstatement(client, roles) -> None:
    today = date.today()
    a = await hire(client, roles.junan, hire_date=today.isoformat(), probation_months=1)
    url = f"{PERSONNEL}/{a['id']}/status-changes"
    r = await client.post(
        url,
        json={"status": "suspended", "date": today.isoformat(), "reason": "x"},
        headers=roles.junan,
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_status_transition"
    r = await client.post(
        url,
        json={"status": "active", "date": today.isoformat(), "reason": "passed probation"},
        headers=roles.junan,
    )
    assert r.status_code == 201 and r.json()["from_status"] == "probation"
    r = await client.post(
        url,
        json={"status": "suspended", "date": today.isoformat(), "reason": "under investigation"},
        headers=roles.junan,
    )
    assert r.status_code == 201
    quota = (await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.junan)).json()
    assert quota["headcount"] == 0
    r = await client.post(
        url,
        json={"status": "active", "date": today.isoformat(), "reason": "cleared"},
        headers=roles.junan,
    )
    assert r.status_code == 201
    quota = (await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.junan)).json()
    assert quota["headcount"] == 1
    r = await client.post(
        url, json={"status": "left", "date": today.isoformat(), "reason": "x"}, headers=roles.junan
    )
    assert r.status_code == 422
    file = (await client.get(f"{PERSONNEL}/{a['id']}", headers=roles.junan)).json()
    assert [(c["from_status"], c["to_status"]) for c in file["status_changes"]] == [
        ("probation", "active"),
        ("active", "suspended"),
        ("suspended", "active"),
    ]


async def test_departure_rules_and_event(client, app, roles) -> None:
    a = await hire(client, roles.junan)
    url = f"{PERSONNEL}/{a['id']}/departures"
    r = await client.post(
        url, json={"date": "2024-01-01", "reason": "resigned"}, headers=roles.junan
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_date"  # before hire
    r = await client.post(
        url, json={"date": "2099-01-01", "reason": "resigned"}, headers=roles.junan
    )
    assert r.status_code == 422
    r = await client.post(url, json={"date": "2024-06-01", "reason": "fired"}, headers=roles.junan)
    assert r.status_code == 422
    r = await client.post(
        url, json={"date": "2024-06-01", "reason": "dismissed"}, headers=roles.junan
    )
    assert r.status_code == 201
    again = await client.post(
        url, json={"date": "2024-06-02", "reason": "resigned"}, headers=roles.junan
    )
    assert again.status_code == 409 and again.json()["code"] == "invalid_status_transition"
    file = (await client.get(f"{PERSONNEL}/{a['id']}", headers=roles.junan)).json()
    assert (file["status"], file["left_date"], file["departure_reason"]) == (
        "left",
        "2024-06-01",
        "dismissed",
    )
    outbox = KERNEL_TABLES.outbox
    async with app.state.db.session() as session:
        rows = (
            await session.execute(select(outbox.c.topic, outbox.c.payload, outbox.c.status))
        ).all()
    mine = [(t, p) for t, p, s in rows if p["data"]["personnel_id"] == a["id"]]
    assert [t for t, _ in mine] == ["personnel.created", "personnel.departed"]
    assert all(s == "pending" for _, _, s in rows)
    created, departed = mine[0][1], mine[1][1]
    assert created["type"] == "personnel.created" and created["region"] == JUNAN
    assert created["data"]["url"] == f"/api/v1/roster/personnel/{a['id']}"
    assert set(created) == {"event_id", "type", "occurred_at", "region", "data"}
    assert departed["data"]["reason"] == "dismissed" and departed["data"]["date"] == "2024-06-01"
    assert a["id_number"] not in str(rows)


async def test_assessments_append_only_and_dismissal_grounds(client, roles) -> None:
    a = await hire(client, roles.junan, hire_date="2022-01-01")
    url = f"{PERSONNEL}/{a['id']}/assessments"
    r = await client.post(url, json={"year": 2022, "grade": "incompetent"}, headers=roles.junan)
    assert r.status_code == 201 and r.json()["dismissal_grounds"] is None
    r = await client.post(url, json={"year": 2023, "grade": "incompetent"}, headers=roles.junan)
    assert r.json()["dismissal_grounds"] == [2022, 2023]
    r = await client.post(url, json={"year": 2023, "grade": "excellent"}, headers=roles.junan)
    assert r.status_code == 409 and r.json()["code"] == "assessment_exists"
    r = await client.post(url, json={"year": 2021, "grade": "excellent"}, headers=roles.junan)
    assert r.status_code == 422 and r.json()["code"] == "invalid_year"
    r = await client.post(url, json={"year": 2023, "grade": "good"}, headers=roles.junan)
    assert r.status_code == 422
    file = (await client.get(f"{PERSONNEL}/{a['id']}", headers=roles.junan)).json()
    assert file["last_assessment"] == {"year": 2023, "grade": "incompetent"}


async def test_level_changes_and_the_cap(client, roles) -> None:
    # Fei has 30 seats; the cap allows floor(30% × headcount) in levels 1–3
    people = [await hire(client, roles.fei, region=FEI, level=4) for _ in range(7)]
    url = f"{PERSONNEL}/{people[0]['id']}/level-changes"
    r = await client.post(
        url, json={"level": 3, "date": "2024-12-01", "reason": "selected"}, headers=roles.fei
    )
    assert r.status_code == 201 and r.json()["kind"] == "promotion"  # 1 of floor(2.1) = 2
    r = await client.post(
        f"{PERSONNEL}/{people[1]['id']}/level-changes",
        json={"level": 2, "date": "2024-12-01", "reason": "selected"},
        headers=roles.fei,
    )
    assert r.status_code == 201
    r = await client.post(
        f"{PERSONNEL}/{people[2]['id']}/level-changes",
        json={"level": 3, "date": "2024-12-01", "reason": "selected"},
        headers=roles.fei,
    )
    assert r.status_code == 409 and r.json()["code"] == "level_cap_exceeded"
    r = await client.post(
        f"{PERSONNEL}/{people[2]['id']}/level-changes",
        json={"level": 4, "step": 2, "date": "2024-12-01", "reason": "annual step"},
        headers=roles.fei,
    )
    assert r.status_code == 201 and r.json()["kind"] == "step"
    r = await client.post(
        f"{PERSONNEL}/{people[2]['id']}/level-changes",
        json={"level": 4, "step": 2, "date": "2024-12-01", "reason": "again"},
        headers=roles.fei,
    )
    assert r.status_code == 422 and r.json()["code"] == "no_change"
    r = await client.post(
        f"{PERSONNEL}/{people[3]['id']}/level-changes",
        json={"level": 8, "date": "2024-12-01", "reason": "x"},
        headers=roles.fei,
    )
    assert r.status_code == 422


async def test_contracts_follow_article_19(client, roles) -> None:
    a = await hire(
        client,
        roles.junan,
        contract={
            "kind": "labour",
            "start": "2024-03-01",
            "end": "2025-02-28",
            "probation_months": 2,
        },
    )
    url = f"{PERSONNEL}/{a['id']}/contracts"
    overlapping = {"kind": "labour", "start": "2025-01-01", "end": "2027-12-31"}
    r = await client.post(url, json=overlapping, headers=roles.junan)
    assert r.status_code == 422 and r.json()["code"] == "contract_overlap"
    second_probation = {
        "kind": "labour",
        "start": "2025-03-01",
        "end": "2028-02-29",
        "probation_months": 1,
    }
    r = await client.post(url, json=second_probation, headers=roles.junan)
    assert r.status_code == 422 and r.json()["code"] == "invalid_contract"
    short_dispatch = {"kind": "dispatch", "start": "2025-03-01", "end": "2026-02-28"}
    r = await client.post(url, json=short_dispatch, headers=roles.junan)
    assert r.status_code == 422 and "art. 58" in r.json()["detail"]
    renewal = {"kind": "labour", "start": "2025-03-01", "end": "2028-02-29"}
    r = await client.post(url, json=renewal, headers=roles.junan)
    assert r.status_code == 201


async def test_rewards_punishments_trainings(client, roles) -> None:
    a = await hire(client, roles.junan, region=SHIZILU)
    base = f"{PERSONNEL}/{a['id']}"
    r = await client.post(
        f"{base}/rewards",
        json={
            "date": "2024-08-01",
            "kind": "merit_third_class",
            "description": "flood rescue",
            "amount": "500",
        },
        headers=roles.station,
    )
    assert r.status_code == 201 and r.json()["amount"] == "500.00"
    r = await client.post(
        f"{base}/punishments",
        json={"date": "2024-09-01", "kind": "warning", "description": "late", "authority": "县局"},
        headers=roles.station,
    )
    assert r.status_code == 201
    r = await client.post(
        f"{base}/trainings",
        json={
            "course": "初任培训",
            "start": "2024-03-05",
            "end": "2024-04-05",
            "hours": 160,
            "result": "passed",
        },
        headers=roles.station,
    )
    assert r.status_code == 201
    r = await client.post(
        f"{base}/trainings",
        json={"course": "x", "start": "2024-03-05", "end": "2024-03-01"},
        headers=roles.station,
    )
    assert r.status_code == 422
    file = (await client.get(base, headers=roles.station)).json()
    assert [len(file[k]) for k in ("rewards", "punishments", "trainings")] == [1, 1, 1]
    history = (await client.get(f"{base}/history", headers=roles.station)).json()["items"]
    assert [e["kind"] for e in history] == ["created", "reward", "punishment", "training"]
    assert history[1]["recorded_by"] == "junan_station"


async def test_list_filters_and_pagination(client, roles) -> None:
    made = [await hire(client, roles.junan, post="patrol") for _ in range(3)]
    made += [await hire(client, roles.junan, post="clerk", post_category="civilian", level=6)]
    r = await client.get(PERSONNEL, params={"post": "clerk"}, headers=roles.junan)
    assert [p["id"] for p in r.json()["items"]] == [made[-1]["id"]]
    r = await client.get(PERSONNEL, params={"level": 6, "status": ["active"]}, headers=roles.junan)
    assert [p["id"] for p in r.json()["items"]] == [made[-1]["id"]]
    r = await client.get(PERSONNEL, params={"status": "bogus"}, headers=roles.junan)
    assert r.status_code == 422
    ids, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(PERSONNEL, params=params, headers=roles.junan)).json()
        ids += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert ids == [p["id"] for p in made]
    assert (
        await client.get(PERSONNEL, params={"limit": 501}, headers=roles.junan)
    ).status_code == 422
    assert (
        await client.get(PERSONNEL, params={"limit": 500}, headers=roles.junan)
    ).status_code == 200
