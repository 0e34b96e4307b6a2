from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.config import GatewaySettings
from gateway.main import MIGRATIONS, Gateway
from kernel.testing import scratch_database


def stub_upstream() -> FastAPI:
    """Stands in for the services: answers 200 with what it received."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(path: str, request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "path": "/" + path,
                "method": request.method,
                "authorization": request.headers.get("authorization"),
                "request_id": request.headers.get("x-request-id"),
                "body_length": len(body),
                "cookie": request.headers.get("cookie"),
            },
            headers={"x-upstream": "stub", "set-cookie": "upstream-session=one-caller; Path=/"},
        )

    return app


@pytest.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    data = tmp_path_factory.mktemp("gw")
    async with scratch_database("gateway", MIGRATIONS) as url:
        settings = GatewaySettings(
            profile="dev",
            data_dir=Path(data),
            database_url=url,
            admin_password="admin-test-pw-1",
            max_body_bytes=4096,
            login_max_failures=3,
            login_window_seconds=60,
            recruitment_client_secret="svc-secret-recruitment",
        )
        gw = Gateway(settings)
        async with gw.api.router.lifespan_context(gw.api):
            gw.state.forwarder.transport = httpx.ASGITransport(app=stub_upstream())
            yield gw


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway), base_url="http://gw"
    ) as c:
        yield c


async def token(
    client: httpx.AsyncClient, username: str = "admin", password: str = "admin-test-pw-1"
) -> str:
    r = await client.post(
        "/auth/token", data={"grant_type": "password", "username": username, "password": password}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(tok: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {tok}"}
