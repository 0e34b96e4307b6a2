"""Real concurrency, with real commits (no rolled-back transaction): seat-taking
requests that together exceed the free seats must not all succeed, on SQLite and on
PostgreSQL. The quota look-up after the seat lock is slowed down, so that without the
lock every request would read the same free seats."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from kernel.testing import TestIssuer, api_client, running_service, scratch_database
from services.roster import seats
from services.roster.config import RosterSettings
from services.roster.main import MIGRATIONS, create_app
from services.roster.tests.conftest import API, Roles, person, seed_world

# small counties: population 2,000 × 15 / 10,000 → 3 seats each
COUNTIES = ["371321", "371322", "371323", "371324", "371326", "371328"]


@pytest.fixture(scope="module")
async def live(issuer: TestIssuer, roles: Roles) -> AsyncIterator[Any]:
    async with scratch_database("roster_concurrency", MIGRATIONS) as url:
        settings = RosterSettings(database_url=url, outbox_enabled=False)
        async with (
            running_service(create_app, settings, issuer) as app,
            api_client(app) as client,
        ):
            await seed_world(client, roles)
            for code in COUNTIES:
                r = await client.put(
                    f"{API}/regions/{code}",
                    json={"name": code, "population": 2000, "year": 2024},
                    headers=roles.system,
                )
                assert r.status_code == 201
            yield client


@pytest.fixture
def slow_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    original = seats.region_quota

    async def slowed(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.05)
        return await original(*args, **kwargs)

    monkeypatch.setattr(seats, "region_quota", slowed)


def county_admin(roles: Roles, code: str) -> dict[str, str]:
    return roles("county_admin", region=code, sub=f"admin-{code}")


async def _quota(client: Any, roles: Roles, code: str) -> dict[str, Any]:
    return dict((await client.get(f"{API}/regions/{code}/quota", headers=roles.system)).json())


async def test_two_reservations_that_do_not_fit_together(live, roles, slow_quota) -> None:
    code = COUNTIES[0]
    bodies = [{"region": code, "seats": 2, "reference": f"plan-{i}"} for i in range(2)]
    results = await asyncio.gather(
        *(live.post(f"{API}/quota-reservations", json=b, headers=roles.service) for b in bodies)
    )
    assert sorted(r.status_code for r in results) == [201, 409]
    refused = next(r for r in results if r.status_code == 409)
    assert refused.json()["code"] == "quota_exceeded"
    quota = await _quota(live, roles, code)
    assert (quota["reserved"], quota["available"]) == (2, 1)


async def test_many_hires_for_few_seats(live, roles, slow_quota) -> None:
    code = COUNTIES[1]
    headers = county_admin(roles, code)
    results = await asyncio.gather(
        *(
            live.post(f"{API}/personnel", json=person(region=code), headers=headers)
            for _ in range(8)
        )
    )
    codes = Counter(r.status_code for r in results)
    assert codes == {201: 3, 409: 5}, [r.text for r in results if r.status_code not in (201, 409)]
    quota = await _quota(live, roles, code)
    assert (quota["headcount"], quota["available"]) == (3, 0)


async def test_hires_against_a_reservation_convert_each_seat_once(live, roles, slow_quota) -> None:
    code = COUNTIES[2]
    headers = county_admin(roles, code)
    r = await live.post(
        f"{API}/quota-reservations",
        json={"region": code, "seats": 2, "reference": "plan-x"},
        headers=headers,
    )
    assert r.status_code == 201
    results = await asyncio.gather(
        *(
            live.post(
                f"{API}/personnel",
                json=person(region=code, reservation_reference="plan-x"),
                headers=roles.service,
            )
            for _ in range(5)
        )
    )
    assert Counter(r.status_code for r in results) == {201: 2, 409: 3}
    reservation = (
        await live.get(f"{API}/quota-reservations/{r.json()['id']}", headers=headers)
    ).json()
    assert (reservation["converted"], reservation["status"]) == (2, "filled")
    quota = await _quota(live, roles, code)
    assert (quota["headcount"], quota["reserved"], quota["available"]) == (2, 0, 1)


async def test_same_reference_at_once_is_one_reservation(live, roles, slow_quota) -> None:
    code = COUNTIES[3]
    body = {"region": code, "seats": 1, "reference": "same-plan"}
    results = await asyncio.gather(
        *(
            live.post(f"{API}/quota-reservations", json=body, headers=roles.service)
            for _ in range(3)
        )
    )
    assert sorted(r.status_code for r in results) == [200, 200, 201]
    assert len({r.json()["id"] for r in results}) == 1
    assert (await _quota(live, roles, code))["reserved"] == 1


async def test_same_external_reference_at_once_is_one_file(live, roles, slow_quota) -> None:
    code = COUNTIES[4]
    body = person(region=code, external_reference="recruitment:campaign:1:application:9")
    results = await asyncio.gather(
        *(live.post(f"{API}/personnel", json=body, headers=roles.service) for _ in range(3))
    )
    assert sorted(r.status_code for r in results) == [200, 200, 201]
    assert len({r.json()["id"] for r in results}) == 1
    assert (await _quota(live, roles, code))["headcount"] == 1


async def test_two_departures_of_one_person_do_not_both_succeed(live, roles) -> None:
    code = COUNTIES[5]
    headers = county_admin(roles, code)
    created = await live.post(f"{API}/personnel", json=person(region=code), headers=headers)
    pid = created.json()["id"]
    results = await asyncio.gather(
        *(
            live.post(
                f"{API}/personnel/{pid}/departures",
                json={"date": date(2024, 6, day).isoformat(), "reason": "resigned"},
                headers=headers,
            )
            for day in (1, 2)
        )
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses[0] == 201 and statuses[1] in (409, 412), [r.text for r in results]
    quota = await _quota(live, roles, code)
    assert quota["headcount"] == 0
    history = (await live.get(f"{API}/personnel/{pid}/history", headers=headers)).json()["items"]
    assert [e["kind"] for e in history].count("departed") == 1


async def test_counters_match_the_files(live, roles) -> None:
    """The maintained counters agree with a recount from the personnel table."""
    from sqlalchemy import func, select

    from services.roster.models import Personnel

    app = live._transport.app
    async with app.state.db.session() as session:
        stored = await seats.recount(session)
        rows = await session.execute(
            select(Personnel.region, func.count())
            .where(Personnel.status.in_(["probation", "active"]))
            .group_by(Personnel.region)
        )
        counted = dict(rows.all())
    assert {r: h for r, (h, _) in stored.items() if h} == counted
