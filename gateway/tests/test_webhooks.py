"""Webhooks end to end inside the gateway, against a real local HTTP receiver that
checks Standard Webhooks signatures: delivery, retries, a receiver restarted
mid-way, a gateway restart, 410, a hanging receiver, and the SSRF guard."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from gateway.config import GatewaySettings
from gateway.main import MIGRATIONS, Gateway
from gateway.webhooks import signature
from kernel.jwt import issue_token
from kernel.testing import scratch_database

from .conftest import bearer
from .test_proxy import _free_port


class Receiver:
    """A small HTTP server that verifies signatures and records what it got."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.secret = ""
        self.received: list[dict[str, Any]] = []
        self.verified: list[bool] = []
        self.fail_next = 0
        self.status_when_failing = 500
        self.hang = False
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.hang:
            await asyncio.sleep(30)
        try:
            signature.verify(self.secret, dict(request.headers), body)
            self.verified.append(True)
        except signature.InvalidSignature:
            self.verified.append(False)
            return web.Response(status=400)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=self.status_when_failing)
        self.received.append({"id": request.headers["webhook-id"], **(await request.json())})
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _settings(tmp: Path, url: str, **over: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "profile": "dev",
        "data_dir": tmp,
        "database_url": url,
        "admin_password": "admin-test-pw-1",
        "outbox_enabled": False,
        "webhook_allowed_hosts": "127.0.0.1",
        "webhook_retry_base_seconds": 0.01,
        "webhook_retry_max_seconds": 0.02,
        "webhook_timeout_seconds": 0.5,
    }
    values.update(over)
    return GatewaySettings(**values)


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with scratch_database("webhooks", MIGRATIONS) as url:
        yield url


async def _started(settings: GatewaySettings) -> tuple[Gateway, Any]:
    gw = Gateway(settings)
    ctx = gw.api.router.lifespan_context(gw.api)
    await ctx.__aenter__()
    return gw, ctx


def _token(gw: Gateway, roles: list[str], region: str, sub: str = "prov") -> dict[str, str]:
    tok = issue_token(
        gw.state.keyring.active,
        issuer="auxpol",
        audience="auxpol-api",
        subject=sub,
        roles=roles,
        region=region,
        ttl_seconds=600,
    )
    return bearer(tok)


def _event(kind: str = "personnel.created", region: str = "371327") -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "type": kind,
        "occurred_at": "2026-11-22T08:00:00Z",
        "region": region,
        "data": {"personnel_id": 7, "url": "/api/v1/roster/personnel/7"},
    }


async def _drain(gw: Gateway, until: Any, rounds: int = 60) -> None:
    for _ in range(rounds):
        await gw.state.webhook_relay.run_once()
        if until():
            return
        await asyncio.sleep(0.03)


async def test_delivery_retries_restarts_and_410(tmp_path: Path, database_url: str) -> None:
    receiver = Receiver(_free_port())
    await receiver.start()
    gw, ctx = await _started(_settings(tmp_path, database_url))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            prov = _token(gw, ["province_admin"], "37")
            r = await c.post(
                "/api/v1/webhooks",
                headers=prov,
                json={
                    "url": receiver.url,
                    "events": ["personnel.created", "plan.approved"],
                    "region": "37",
                },
            )
            assert r.status_code == 201, r.text
            sub = r.json()
            assert sub["secret"].startswith("whsec_")
            receiver.secret = sub["secret"]
            assert (
                "secret" not in (await c.get(f"/api/v1/webhooks/{sub['id']}", headers=prov)).json()
            )
            svc = _token(gw, ["service"], "", sub="svc-roster")

            # 1. delivered with a valid signature; the intake is idempotent
            first = _event()
            r = await c.post("/internal/events", headers=svc, json=first)
            assert r.status_code == 202 and r.json()["deliveries"] == 1
            again = await c.post("/internal/events", headers=svc, json=first)
            assert again.json()["duplicate"] is True
            # an event for another province or type is not for this subscription
            await c.post("/internal/events", headers=svc, json=_event(region="130102"))
            await c.post("/internal/events", headers=svc, json=_event(kind="payroll_run.approved"))
            await _drain(gw, lambda: len(receiver.received) >= 1)
            assert [m["id"] for m in receiver.received] == [first["event_id"]]
            assert receiver.received[0]["type"] == "personnel.created"
            assert receiver.received[0]["data"]["url"] == "/api/v1/roster/personnel/7"
            assert all(receiver.verified)

            # 2. fails twice, succeeds on the third attempt
            receiver.fail_next = 2
            second = _event()
            await c.post("/internal/events", headers=svc, json=second)
            await _drain(gw, lambda: len(receiver.received) >= 2)
            deliveries = (
                await c.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=prov)
            ).json()["items"]
            retried = next(d for d in deliveries if d["event_id"] == second["event_id"])
            assert retried["status"] == "delivered" and retried["attempts"] == 3
            assert [a["status_code"] for a in retried["attempt_log"]] == [500, 500, 204]

            # 3. receiver down mid-way, then back: every event arrives
            await receiver.stop()
            pending = [_event() for _ in range(3)]
            for event in pending:
                await c.post("/internal/events", headers=svc, json=event)
            for _ in range(3):
                await gw.state.webhook_relay.run_once()
                await asyncio.sleep(0.03)
            await receiver.start()
            await _drain(gw, lambda: len(receiver.received) >= 5)
            assert {m["id"] for m in receiver.received} >= {e["event_id"] for e in pending}
    finally:
        await ctx.__aexit__(None, None, None)

    # 4. the gateway restarts with events still pending: nothing is lost
    gw, ctx = await _started(_settings(tmp_path, database_url))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            svc = _token(gw, ["service"], "", sub="svc-recruitment")
            later = _event(kind="plan.approved", region="3713")
            await c.post("/internal/events", headers=svc, json=later)
        await ctx.__aexit__(None, None, None)  # stopped before delivering
        gw, ctx = await _started(_settings(tmp_path, database_url))
        await _drain(gw, lambda: any(m["id"] == later["event_id"] for m in receiver.received))
        assert any(m["id"] == later["event_id"] for m in receiver.received)

        # 5. 410 Gone disables the subscription
        receiver.fail_next, receiver.status_when_failing = 1, 410
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            svc = _token(gw, ["service"], "", sub="svc-roster")
            await c.post("/internal/events", headers=svc, json=_event())
            await _drain(gw, lambda: receiver.fail_next == 0, rounds=5)
            prov = _token(gw, ["province_admin"], "37")
            listed = (await c.get("/api/v1/webhooks", headers=prov)).json()["items"]
            assert listed[0]["active"] is False
            assert "410" in listed[0]["disabled_reason"]
    finally:
        await ctx.__aexit__(None, None, None)
        await receiver.stop()


async def test_hanging_receiver_does_not_block_others(tmp_path: Path, database_url: str) -> None:
    slow, fast = Receiver(_free_port()), Receiver(_free_port())
    slow.hang = True
    await slow.start()
    await fast.start()
    gw, ctx = await _started(_settings(tmp_path, database_url))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            prov = _token(gw, ["province_admin"], "37")
            for rec in (slow, fast):
                r = await c.post(
                    "/api/v1/webhooks",
                    headers=prov,
                    json={"url": rec.url, "events": ["personnel.departed"], "region": "37"},
                )
                rec.secret = r.json()["secret"]
            svc = _token(gw, ["service"], "", sub="svc-roster")
            await c.post("/internal/events", headers=svc, json=_event("personnel.departed"))
            started = time.monotonic()
            await gw.state.webhook_relay.run_once()
            assert len(fast.received) == 1
            assert time.monotonic() - started < 3  # the slow one timed out at 0.5 s
            sub_id = (await c.get("/api/v1/webhooks", headers=prov)).json()["items"][0]["id"]
            log = (await c.get(f"/api/v1/webhooks/{sub_id}/deliveries", headers=prov)).json()[
                "items"
            ][0]
            assert log["status"] == "pending" and log["last_error"] == "timed out"
    finally:
        await ctx.__aexit__(None, None, None)
        await slow.stop()
        await fast.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.8/hook",
        "http://localhost:9/hook",
        "http://[::1]/hook",
        "http://metadata.google.internal/",
        "ftp://example.com/hook",
        "https://user:pw@example.com/hook",
    ],
)
async def test_unsafe_urls_are_refused(tmp_path: Path, database_url: str, url: str) -> None:
    gw, ctx = await _started(_settings(tmp_path, database_url, webhook_allowed_hosts=""))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            r = await c.post(
                "/api/v1/webhooks",
                headers=_token(gw, ["auditor"], "37"),
                json={"url": url, "events": ["plan.approved"], "region": "37"},
            )
            assert r.status_code == 422, r.text
            assert r.json()["code"] == "unsafe_webhook_url"
    finally:
        await ctx.__aexit__(None, None, None)


async def test_webhook_roles_and_jurisdiction(tmp_path: Path, database_url: str) -> None:
    gw, ctx = await _started(_settings(tmp_path, database_url))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            body = {"url": "http://127.0.0.1:9/hook", "events": ["plan.approved"], "region": "37"}
            county = _token(gw, ["county_admin"], "371327")
            assert (await c.post("/api/v1/webhooks", headers=county, json=body)).status_code == 403
            other = _token(gw, ["province_admin"], "13")
            r = await c.post("/api/v1/webhooks", headers=other, json=body)
            assert r.status_code == 404  # a region outside its own
            assert (await c.post("/api/v1/webhooks", json=body)).status_code == 401
            ok = await c.post("/api/v1/webhooks", headers=_token(gw, ["auditor"], "37"), json=body)
            sub_id = ok.json()["id"]
            assert (await c.get(f"/api/v1/webhooks/{sub_id}", headers=other)).status_code == 404
            prov = _token(gw, ["province_admin"], "37")
            r = await c.post(f"/api/v1/webhooks/{sub_id}/rotate-secret", headers=prov)
            assert r.status_code == 200 and r.json()["secret"].startswith("whsec_")
            assert (await c.delete(f"/api/v1/webhooks/{sub_id}", headers=prov)).status_code == 204
            assert (await c.get(f"/api/v1/webhooks/{sub_id}", headers=prov)).status_code == 404
            # an id beyond 64 bits is refused, not handed to the driver (OverflowError, 500)
            r = await c.get(f"/api/v1/webhooks/{10**30}", headers=prov)
            assert r.status_code == 422 and r.json()["code"] == "validation_error"
            # only services may announce events
            r = await c.post("/internal/events", headers=prov, json=_event())
            assert r.status_code == 403
    finally:
        await ctx.__aexit__(None, None, None)


def test_signature_helper_detects_tampering() -> None:
    secret = signature.new_secret()
    body = b'{"type":"plan.approved"}'
    ts = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(ts),
        "webhook-signature": signature.sign(secret, "msg_1", ts, body),
    }
    signature.verify(secret, headers, body)
    with pytest.raises(signature.InvalidSignature):
        signature.verify(secret, headers, body.replace(b"approved", b"rejected"))
    with pytest.raises(signature.InvalidSignature):
        signature.verify(signature.new_secret(), headers, body)
    with pytest.raises(signature.InvalidSignature):
        signature.verify(secret, {**headers, "webhook-timestamp": str(ts - 3600)}, body)
    rotated = {
        **headers,
        "webhook-signature": signature.signature_header(
            [signature.new_secret(), secret], "msg_1", ts, body
        ),
    }
    signature.verify(secret, rotated, body)  # any one matching signature is enough


async def test_a_run_of_failures_disables_the_subscription(
    tmp_path: Path, database_url: str
) -> None:
    """`AUXPOL_GATEWAY_WEBHOOK_DISABLE_AFTER_FAILURES` failed attempts in a row disable the
    subscription with a reason; until then it stays active."""
    receiver = Receiver(_free_port())
    receiver.fail_next, receiver.status_when_failing = 100, 500
    await receiver.start()
    gw, ctx = await _started(_settings(tmp_path, database_url, webhook_disable_after_failures=3))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            prov = _token(gw, ["province_admin"], "37")
            r = await c.post(
                "/api/v1/webhooks",
                headers=prov,
                json={"url": receiver.url, "events": ["personnel.created"], "region": "37"},
            )
            assert r.status_code == 201, r.text
            receiver.secret = r.json()["secret"]
            svc = _token(gw, ["service"], "", sub="svc-roster")
            await c.post("/internal/events", headers=svc, json=_event())

            async def active() -> bool:
                listed = (await c.get("/api/v1/webhooks", headers=prov)).json()["items"]
                return bool(listed[0]["active"])

            await _drain(gw, lambda: receiver.fail_next <= 98, rounds=30)
            assert await active()  # two failures: still on
            await _drain(gw, lambda: receiver.fail_next <= 97, rounds=30)
            listed = (await c.get("/api/v1/webhooks", headers=prov)).json()["items"]
            assert listed[0]["active"] is False and listed[0]["disabled_reason"]
            assert receiver.received == []
    finally:
        await ctx.__aexit__(None, None, None)
        await receiver.stop()
