"""The batch event intake and the services' batched relay: duplicates inside a batch
and across batches, refused events beside accepted ones, a re-sent batch creating
nothing twice, and a service outbox of 5,000 events relayed in a handful of calls."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.main import MIGRATIONS, Gateway
from gateway.models import KERNEL_TABLES, WebhookDelivery, WebhookEvent
from kernel.app import bundle_publisher, event_batch_publisher
from kernel.db import Database
from kernel.outbox import OutboxRelay, enqueue_many, pending_count
from kernel.settings import ServiceSettings
from kernel.testing import scratch_database

from .test_webhooks import _event, _settings, _started, _token

OUTBOX = KERNEL_TABLES.outbox


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with scratch_database("event_batches", MIGRATIONS) as url:
        yield url


async def _count(gw: Gateway, model: Any) -> int:
    async with gw.state.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar() or 0)


async def _subscribe(c: httpx.AsyncClient, gw: Gateway, region: str = "37") -> None:
    r = await c.post(
        "/api/v1/webhooks",
        headers=_token(gw, ["province_admin"], region),
        json={"url": "http://127.0.0.1:9/hook", "events": ["personnel.created"], "region": region},
    )
    assert r.status_code == 201, r.text


async def test_batch_intake_is_idempotent_per_event(tmp_path: Path, database_url: str) -> None:
    gw, ctx = await _started(_settings(tmp_path, database_url))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            await _subscribe(c, gw)
            await _subscribe(c, gw, "3713")
            svc = _token(gw, ["service"], "", sub="svc-roster")
            a, b, elsewhere = _event(), _event(), _event(region="130102")
            bad = {**_event(), "type": "plan.exploded"}
            unknown = {**_event(), "extra": 1}
            batch = [a, b, a, bad, elsewhere, unknown]  # `a` twice in the same batch
            r = await c.post("/internal/events/batch", headers=svc, json={"events": batch})
            assert r.status_code == 200, r.text
            body = r.json()
            assert [x["status"] for x in body["results"]] == [
                "accepted",
                "accepted",
                "duplicate",
                "rejected",
                "accepted",
                "rejected",
            ]
            assert [x["deliveries"] for x in body["results"]] == [2, 2, 0, 0, 0, 0]
            ids = [x["event_id"] for x in body["results"]]
            assert ids[:3] == [a["event_id"], b["event_id"], a["event_id"]]
            assert body["results"][3]["errors"][0]["loc"] == ["type"]
            assert body["results"][5]["errors"] == [{"loc": ["extra"], "msg": "unknown field"}]
            assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 1, 2)
            assert body["deliveries"] == 4
            assert await _count(gw, WebhookDelivery) == 4

            # the same batch again (the relay lost the answer): nothing is created twice
            again = await c.post("/internal/events/batch", headers=svc, json={"events": batch})
            assert [x["status"] for x in again.json()["results"]] == [
                "duplicate",
                "duplicate",
                "duplicate",
                "rejected",
                "duplicate",
                "rejected",
            ]
            assert again.json()["deliveries"] == 0
            # a later batch overlapping an earlier one, and the single-event intake
            c2 = _event()
            r = await c.post("/internal/events/batch", headers=svc, json={"events": [b, c2]})
            assert [x["status"] for x in r.json()["results"]] == ["duplicate", "accepted"]
            r = await c.post("/internal/events", headers=svc, json=c2)
            assert r.status_code == 202 and r.json()["duplicate"] is True
            assert await _count(gw, WebhookDelivery) == 6
            assert await _count(gw, WebhookEvent) == 4
            async with gw.state.db.session() as s:
                assert await pending_count(s, OUTBOX) == 6  # one delivery row each

            # the batch itself is checked: not empty, not above the limit, services only
            r = await c.post("/internal/events/batch", headers=svc, json={"events": []})
            assert r.status_code == 422
            many = {"events": [_event() for _ in range(1001)]}
            r = await c.post("/internal/events/batch", headers=svc, json=many)
            assert r.status_code == 422
            prov = _token(gw, ["province_admin"], "37")
            r = await c.post("/internal/events/batch", headers=prov, json={"events": [_event()]})
            assert r.status_code == 403
    finally:
        await ctx.__aexit__(None, None, None)


async def test_batch_intake_stores_each_event_as_sent(tmp_path: Path, database_url: str) -> None:
    """The stored row of each event: its time as an instant, and the body subscribers
    are sent, its timestamp written as the event gave it. A time without an offset is
    no instant: that event is refused (it was a 500 on SQLite, and read as UTC on
    PostgreSQL)."""
    gw, ctx = await _started(_settings(tmp_path, database_url))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gw"
        ) as c:
            svc = _token(gw, ["service"], "", sub="svc-roster")
            shanghai = {**_event(), "occurred_at": "2026-11-22T16:00:00+08:00"}
            naive = {**_event(region="3713"), "occurred_at": "2026-11-22T08:00:00"}
            named = {**_event(), "data": {"unit": "莒南县公安局", "personnel_id": 3}}
            utc = {**_event(), "occurred_at": "2026-11-22T08:00:00+00:00"}  # == shanghai's
            batch = [shanghai, naive, named, utc]
            r = await c.post("/internal/events/batch", headers=svc, json={"events": batch})
            assert r.status_code == 200, r.text
            answer = r.json()
            assert [x["status"] for x in answer["results"]] == [
                "accepted", "rejected", "accepted", "accepted",
            ]  # fmt: skip
            assert answer["results"][1]["errors"][0]["loc"] == ["occurred_at"]
        async with gw.state.db.session() as s:
            rows = {
                e.event_id: e
                for e in (await s.execute(select(WebhookEvent).order_by(WebhookEvent.id))).scalars()
            }
        eight = datetime(2026, 11, 22, 8, tzinfo=UTC)
        assert rows[shanghai["event_id"]].occurred_at == eight
        assert rows[shanghai["event_id"]].body == {
            "id": shanghai["event_id"],
            "type": "personnel.created",
            "timestamp": "2026-11-22T16:00:00+08:00",
            "region": "371327",
            "data": shanghai["data"],
        }
        assert rows[named["event_id"]].body["data"] == {"unit": "莒南县公安局", "personnel_id": 3}
        assert rows[utc["event_id"]].occurred_at == eight
        assert rows[utc["event_id"]].body["timestamp"] == "2026-11-22T08:00:00+00:00"
        assert list(rows) == [shanghai["event_id"], named["event_id"], utc["event_id"]]
    finally:
        await ctx.__aexit__(None, None, None)


class _Counting(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, refuse: set[str] | None = None) -> None:
        self.inner = inner
        self.paths: list[str] = []
        self.refuse = refuse or set()
        self.fail_next = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path in self.refuse:
            return httpx.Response(404, json={"code": "route_not_found"})
        if self.fail_next and request.url.path.startswith("/internal/"):
            self.fail_next -= 1
            return httpx.Response(503, json={"code": "database_unavailable"})
        return await self.inner.handle_async_request(request)


class _Tokens:
    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    async def headers(self) -> dict[str, str]:
        return self._headers


def _service_side(gw: Gateway, transport: httpx.AsyncBaseTransport) -> Any:
    client = httpx.AsyncClient(transport=transport, base_url="http://gw")
    tokens = _Tokens(_token(gw, ["service"], "", sub="svc-roster"))
    return types.SimpleNamespace(state=types.SimpleNamespace(http=client, service_tokens=tokens))


def _announcements(n: int, start: int = 0) -> list[tuple[str, dict[str, Any], str]]:
    return [
        (
            "personnel.created",
            {
                "event_id": f"personnel.created:{i}",
                "type": "personnel.created",
                "occurred_at": "2026-11-22T08:00:00+00:00",
                "region": "371327",
                "data": {"personnel_id": i, "url": f"/api/v1/roster/personnel/{i}"},
            },
            f"o{i}",
        )
        for i in range(start, start + n)
    ]


async def test_5000_events_are_relayed_in_a_handful_of_calls(
    tmp_path: Path, database_url: str
) -> None:
    gw, ctx = await _started(_settings(tmp_path, database_url))
    async with scratch_database("event_batches_svc", MIGRATIONS) as svc_url:
        svc_db = Database(svc_url)
        transport = _Counting(httpx.ASGITransport(app=gw))
        app = _service_side(gw, transport)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gw), base_url="http://gw"
            ) as c:
                await _subscribe(c, gw)
            async with svc_db.transaction() as s:
                await enqueue_many(s, OUTBOX, _announcements(5000))
            settings = ServiceSettings(service_name="roster", gateway_url="http://gw")
            assert settings.outbox_batch_size == 500
            publish = event_batch_publisher(app, settings)
            relay = OutboxRelay(
                svc_db,
                OUTBOX,
                {},
                batch_handlers={"personnel.created": publish},
                send_batch_size=settings.outbox_batch_size,
            )
            transport.fail_next = 1  # the gateway is briefly unavailable: retried, not lost
            relay.retry.base_seconds = relay.retry.max_seconds = 0.001
            await relay.drain(max_rounds=50)
            for _ in range(20):
                if not await _pending(svc_db):
                    break
                await relay.drain(max_rounds=50)
            assert await _pending(svc_db) == 0
            assert transport.paths.count("/internal/events/batch") == 11  # 10 + the 503
            assert "/internal/events" not in transport.paths
            assert await _count(gw, WebhookEvent) == 5000
            assert await _count(gw, WebhookDelivery) == 5000
        finally:
            await app.state.http.aclose()
            await svc_db.dispose()
            await ctx.__aexit__(None, None, None)


async def _pending(db: Database) -> int:
    async with db.session() as s:
        return await pending_count(s, OUTBOX)


async def test_a_gateway_without_the_batch_intake_gets_events_one_by_one(
    tmp_path: Path, database_url: str
) -> None:
    """A rolling upgrade may run new services against an old gateway: a 404 from the
    batch intake sends that batch through the single-event intake instead."""
    gw, ctx = await _started(_settings(tmp_path, database_url))
    async with scratch_database("event_batches_old", MIGRATIONS) as svc_url:
        svc_db = Database(svc_url)
        transport = _Counting(httpx.ASGITransport(app=gw), refuse={"/internal/events/batch"})
        app = _service_side(gw, transport)
        try:
            async with svc_db.transaction() as s:
                await enqueue_many(s, OUTBOX, _announcements(3))
                bad = _announcements(1, start=3)[0]
                await enqueue_many(s, OUTBOX, [(bad[0], {**bad[1], "region": "x" * 20}, bad[2])])
            settings = ServiceSettings(service_name="roster", gateway_url="http://gw")
            relay = OutboxRelay(
                svc_db,
                OUTBOX,
                {},
                batch_handlers={"personnel.created": event_batch_publisher(app, settings)},
            )
            await relay.drain()
            assert transport.paths == ["/internal/events/batch"] + ["/internal/events"] * 4
            async with svc_db.session() as s:
                rows = dict((await s.execute(select(OUTBOX.c.event_id, OUTBOX.c.status))).all())
            assert rows == {"o0": "delivered", "o1": "delivered", "o2": "delivered", "o3": "dead"}
            assert await _count(gw, WebhookEvent) == 3
        finally:
            await app.state.http.aclose()
            await svc_db.dispose()
            await ctx.__aexit__(None, None, None)


async def test_a_bundle_is_announced_event_by_event_in_batches(
    tmp_path: Path, database_url: str
) -> None:
    """A bulk operation's bundle row (kernel `bundled_events`): its events reach the
    intake `limit` at a time; a failed call retries the row whole without delivering
    anything twice; a malformed event dead-letters the row after the others went."""
    gw, ctx = await _started(_settings(tmp_path, database_url))
    async with scratch_database("event_batches_bundle", MIGRATIONS) as svc_url:
        svc_db = Database(svc_url)
        transport = _Counting(httpx.ASGITransport(app=gw))
        app = _service_side(gw, transport)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gw), base_url="http://gw"
            ) as c:
                await _subscribe(c, gw)
            good = {"events": [p for _, p, _ in _announcements(2500)]}
            bad_events = [p for _, p, _ in _announcements(3, start=5000)]
            bad_events[1] = {**bad_events[1], "region": "x" * 20}
            async with svc_db.transaction() as s:
                await enqueue_many(
                    s,
                    OUTBOX,
                    [
                        ("personnel.created.bundle", good, "bundle:0"),
                        ("personnel.created.bundle", {"events": bad_events}, "bundle:5000"),
                    ],
                )
            settings = ServiceSettings(service_name="roster", gateway_url="http://gw")
            send = bundle_publisher(event_batch_publisher(app, settings), limit=1000)
            relay = OutboxRelay(svc_db, OUTBOX, {"personnel.created.bundle": send})
            relay.retry.base_seconds = relay.retry.max_seconds = 0.001
            # the second call of the big bundle fails: the row is retried whole
            original = transport.handle_async_request
            seen = {"n": 0}

            async def second_call_fails(request: httpx.Request) -> httpx.Response:
                seen["n"] += 1
                if seen["n"] == 2:
                    return httpx.Response(503, json={"code": "database_unavailable"})
                return await original(request)

            transport.handle_async_request = second_call_fails  # type: ignore[method-assign]
            for _ in range(10):
                await relay.drain(max_rounds=20)
                async with svc_db.session() as s:
                    rows = dict((await s.execute(select(OUTBOX.c.event_id, OUTBOX.c.status))).all())
                if "pending" not in rows.values():
                    break
            assert rows == {"bundle:0": "delivered", "bundle:5000": "dead"}
            # the big bundle (claimed first): 1 call taken, 1 failed, then all 3 again
            # (the first 1,000 come back as duplicates); 1 call for the bad bundle
            assert seen["n"] == 2 + 3 + 1
            assert await _count(gw, WebhookEvent) == 2500 + 2
            assert await _count(gw, WebhookDelivery) == 2500 + 2
        finally:
            await app.state.http.aclose()
            await svc_db.dispose()
            await ctx.__aexit__(None, None, None)
