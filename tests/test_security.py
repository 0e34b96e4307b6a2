"""Security controls that docs/security.md maps to the OWASP API Security Top 10 and
that no other test covered: anonymous writes are rate limited (API4, API6), the
outbound client never follows a redirect and URL spellings of private addresses are
refused (API7), a crash answers a bare problem and every answer carries the security
headers (API8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from aiohttp import web
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.config import GatewaySettings
from gateway.main import MIGRATIONS, Gateway
from gateway.models import KERNEL_TABLES
from gateway.webhooks import ssrf
from kernel.app import ServiceSpec, create_service_app
from kernel.auth import Principal, require
from kernel.http import make_client
from kernel.routing import TransactionalRoute
from kernel.settings import ProcessSettings
from kernel.testing import TestIssuer, running_service, scratch_database

PUBLIC_WRITE = "/api/v1/recruitment/public/announcements/1/applications"


@pytest.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    async with scratch_database("gateway", MIGRATIONS) as url:
        settings = GatewaySettings(
            profile="dev",
            data_dir=Path(tmp_path_factory.mktemp("gw")),
            database_url=url,
            admin_password="admin-test-pw-1",
            public_rate_per_minute=3,
        )
        gw = Gateway(settings)
        async with gw.api.router.lifespan_context(gw.api):
            gw.state.forwarder.transport = httpx.ASGITransport(app=_upstream())
            yield gw


def _upstream() -> FastAPI:
    """Stands in for the services: 201 for a write, 200 for a read."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def answer(path: str, request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({}, status_code=201 if request.method == "POST" else 200)

    return app


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gateway, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        yield c


async def test_anonymous_writes_are_rate_limited_per_client(client: httpx.AsyncClient) -> None:
    """The public registration is the one write without a token: a script filling it in
    is slowed down per address (API4, API6)."""
    answers = [(await client.post(PUBLIC_WRITE, json={})).status_code for _ in range(4)]
    assert answers[:3] == [201, 201, 201]
    refused = await client.post(PUBLIC_WRITE, json={})
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_requests"
    assert int(refused.headers["retry-after"]) >= 1
    # reading the announcements is not limited
    assert (await client.get("/api/v1/recruitment/public/announcements")).status_code == 200


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/v1/roster/personnel"),  # 401 from the gateway itself
        await client.get("/livez"),
        await client.get("/api/v1/nothing"),
    ):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "access-control-allow-origin" not in headers  # no CORS unless configured


@pytest.mark.parametrize(
    "url",
    [
        "http://127.1/hook",  # short form of 127.0.0.1
        "http://2130706433/hook",  # 127.0.0.1 as one number
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT, not global
        "http://[fd00::1]/hook",  # unique local IPv6
        "http://192.168.1.1./hook",  # trailing dot
        "http://169.254.169.254./latest/meta-data",
        "http://0x7f000001/hook",
    ],
)
async def test_spellings_of_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(ssrf.UnsafeUrl):
        await ssrf.check(url, allowed_hosts=[])


async def test_the_outbound_client_never_follows_a_redirect() -> None:
    """A receiver that passed the URL check could redirect a delivery to an internal
    address; the client that delivers webhooks (and calls services) does not follow."""
    inside_hits: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/inside")

    async def inside(request: web.Request) -> web.Response:
        inside_hits.append(request.path)
        return web.Response(text="secret")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/inside", inside)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = make_client(timeout=5)
    try:
        response = await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
        assert response.status_code == 307 and response.headers["location"] == "/inside"
        assert inside_hits == []
    finally:
        await client.aclose()
        await runner.cleanup()


crashing = APIRouter(prefix="/api/v1/crash", route_class=TransactionalRoute)


@crashing.get("/boom")
async def boom(who: Annotated[Principal, Depends(require("county_admin"))]) -> dict[str, str]:
    raise RuntimeError("password=hunter2 at postgresql://db.internal/roster")


async def test_a_crash_answers_a_bare_problem(issuer: TestIssuer, tmp_path: Path) -> None:
    """Nothing of the failure reaches the caller: no trace, no message, no address (API8)."""

    def factory(settings: ProcessSettings) -> object:
        return create_service_app(
            ServiceSpec(
                name="crash",
                title="t",
                version="1",
                settings=settings,
                routers=[crashing],
                kernel_tables=KERNEL_TABLES,
                api_prefix="/api/v1/crash",
            )
        )

    async with scratch_database("crash", MIGRATIONS) as url:
        settings = ProcessSettings(service_name="crash", database_url=url)
        async with running_service(factory, settings, issuer) as app:  # type: ignore[arg-type]
            # as uvicorn does: the app's exception is logged, the client gets the answer
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                r = await c.get("/api/v1/crash/boom", headers=issuer.headers("county_admin"))
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "internal_error"
    for leak in ("hunter2", "postgresql", "db.internal", "Traceback", "RuntimeError"):
        assert leak not in r.text


async def test_a_missing_or_garbled_service_document_is_reported_not_cached() -> None:
    """The gateway consumes the services' OpenAPI: one that is down or answers garbage is
    left out and named in X-Missing-Services, and the partial document is not cached (API10)."""
    from gateway.openapi import OpenAPIAggregator
    from gateway.policy import PolicyTable

    answers = {"roster": b"<html>not json</html>", "recruitment": None}

    def upstream(request: httpx.Request) -> httpx.Response:
        name = request.url.host
        body = answers.get(name, b'{"openapi": "3.1.0", "paths": {}, "components": {}}')
        if body is None:
            raise httpx.ConnectError("down", request=request)
        return httpx.Response(200, content=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    urls = {name: f"http://{name}" for name in ("roster", "recruitment", "compensation")}
    aggregator = OpenAPIAggregator(client, urls, PolicyTable())
    own = {"openapi": "3.1.0", "info": {"title": "g", "version": "1"}, "paths": {}}
    doc, missing = await aggregator.document(own)
    assert missing == ["recruitment", "roster"]
    assert doc["info"]["title"] == "auxpol API"
    answers.clear()  # the services are back: the next request sees them at once
    _, missing = await aggregator.document(own)
    assert missing == []
    await client.aclose()
