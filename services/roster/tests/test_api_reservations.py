"""Quota reservations: idempotent on reference, seat by seat conversion, release."""

from __future__ import annotations

from services.roster.tests.conftest import API, FEI, JUNAN, SHIZILU, hire, person

RES = f"{API}/quota-reservations"


async def test_create_is_idempotent_on_reference(client, roles) -> None:
    body = {"region": FEI, "seats": 5, "reference": "recruitment:plan:7"}
    first = await client.post(RES, json=body, headers=roles.service)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created | {"id": 0, "created_at": 0} == {
        "id": 0,
        "region": FEI,
        "seats": 5,
        "converted": 0,
        "released": 0,
        "held": 5,
        "reference": "recruitment:plan:7",
        "status": "open",
        "created_at": 0,
        "created_by": "svc-recruitment",
        "closed_at": None,
    }
    again = await client.post(RES, json=body, headers=roles.province)
    assert again.status_code == 200 and again.json() == created
    other = await client.post(RES, json={**body, "seats": 6}, headers=roles.service)
    assert other.status_code == 409 and other.json()["code"] == "reference_conflict"
    quota = (await client.get(f"{API}/regions/{FEI}/quota", headers=roles.fei)).json()
    assert (quota["reserved"], quota["available"]) == (5, 25)


async def test_reservation_beyond_free_seats_is_refused(client, roles) -> None:
    r = await client.post(
        RES, json={"region": FEI, "seats": 31, "reference": "too-many"}, headers=roles.service
    )
    assert r.status_code == 409
    problem = r.json()
    assert problem["code"] == "quota_exceeded" and problem["available"] == 30
    assert problem["requested"] == 31
    assert (await client.get(RES, params={"reference": "too-many"}, headers=roles.service)).json()[
        "items"
    ] == []


async def test_convert_seat_by_seat_then_exhausted(client, roles) -> None:
    res = (
        await client.post(
            RES, json={"region": JUNAN, "seats": 2, "reference": "r2"}, headers=roles.junan
        )
    ).json()
    a = await hire(client, roles.service, reservation_reference="r2")
    b = await hire(client, roles.junan, reservation_reference="r2", region=SHIZILU)
    assert a["reservation_id"] == b["reservation_id"] == res["id"]
    r = await client.get(f"{RES}/{res['id']}", headers=roles.junan)
    assert r.json() | {"closed_at": None} == res | {
        "converted": 2,
        "held": 0,
        "status": "filled",
        "closed_at": None,
    }
    r = await client.post(
        f"{API}/personnel", json=person(reservation_reference="r2"), headers=roles.junan
    )
    assert r.status_code == 409 and r.json()["code"] == "reservation_exhausted"
    r = await client.post(
        f"{API}/personnel", json=person(reservation_reference="nope"), headers=roles.junan
    )
    assert r.status_code == 404 and r.json()["code"] == "reservation_not_found"
    r = await client.post(
        f"{API}/personnel",
        json=person(reservation_reference="r2", region=FEI),
        headers=roles.system,
    )
    assert r.status_code == 409 and r.json()["code"] == "reservation_region_mismatch"
    quota = (await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.junan)).json()
    assert (quota["headcount"], quota["reserved"]) == (2, 0)


async def test_release_gives_back_the_rest_and_is_idempotent(client, roles) -> None:
    res = (
        await client.post(
            RES, json={"region": FEI, "seats": 4, "reference": "r4"}, headers=roles.fei
        )
    ).json()
    await hire(client, roles.fei, region=FEI, reservation_reference="r4")
    r = await client.post(f"{RES}/{res['id']}/release", headers=roles.service)
    assert r.status_code == 200
    released = r.json()
    assert (released["converted"], released["released"], released["held"]) == (1, 3, 0)
    assert released["status"] == "released" and released["closed_at"]
    again = await client.post(f"{RES}/{res['id']}/release", headers=roles.service)
    assert again.status_code == 200 and again.json() == released
    quota = (await client.get(f"{API}/regions/{FEI}/quota", headers=roles.fei)).json()
    assert (quota["headcount"], quota["reserved"], quota["available"]) == (1, 0, 29)
    r = await client.post(
        f"{API}/personnel", json=person(region=FEI, reservation_reference="r4"), headers=roles.fei
    )
    assert r.status_code == 409 and r.json()["code"] == "reservation_exhausted"


async def test_reservation_roles_and_jurisdiction(client, roles) -> None:
    body = {"region": JUNAN, "seats": 1, "reference": "rj"}
    assert (await client.post(RES, json=body)).status_code == 401
    for headers in (roles("recruiter", region=JUNAN), roles.auditor, roles.station):
        r = await client.post(RES, json=body, headers=headers)
        assert r.status_code == 403, headers
    r = await client.post(RES, json=body, headers=roles.fei)
    assert r.status_code == 404 and r.json()["code"] == "region_not_found"
    created = (await client.post(RES, json=body, headers=roles.province)).json()
    assert (await client.get(f"{RES}/{created['id']}", headers=roles.auditor)).status_code == 200
    assert (await client.get(f"{RES}/{created['id']}", headers=roles.fei)).status_code == 404
    r = await client.post(f"{RES}/{created['id']}/release", headers=roles.fei)
    assert r.status_code == 404
    assert (await client.get(RES, headers=roles.fei)).json()["items"] == []
    listed = (await client.get(RES, params={"region": JUNAN}, headers=roles.junan)).json()
    assert [x["id"] for x in listed["items"]] == [created["id"]]
    assert (
        await client.get(RES, headers=roles("finance_officer", region=JUNAN))
    ).status_code == 403
    r = await client.post(RES, json={**body, "seats": 0}, headers=roles.junan)
    assert r.status_code == 422
    r = await client.post(RES, json={**body, "plan": 3}, headers=roles.junan)
    assert r.status_code == 422 and r.json()["code"] == "unknown_field"


async def test_idempotency_key_replays_a_reservation(client, roles) -> None:
    headers = {**roles.junan, "Idempotency-Key": "k-res-1"}
    body = {"region": JUNAN, "seats": 1, "reference": "ik"}
    first = await client.post(RES, json=body, headers=headers)
    again = await client.post(RES, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post(RES, json={**body, "seats": 2}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
