"""API test harness: the compensation app on a scratch database (SQLite, or PostgreSQL
with AUXPOL_TEST_DATABASE_URL), with the roster, recruitment and the gateway's token
endpoint replaced by an in-process stub (``httpx.MockTransport``)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest

from kernel.service_client import ServiceTokenProvider
from kernel.testing import TestIssuer, api_client, rolled_back, running_service, scratch_database
from services.compensation.config import CompensationSettings
from services.compensation.main import MIGRATIONS, create_app

ROSTER = "http://roster.test"
RECRUITMENT = "http://recruitment.test"
GATEWAY = "http://gateway.test"
SERVICE_TOKEN = "service-token-for-compensation"


def _claims(authorization: str) -> dict[str, Any]:
    """The (unverified) claims of a bearer token, as the roster would read them."""
    token = authorization.partition(" ")[2]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass
class Upstream:
    """What the stubbed roster and recruitment serve; reset for every test."""

    people: dict[int, dict[str, Any]] = field(default_factory=dict)
    plans: list[dict[str, Any]] = field(default_factory=list)
    roster_down: bool = False
    recruitment_down: bool = False
    snapshot_calls: list[dict[str, Any]] = field(default_factory=list)
    plan_auth: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.people.clear()
        self.plans.clear()
        self.roster_down = False
        self.recruitment_down = False
        self.snapshot_calls.clear()
        self.plan_auth.clear()

    def add(
        self,
        pid: int,
        *,
        region: str = "371327",
        post: str = "patrol",
        level: int = 7,
        step: int = 1,
        grade: str | None = "competent",
        hire: str = "2020-01-01",
        left: str | None = None,
        unit: str = "Shizilu station",
        name: str | None = None,
        category: str = "duty",
    ) -> dict[str, Any]:
        person = {
            "id": pid,
            "region": region,
            "unit": unit,
            "post_category": category,
            "post": post,
            "level": level,
            "step": step,
            "status": "active" if left is None else "left",
            "hire_date": hire,
            "probation_end": None,
            "left_date": left,
            "last_grade": grade,
            "last_grade_year": 2025 if grade else None,
            "name": name or f"person {pid}",
            "id_number": "371327199001011234",
        }
        self.people[pid] = person
        return person

    async def handle(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        base = f"{url.scheme}://{url.host}"
        if base == ROSTER:
            return self._roster(request)
        if base == GATEWAY and url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": SERVICE_TOKEN, "expires_in": 300})
        if base == RECRUITMENT:
            return self._recruitment(request)
        return httpx.Response(404)

    def _roster(self, request: httpx.Request) -> httpx.Response:
        if self.roster_down:
            raise httpx.ConnectError("connection refused", request=request)
        scope = _claims(request.headers["authorization"]).get("region", "")
        path = request.url.path
        if path == "/api/v1/roster/personnel-snapshot":
            region = request.url.params["region"]
            first = date.fromisoformat(request.url.params["from"])
            last = date.fromisoformat(request.url.params["to"])
            auth = request.headers["authorization"]
            self.snapshot_calls.append({"region": region, "from": first, "to": last, "auth": auth})
            lines = []
            for p in sorted(self.people.values(), key=lambda p: p["id"]):
                if not (p["region"].startswith(region) and p["region"].startswith(scope)):
                    continue
                if date.fromisoformat(p["hire_date"]) > last:
                    continue
                if p["left_date"] and date.fromisoformat(p["left_date"]) < first:
                    continue
                lines.append(json.dumps(p))
            body = ("\n".join(lines) + "\n").encode() if lines else b""
            return httpx.Response(
                200, content=body, headers={"content-type": "application/x-ndjson"}
            )
        if path.startswith("/api/v1/roster/personnel/"):
            pid = int(path.rsplit("/", 1)[1])
            person = self.people.get(pid)
            if person is None or not person["region"].startswith(scope):
                return httpx.Response(404, json={"code": "not_found"})
            return httpx.Response(200, json=person)
        return httpx.Response(404)

    def _recruitment(self, request: httpx.Request) -> httpx.Response:
        if self.recruitment_down:
            raise httpx.ConnectError("connection refused", request=request)
        self.plan_auth.append(request.headers.get("authorization", ""))
        if request.headers.get("authorization") != f"Bearer {SERVICE_TOKEN}":
            return httpx.Response(401)
        region = request.url.params["region"]
        plans = [
            p for p in self.plans if p["region"].startswith(region) and p["status"] == "approved"
        ]
        # one plan per page, to exercise the cursor
        start = int(request.url.params.get("cursor") or 0)
        page = plans[start : start + 1]
        following = str(start + 1) if start + 1 < len(plans) else None
        return httpx.Response(200, json={"items": page, "next_cursor": following})


UPSTREAM = Upstream()


def settings_for(url: str) -> CompensationSettings:
    return CompensationSettings(
        database_url=url,
        outbox_enabled=False,
        roster_url=ROSTER,
        recruitment_url=RECRUITMENT,
        gateway_url=GATEWAY,
        client_secret="compensation-secret",
        export_chunk_rows=7,  # several chunks even in small tests
    )


async def install_stub(app: Any) -> None:
    await app.state.http.aclose()
    app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(UPSTREAM.handle))
    settings = app.state.settings
    app.state.service_tokens = ServiceTokenProvider(
        app.state.http, settings.token_url, settings.client_id, settings.client_secret
    )


@pytest.fixture(scope="session")
async def app(issuer: TestIssuer) -> AsyncIterator[Any]:
    async with (
        scratch_database("compensation", MIGRATIONS) as url,
        running_service(create_app, settings_for(url), issuer) as running,
    ):
        await install_stub(running)
        yield running


@pytest.fixture
def upstream() -> Upstream:
    UPSTREAM.reset()
    return UPSTREAM


@pytest.fixture
async def client(app: Any, upstream: Upstream) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back(app), api_client(app) as c:
        yield c


@pytest.fixture
def h(issuer):
    class Headers:
        prov = issuer.headers("province_admin", region="37", sub="sd-admin")
        fin = issuer.headers("finance_officer", region="371327", sub="junan-finance")
        fin2 = issuer.headers("finance_officer", region="371327", sub="junan-finance-2")
        admin = issuer.headers("county_admin", region="371327", sub="junan-admin")
        both = issuer.headers("county_admin", "finance_officer", region="371327", sub="both")
        fei_fin = issuer.headers("finance_officer", region="371325", sub="fei-finance")
        city_fin = issuer.headers("finance_officer", region="3713", sub="linyi-finance")
        auditor = issuer.headers("auditor", region="37", sub="sd-auditor")
        recruiter = issuer.headers("recruiter", region="371327", sub="junan-recruiter")
        unit = issuer.headers("unit_manager", region="371327", sub="junan-station")

    return Headers
