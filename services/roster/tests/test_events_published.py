"""personnel.created and personnel.departed leave the roster's outbox for the gateway's
event intake, which fans them out to webhook subscribers (api.md, Webhooks). Found by
the hanging-receiver fault drill: the roster had no relay handler for them, so they
stayed pending for ever and no subscriber ever heard of a new or departed auxiliary."""

from __future__ import annotations

import json
from typing import Any

import httpx

from kernel.service_client import ServiceTokenProvider

from .conftest import API, hire


async def test_personnel_events_are_announced_to_the_gateway(app, client, roles):
    announced: list[dict[str, Any]] = []
    calls: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": "svc", "expires_in": 300})
        if request.url.path == "/internal/events/batch":
            assert request.headers["authorization"] == "Bearer svc"
            calls.append(request.url.path)
            events = json.loads(request.content)["events"]
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

    stub = httpx.AsyncClient(transport=httpx.MockTransport(gateway))
    saved = app.state.http, app.state.service_tokens
    app.state.http = stub
    app.state.service_tokens = ServiceTokenProvider(
        stub, app.state.settings.token_url, "svc-roster", "roster-secret"
    )
    try:
        person = await hire(client, roles.junan)
        r = await client.post(
            f"{API}/personnel/{person['id']}/departures",
            json={"date": "2025-06-30", "reason": "resigned"},
            headers=roles.junan,
        )
        assert r.status_code == 201, r.text
        assert app.state.relay is not None
        await app.state.relay.drain()
    finally:
        app.state.http, app.state.service_tokens = saved
        await stub.aclose()
    assert calls and set(calls) == {"/internal/events/batch"}  # in batches, not one by one
    mine = {e["type"]: e for e in announced if e["data"]["personnel_id"] == person["id"]}
    assert set(mine) == {"personnel.created", "personnel.departed"}
    created = mine["personnel.created"]
    assert created["event_id"] == f"personnel.created:{person['id']}"
    assert created["region"] == person["region"]
    assert "id_number" not in json.dumps(created)  # no ID numbers travel to provinces
    assert mine["personnel.departed"]["data"]["reason"] == "resigned"
