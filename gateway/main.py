"""The gateway: identity, the policy table, forwarding, aggregated OpenAPI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.middleware.cors import CORSMiddleware

from gateway import identity
from gateway.api import router as auth_router
from gateway.api import wellknown
from gateway.config import GatewaySettings
from gateway.keys import load_keyring
from gateway.models import KERNEL_TABLES
from gateway.openapi import OpenAPIAggregator
from gateway.policy import PolicyTable
from gateway.proxy import Forwarder, send_problem
from gateway.throttle import FailureThrottle, RateLimiter
from gateway.webhooks.api import internal as internal_router
from gateway.webhooks.api import router as webhooks_router
from gateway.webhooks.service import DELIVER_TOPIC, WebhookDeliverer
from kernel.app import RefuseUnstorableText, decorate_openapi, operation_id
from kernel.db import Database
from kernel.errors import install_error_handlers
from kernel.health import health_router
from kernel.http import make_client, make_transport
from kernel.jwt import Issuer, RemoteKeySet, TokenVerifier
from kernel.observability import (
    Metrics,
    ObservabilityMiddleware,
    Receive,
    Scope,
    Send,
    configure_logging,
)
from kernel.outbox import OutboxRelay, RetryPolicy

MIGRATIONS = Path(__file__).parent / "migrations"
PROXIED = ("/api/v1/roster/", "/api/v1/recruitment/", "/api/v1/compensation/")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


async def _check_services(request: Request) -> dict[str, Any]:
    client: httpx.AsyncClient = request.app.state.http
    upstreams: dict[str, str] = request.app.state.settings.service_urls()

    async def one(base: str) -> str:
        try:
            response = await client.get(base + "/readyz", timeout=2.0)
        except httpx.HTTPError:
            return "down"
        return "ok" if response.status_code == 200 else "not_ready"

    results = await asyncio.gather(*(one(b) for b in upstreams.values()))
    services = dict(zip(upstreams, results, strict=True))
    down = sorted(n for n, s in services.items() if s != "ok")
    # A service being down degrades the gateway but must not take it out of rotation:
    # the other services keep serving through it.
    return {"status": "ok", "services": services, "degraded": down}


async def bootstrap_identity(db: Database, settings: GatewaySettings) -> None:
    """The admin and the internal clients. Two replicas starting together on a fresh
    database race here; the loser sees the winner's rows on its second pass."""
    for attempt in range(2):
        try:
            async with db.transaction() as session:
                await identity.ensure_admin(session, settings.effective_admin_password())
                for client_id, secret in settings.service_clients().items():
                    await identity.ensure_service_client(session, client_id, secret)
            return
        except IntegrityError:
            if attempt == 1:
                raise


def build_api(settings: GatewaySettings) -> FastAPI:
    configure_logging(settings.log_level, json_lines=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(settings.database_url, pool_size=settings.db_pool_size)
        # One shared, pooled client towards the services. The forwarder sends on its
        # transport (the same pool) without the client's layers (gateway/proxy.py).
        forwarding = make_transport()
        app.state.http = make_client(
            timeout=settings.upstream_timeout_seconds, transport=forwarding
        )
        keyring = load_keyring(settings)
        app.state.keyring = keyring
        issuers = [
            Issuer(
                settings.jwt_issuer,
                settings.jwt_audience,
                local_keys={k.kid: k for k in keyring.published},
            )
        ]
        for ext in settings.external_issuers:
            issuers.append(
                Issuer(
                    ext.issuer,
                    ext.audience or settings.jwt_audience,
                    remote=RemoteKeySet(
                        ext.jwks_url,
                        app.state.http,
                        min_refresh_seconds=settings.jwks_refresh_min_seconds,
                    ),
                )
            )
        app.state.token_verifier = TokenVerifier(issuers, leeway=settings.jwt_leeway_seconds)
        policy = PolicyTable()
        app.state.policy = policy
        app.state.forwarder = Forwarder(
            policy=policy,
            verifier=app.state.token_verifier,
            transport=forwarding,
            upstreams=settings.service_urls(),
            max_body_bytes=settings.max_body_bytes,
            public_limiter=RateLimiter(settings.public_rate_per_minute),
            timeout=httpx.Timeout(
                settings.upstream_timeout_seconds, connect=settings.upstream_connect_timeout_seconds
            ),
        )
        app.state.openapi_aggregator = OpenAPIAggregator(
            app.state.http, settings.service_urls(), policy
        )
        await bootstrap_identity(app.state.db, settings)
        app.state.webhook_http = make_client(timeout=settings.webhook_timeout_seconds)
        relay = OutboxRelay(
            app.state.db,
            KERNEL_TABLES.outbox,
            {DELIVER_TOPIC: WebhookDeliverer(app.state.db, app.state.webhook_http, settings)},
            poll_seconds=settings.outbox_poll_seconds,
            name="webhooks",
            concurrency=settings.webhook_delivery_concurrency,
            metrics=app.state.metrics,
            retry=RetryPolicy(
                base_seconds=settings.webhook_retry_base_seconds,
                max_seconds=settings.webhook_retry_max_seconds,
                max_attempts=settings.webhook_max_attempts,
            ),
        )
        app.state.webhook_relay = relay
        if settings.outbox_enabled:
            relay.start()
        try:
            yield
        finally:
            await relay.stop()
            await app.state.webhook_http.aclose()
            await app.state.http.aclose()
            await app.state.db.dispose()

    app = FastAPI(
        title="auxpol gateway",
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics("gateway")
    app.state.login_throttle = FailureThrottle(
        settings.login_max_failures, settings.login_window_seconds
    )
    app.state.ip_throttle = FailureThrottle(
        settings.login_ip_max_failures, settings.login_window_seconds
    )
    app.state.kernel_tables = KERNEL_TABLES
    app.state.webhook_relay = None
    install_error_handlers(app)
    app.add_middleware(RefuseUnstorableText)
    app.include_router(health_router({"services": _check_services}))
    app.include_router(auth_router)
    app.include_router(wellknown)
    app.include_router(webhooks_router)
    app.include_router(internal_router)

    @app.get("/openapi.json", include_in_schema=False)
    async def aggregated_openapi(request: Request) -> JSONResponse:
        own = app_openapi(app)
        doc, missing = await request.app.state.openapi_aggregator.document(own)
        headers = {"X-Missing-Services": ",".join(missing)} if missing else None
        return JSONResponse(doc, headers=headers)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="auxpol API")

    return app


def app_openapi(app: FastAPI) -> dict[str, Any]:
    from fastapi.openapi.utils import get_openapi

    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        decorate_openapi(schema)
        app.openapi_schema = schema
    return app.openapi_schema


class Gateway:
    """Outermost ASGI app: forwards the service prefixes, serves everything else
    with FastAPI, and adds request ids, metrics, access logs, CORS and headers."""

    def __init__(self, settings: GatewaySettings | None = None) -> None:
        self.settings = settings or GatewaySettings()
        self.api = build_api(self.settings)
        inner: Any = self._dispatch
        if self.settings.cors_origins:
            inner = CORSMiddleware(
                inner,
                allow_origins=self.settings.cors_origins,
                allow_credentials="*" not in self.settings.cors_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "If-Match",
                    "Idempotency-Key",
                    "X-Request-ID",
                    "Accept",
                ],
                expose_headers=["ETag", "X-Request-ID", "Retry-After", "Location"],
            )
        self.app = ObservabilityMiddleware(self._headers(inner), self.api.state.metrics)

    @property
    def state(self) -> Any:
        return self.api.state

    def _headers(self, app: Any) -> Any:
        async def with_headers(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            is_docs = scope["path"] == "/docs"

            async def send_wrapper(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers.extend(SECURITY_HEADERS)
                    if not is_docs:
                        headers.append(API_CSP)
                    message["headers"] = headers
                await send(message)

            await app(scope, receive, send_wrapper)

        return with_headers

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROXIED):
            forwarder: Forwarder | None = getattr(self.api.state, "forwarder", None)
            if forwarder is None:
                await send_problem(
                    send, 503, "starting", "Service unavailable", "the gateway is starting"
                )
                return
            await forwarder(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            for key, value in scope["headers"]:
                if (
                    key == b"content-length"
                    and value.isdigit()
                    and (int(value) > self.settings.max_body_bytes)
                ):
                    await send_problem(
                        send,
                        413,
                        "payload_too_large",
                        "Request body too large",
                        f"the limit is {self.settings.max_body_bytes} bytes",
                    )
                    return
        await self.api(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app() -> Gateway:
    return Gateway()
