"""personnel.created and personnel.departed leave the roster's outbox for the gateway's
event intake, which fans them out to webhook subscribers (api.md, Webhooks). Found by
the hanging-receiver fault drill: the roster had no relay handler for them, so they
stayed pending for ever and no subscriber ever heard of a new or departed auxiliary."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from kernel.service_client import ServiceTokenProvider

from .conftest import API, hire
from .test_api_imports import IMPORTS, good_row, to_csv, upload


def fake_gateway(
    announced: list[dict[str, Any]], calls: list[int]
) -> Callable[[httpx.Request], httpx.Response]:
    """The gateway's token endpoint and batch event intake; `calls` gets each batch's
    size."""

    def gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": "svc", "expires_in": 300})
        if request.url.path == "/internal/events/batch":
            assert request.headers["authorization"] == "Bearer svc"
            events = json.loads(request.content)["events"]
            calls.append(len(events))
            announced.extend(events)
            results = [
                {"event_id": e["event_id"], "status": "accepted", "deliveries": 1} for e in events
            ]
            return httpx.Response(
                200,
                json={
                    "accepted": len(events),
                    "duplicates": 0,
                    "rejected": 0,
                    "deliveries": len(events),
                    "results": results,
                },
            )
        return httpx.Response(404)

    return gateway


@asynccontextmanager
async def gateway_stub(app: Any, handler: Any) -> AsyncIterator[None]:
    stub = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    saved = app.state.http, app.state.service_tokens
    app.state.http = stub
    app.state.service_tokens = ServiceTokenProvider(
        stub, app.state.settings.token_url, "svc-roster", "roster-secret"
    )
    try:
        yield
    finally:
        app.state.http, app.state.service_tokens = saved
        await stub.aclose()


async def test_personnel_events_are_announced_to_the_gateway(app, client, roles):
    announced: list[dict[str, Any]] = []
    calls: list[int] = []
    async with gateway_stub(app, fake_gateway(announced, calls)):
        person = await hire(client, roles.junan)
        r = await client.post(
            f"{API}/personnel/{person['id']}/departures",
            json={"date": "2025-06-30", "reason": "resigned"},
            headers=roles.junan,
        )
        assert r.status_code == 201, r.text
        assert app.state.relay is not None
        await app.state.relay.drain()
    assert calls  # in batches, not one by one
    mine = {e["type"]: e for e in announced if e["data"]["personnel_id"] == person["id"]}
    assert set(mine) == {"personnel.created", "personnel.departed"}
    created = mine["personnel.created"]
    assert created["event_id"] == f"personnel.created:{person['id']}"
    assert created["region"] == person["region"]
    assert "id_number" not in json.dumps(created)  # no ID numbers travel to provinces
    assert mine["personnel.departed"]["data"]["reason"] == "resigned"


async def test_an_imports_bundle_is_announced_event_by_event(app, client, roles):
    """A bulk import writes one outbox bundle per batch; the relay hands its events to
    the batch intake, each the same document as POST /personnel's."""
    rows = [good_row() for _ in range(7)]
    announced: list[dict[str, Any]] = []
    calls: list[int] = []
    async with gateway_stub(app, fake_gateway(announced, calls)):
        r = await upload(client, roles.junan, to_csv(rows))
        job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
        assert job["created"] == 7
        await app.state.relay.drain()
    created = [e for e in announced if e["type"] == "personnel.created"]
    assert len(created) == 7 and not any(e["type"].endswith(".bundle") for e in announced)
    assert len({e["event_id"] for e in created}) == 7
    people = (
        await client.get(f"{API}/personnel", params={"limit": 50}, headers=roles.junan)
    ).json()["items"]
    assert {e["data"]["personnel_id"] for e in created} <= {p["id"] for p in people}
    assert all(e["event_id"] == f"personnel.created:{e['data']['personnel_id']}" for e in created)
    assert "id_number" not in json.dumps(created)
