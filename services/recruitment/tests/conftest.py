"""Recruitment API tests: the app on a scratch database (SQLite, or PostgreSQL with
AUXPOL_TEST_DATABASE_URL), the roster and the token endpoint stubbed on app.state.http."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kernel.outbox import RetryPolicy
from kernel.service_client import ServiceTokenProvider
from kernel.testing import TestIssuer, api_client, rolled_back, running_service, scratch_database
from services.recruitment.config import RecruitmentSettings
from services.recruitment.main import MIGRATIONS, create_app

ROSTER = "http://roster.test"
GATEWAY = "http://gateway.test"


@dataclass
class FakeRoster:
    """The roster's reservation and personnel endpoints, and the gateway's token endpoint."""

    capacity: int | None = None
    down: bool = False
    refuse_hire: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    announced: list[dict[str, Any]] = field(default_factory=list)
    tokens_issued: int = 0

    def reset(self) -> None:
        self.capacity = None
        self.down = False
        self.refuse_hire.clear()
        self.reservations.clear()
        self.people.clear()
        self.calls.clear()
        self.released.clear()
        self.announced.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        headers = {k.lower(): v for k, v in request.headers.items()}
        is_json = headers.get("content-type", "").startswith("application/json")
        body = json.loads(request.content) if request.content and is_json else None
        if request.url.host == "gateway.test" and path == "/internal/events/batch":
            events = json.loads(request.content)["events"]
            self.announced.extend(events)
            results = [{"event_id": e["event_id"], "status": "accepted"} for e in events]
            return httpx.Response(
                200,
                json={
                    "accepted": len(events),
                    "duplicates": 0,
                    "rejected": 0,
                    "deliveries": 0,
                    "results": results,
                },
            )
        if request.url.host == "gateway.test" and path == "/internal/events":
            self.announced.append(json.loads(request.content))
            return httpx.Response(202, json={"event_id": "x", "deliveries": 0, "duplicate": False})
        if request.url.host == "gateway.test" and path == "/auth/token":
            self.tokens_issued += 1
            return httpx.Response(
                200, json={"access_token": "svc-token", "token_type": "Bearer", "expires_in": 300}
            )
        self.calls.append((request.method, path, headers, body))
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if path == "/api/v1/roster/quota-reservations":
            return self._reserve(body)
        if path.startswith("/api/v1/roster/quota-reservations/") and path.endswith("/release"):
            rid = path.split("/")[-2]
            for res in self.reservations.values():
                if str(res["id"]) == rid:
                    res["status"] = "released"
                    self.released.append(rid)
                    return httpx.Response(200, json=res)
            return httpx.Response(404, json={"code": "reservation_not_found"})
        if path == "/api/v1/roster/personnel":
            return self._hire(body)
        return httpx.Response(404, json={"code": "route_not_found"})

    def _reserve(self, body: dict[str, Any]) -> httpx.Response:
        existing = self.reservations.get(body["reference"])
        if existing is not None:
            return httpx.Response(200, json=existing)
        held = sum(r["seats"] for r in self.reservations.values() if r["status"] == "open")
        if self.capacity is not None and held + body["seats"] > self.capacity:
            return httpx.Response(
                409,
                json={"code": "quota_exceeded", "status": 409, "detail": "no free quota seat"},
                headers={"content-type": "application/problem+json"},
            )
        res = {
            "id": len(self.reservations) + 100,
            "region": body["region"],
            "seats": body["seats"],
            "converted": 0,
            "released": 0,
            "reference": body["reference"],
            "status": "open",
        }
        self.reservations[body["reference"]] = res
        return httpx.Response(201, json=res)

    def _hire(self, body: dict[str, Any]) -> httpx.Response:
        refused = self.refuse_hire.get(body["id_number"])
        if refused is not None:
            return httpx.Response(refused[0], json=refused[1])
        existing = self.people.get(body["external_reference"])
        if existing is not None:
            return httpx.Response(200, json=existing)
        person = {"id": len(self.people) + 1, **body}
        self.people[body["external_reference"]] = person
        for res in self.reservations.values():
            if res["reference"] == body.get("reservation_reference"):
                res["converted"] += 1
        return httpx.Response(201, json=person)


@pytest.fixture(scope="session")
def roster() -> FakeRoster:
    return FakeRoster()


@pytest.fixture(scope="session")
async def app(issuer: TestIssuer, roster: FakeRoster) -> AsyncIterator[FastAPI]:
    async with scratch_database("recruitment", MIGRATIONS) as url:
        settings = RecruitmentSettings(
            database_url=url,
            outbox_enabled=False,
            roster_url=ROSTER,
            gateway_url=GATEWAY,
            jwks_url=GATEWAY + "/.well-known/jwks.json",
            client_secret="recruitment-secret",
        )
        async with running_service(create_app, settings, issuer) as running:
            real = running.state.http
            running.state.http = httpx.AsyncClient(transport=httpx.MockTransport(roster.handle))
            running.state.service_tokens = ServiceTokenProvider(
                running.state.http, settings.token_url, settings.client_id, settings.client_secret
            )
            running.state.relay.retry = RetryPolicy(base_seconds=0.01, max_seconds=0.02)
            try:
                yield running
            finally:
                await running.state.http.aclose()
                running.state.http = real


@pytest.fixture
async def client(app: FastAPI, roster: FakeRoster) -> AsyncIterator[httpx.AsyncClient]:
    roster.reset()
    async with rolled_back(app), api_client(app) as c:
        yield c


@pytest.fixture
async def committed_client(app: FastAPI, roster: FakeRoster) -> AsyncIterator[httpx.AsyncClient]:
    """Real commits (for concurrency): data stays in the session's scratch database."""
    roster.reset()
    async with api_client(app) as c:
        yield c
