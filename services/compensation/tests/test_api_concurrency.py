"""Concurrent transitions with real commits (no rolled-back outer transaction): two
approvals of one run, or two overlapping runs created at once, never both succeed.
Henan regions (41…) keep these committed rows apart from the other tests."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from kernel.testing import api_client
from services.compensation.models import KERNEL_TABLES
from services.compensation.tests.test_api_schedules_inputs import SCHEDULE

BASE = "/api/v1/compensation"


async def test_concurrent_approvals(app, upstream, issuer):
    upstream.add(41001, region="410102")
    upstream.add(41002, region="410102", post="clerk", level=6)
    prov = issuer.headers("province_admin", region="41", sub="ha-admin")
    fin = issuer.headers("finance_officer", region="410102", sub="zz-finance")
    admins = [
        issuer.headers("county_admin", region="410102", sub=f"zz-admin-{i}") for i in range(2)
    ]
    async with api_client(app) as client:
        r = await client.put(f"{BASE}/schedules/41/2026-01-01", json=SCHEDULE, headers=prov)
        assert r.status_code in (200, 201)
        r = await client.post(
            f"{BASE}/payroll-runs", json={"region": "410102", "period": "2026-06"}, headers=fin
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert (
            await client.post(f"{BASE}/payroll-runs/{rid}/calculate", headers=fin)
        ).status_code == 200
        results = await asyncio.gather(
            *(client.post(f"{BASE}/payroll-runs/{rid}/approve", headers=a) for a in admins)
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 409], [r.text for r in results]
        loser = next(r for r in results if r.status_code == 409)
        assert loser.json()["code"] in ("concurrent_transition", "invalid_transition")
        async with app.state.db.session() as s:
            outbox = KERNEL_TABLES.outbox
            events = (
                await s.execute(
                    select(func.count()).where(
                        outbox.c.topic == "payroll_run.approved",
                        outbox.c.payload["data"]["payroll_run_id"].as_integer() == rid,
                    )
                )
            ).scalar()
        assert events == 1


async def test_concurrent_overlapping_runs(app, upstream, issuer):
    city = issuer.headers("finance_officer", region="4101", sub="zz-city-finance")
    bodies = [
        {"region": "4101", "period": "2026-07"},
        {"region": "410103", "period": "2026-07"},
        {"region": "410103001", "period": "2026-07"},
    ]
    async with api_client(app) as client:
        results = await asyncio.gather(
            *(client.post(f"{BASE}/payroll-runs", json=b, headers=city) for b in bodies)
        )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409], [r.text for r in results]
    assert all(r.json()["code"] == "payroll_run_overlaps" for r in results if r.status_code == 409)
