"""The app factory every service uses: lifespan owning the engine, the shared
`httpx.AsyncClient`, the token verifier and the outbox relay; the error handlers;
health and metrics; stable operation ids and declared problem responses."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from kernel.db import Database
from kernel.errors import Problem, install_error_handlers, problem_response
from kernel.health import ReadinessCheck, health_router
from kernel.http import make_client
from kernel.jwt import Issuer, RemoteKeySet, TokenVerifier
from kernel.observability import Metrics, ObservabilityMiddleware, configure_logging
from kernel.openapi import name_schemas
from kernel.outbox import BatchHandler, Claimed, Handler, OutboxRelay, Outcome, PermanentFailure
from kernel.service_client import ServiceTokenProvider
from kernel.settings import ProcessSettings, ServiceSettings
from kernel.tables import KernelTables

Hook = Callable[[FastAPI], Awaitable[None]]
BundleReader = Callable[[dict[str, Any]], list[Any]]  # a bundle's payload → its events


@dataclass
class ServiceSpec:
    name: str
    title: str
    version: str
    settings: ProcessSettings
    routers: Sequence[APIRouter]
    kernel_tables: KernelTables
    api_prefix: str
    description: str = ""
    relay_handlers: Callable[[FastAPI], dict[str, Handler]] | None = None
    on_startup: Sequence[Hook] = field(default_factory=list)
    on_shutdown: Sequence[Hook] = field(default_factory=list)
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    # Outbox topics that are announced to provincial webhook subscribers: the relay
    # hands them to the gateway's event intake.
    published_events: Sequence[str] = ()
    # Outbox topics of bundles: one row written by a bulk operation instead of a row per
    # event, and how to read its announced events (`listed_events`: a payload of
    # {"events": [event, ...]}). The relay hands the events to the gateway's intake in
    # batches; the receivers see them one by one.
    bundled_events: Mapping[str, BundleReader] = field(default_factory=dict)


def build_verifier(settings: ProcessSettings, app: FastAPI) -> TokenVerifier:
    client = app.state.http
    issuers = []
    if settings.jwks_url:
        issuers.append(
            Issuer(
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                remote=RemoteKeySet(
                    settings.jwks_url, client, min_refresh_seconds=settings.jwks_refresh_min_seconds
                ),
            )
        )
    else:
        issuers.append(Issuer(issuer=settings.jwt_issuer, audience=settings.jwt_audience))
    for ext in settings.external_issuers:
        issuers.append(
            Issuer(
                issuer=ext.issuer,
                audience=ext.audience or settings.jwt_audience,
                remote=RemoteKeySet(
                    ext.jwks_url, client, min_refresh_seconds=settings.jwks_refresh_min_seconds
                ),
            )
        )
    return TokenVerifier(issuers, leeway=settings.jwt_leeway_seconds)


def _announced(event_id: str, payload: dict[str, Any], topic: str) -> dict[str, Any]:
    """The event as the intake takes it: its id and type from the outbox row where the
    payload has none (a bundle's events carry both, and go as they are)."""
    if payload.get("event_id") and payload.get("type"):
        return payload
    return {
        **payload,
        "event_id": payload.get("event_id") or event_id,
        "type": payload.get("type") or topic,
    }


def event_publisher(app: FastAPI, settings: ServiceSettings, topic: str) -> Handler:
    """Relay handler: hand an announced event to the gateway's intake, which fans it
    out to webhook subscribers. The intake is idempotent on the event id."""
    url = settings.gateway_url.rstrip("/") + "/internal/events"

    async def publish(event_id: str, payload: dict[str, Any]) -> None:
        body = _announced(event_id, payload, topic)
        headers = await app.state.service_tokens.headers()
        response = await app.state.http.post(url, json=body, headers=headers)
        if response.status_code in (200, 201, 202):
            return
        if response.status_code in (400, 403, 404, 422):
            raise PermanentFailure(f"event intake refused the event: {response.status_code}")
        raise RuntimeError(f"event intake answered {response.status_code}")

    return publish


# Whole-batch answers that mean "this gateway cannot take the batch as such" (one that
# predates the batch intake during a rolling upgrade, or a batch above its limit): the
# events are then sent one by one to the single-event intake, which judges each.
_BATCH_UNSUPPORTED = (404, 405, 413, 422)


def event_batch_publisher(app: FastAPI, settings: ServiceSettings) -> BatchHandler:
    """Relay batch handler: hand up to `outbox_batch_size` announced events to the
    gateway's batch intake in one call. The intake answers one result per event, in
    order; accepted and duplicate events count as delivered, refused ones are dead
    letters (as a 422 of the single intake), and everything else is retried."""
    url = settings.gateway_url.rstrip("/") + "/internal/events/batch"
    one_by_one: dict[str, Handler] = {}

    async def singly(items: Sequence[Claimed]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for item in items:
            handler = one_by_one.setdefault(item.topic, event_publisher(app, settings, item.topic))
            try:
                await handler(item.event_id, item.payload)
                outcomes.append(None)
            except Exception as exc:  # recorded per event by the relay
                outcomes.append(exc)
        return outcomes

    async def publish(items: Sequence[Claimed]) -> Sequence[Outcome]:
        body = {"events": [_announced(i.event_id, i.payload, i.topic) for i in items]}
        headers = await app.state.service_tokens.headers()
        response = await app.state.http.post(url, json=body, headers=headers)
        if response.status_code in _BATCH_UNSUPPORTED:
            return await singly(items)
        if response.status_code in (400, 403):
            raise PermanentFailure(f"event intake refused the batch: {response.status_code}")
        if response.status_code != 200:
            raise RuntimeError(f"event intake answered {response.status_code}")
        try:
            results = response.json()["results"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeError("event intake answered an unreadable batch result") from exc
        if not isinstance(results, list) or len(results) != len(items):
            raise RuntimeError("event intake answered a result count unlike the batch")
        outcomes: list[Outcome] = []
        for result in results:
            state = result.get("status") if isinstance(result, dict) else None
            if state in ("accepted", "duplicate"):
                outcomes.append(None)
            elif state == "rejected":
                why = json.dumps(result.get("errors"), ensure_ascii=False)[:500]
                outcomes.append(PermanentFailure(f"event intake refused the event: {why}"))
            else:
                outcomes.append(RuntimeError(f"event intake answered {state!r} for the event"))
        return outcomes

    return publish


BUNDLE_LIMIT = 1000  # events per call to the batch intake (its own limit)


def listed_events(payload: dict[str, Any]) -> list[Any]:
    """A bundle's events when its payload lists them: {"events": [event, ...]}."""
    events = payload.get("events")
    if not isinstance(events, list):
        raise ValueError("the bundle lists no events")
    return events


def bundle_publisher(
    publish: BatchHandler, limit: int = BUNDLE_LIMIT, read: BundleReader = listed_events
) -> Handler:
    """Relay handler for a bundle row: its events (`read` from the payload) go to the
    batch intake `limit` at a time. A call that fails fails the row, which is retried
    whole: the intake is idempotent on event ids, so the events it took before come
    back as duplicates. Events the intake refuses (malformed) dead-letter the row once
    every other event has been handed over; so does a payload `read` cannot read."""

    async def send(event_id: str, payload: dict[str, Any]) -> None:
        try:
            events = read(payload)
        except ValueError as exc:
            raise PermanentFailure(f"bundle {event_id} cannot be read: {exc}") from exc
        if not events:
            raise PermanentFailure(f"bundle {event_id} holds no events")
        refused: list[str] = []
        for start in range(0, len(events), limit):
            chunk = events[start : start + limit]
            items = [
                Claimed(
                    id=0,
                    event_id=str(e.get("event_id") or f"{event_id}#{start + n}"),
                    topic=str(e.get("type") or ""),
                    payload=e,
                    attempts=0,
                )
                for n, e in enumerate(chunk)
                if isinstance(e, dict)
            ]
            if len(items) != len(chunk):
                raise PermanentFailure(f"bundle {event_id} holds an event that is not an object")
            for item, outcome in zip(items, await publish(items), strict=True):
                if isinstance(outcome, PermanentFailure):
                    refused.append(f"{item.event_id}: {outcome}")
                elif outcome is not None:
                    raise outcome
        if refused:
            raise PermanentFailure(
                f"{len(refused)} of {len(events)} events refused: " + "; ".join(refused[:3])
            )

    return send


def operation_id(route: APIRoute) -> str:
    return route.name


def create_service_app(spec: ServiceSpec) -> FastAPI:
    settings = spec.settings
    configure_logging(settings.log_level, json_lines=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(settings.database_url, pool_size=settings.db_pool_size)
        app.state.http = make_client(timeout=settings.http_timeout_seconds)
        app.state.token_verifier = build_verifier(settings, app)
        if isinstance(settings, ServiceSettings):
            app.state.service_tokens = ServiceTokenProvider(
                app.state.http, settings.token_url, settings.client_id, settings.client_secret
            )
        relay: OutboxRelay | None = None
        handlers = dict(spec.relay_handlers(app)) if spec.relay_handlers is not None else {}
        batch_handlers: dict[str, BatchHandler] = {}
        send_batch_size = 500
        if spec.published_events and isinstance(settings, ServiceSettings):
            publish = event_batch_publisher(app, settings)
            batch_handlers = dict.fromkeys(spec.published_events, publish)
            send_batch_size = settings.outbox_batch_size
            for topic, read in spec.bundled_events.items():
                handlers[topic] = bundle_publisher(publish, read=read)
        if handlers or batch_handlers:
            relay = OutboxRelay(
                app.state.db,
                spec.kernel_tables.outbox,
                handlers,
                batch_handlers=batch_handlers,
                send_batch_size=send_batch_size,
                poll_seconds=settings.outbox_poll_seconds,
                name=spec.name,
                metrics=app.state.metrics,
            )
            app.state.relay = relay
        for hook in spec.on_startup:
            await hook(app)
        # Everything alive now (modules, classes, routes, the app) lives as long as the
        # process: out of the cyclic collector's sight, so that the collections a bulk
        # request triggers walk only what the request made (about half the cost of
        # building 100,000 small objects was the collector walking the start-up heap).
        gc.collect()
        gc.freeze()
        if relay is not None and settings.outbox_enabled:
            relay.start()
        try:
            yield
        finally:
            gc.unfreeze()  # an app started and stopped in a longer process (tests) is freed
            if relay is not None:
                await relay.stop()
            for hook in spec.on_shutdown:
                await hook(app)
            await app.state.http.aclose()
            await app.state.db.dispose()

    app = FastAPI(
        title=spec.title,
        version=spec.version,
        description=spec.description,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.kernel_tables = spec.kernel_tables
    app.state.metrics = Metrics(spec.name)
    app.state.relay = None
    install_error_handlers(app)
    app.include_router(health_router(spec.readiness))
    for router in spec.routers:
        # Routers carry their full prefix themselves (APIRouter(prefix=spec.api_prefix)),
        # so that each route's path is its whole template (metrics, policy checks).
        if not router.prefix.startswith(spec.api_prefix):
            raise ValueError(f"router prefix {router.prefix!r} is outside {spec.api_prefix!r}")
        app.include_router(router)
    app.add_middleware(RefuseUnstorableText)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    install_openapi(app)
    return app


class RefuseUnstorableText:
    """A NUL in the path or the query is a 400 before any handler runs: PostgreSQL text
    cannot hold one, and a filter holding one would fail in the driver (a 500 found by
    the API fuzz on PostgreSQL). Request bodies are checked by `StrictModel`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")
        ):
            response = problem_response(
                400, "nul_character", "Bad request", "a path or query may not hold NUL"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


_DEFAULT_PROBLEMS = {
    "400": "Bad request",
    "401": "Missing or invalid bearer token",
    "403": "The caller's roles do not allow this operation",
    "404": "Not found, or outside the caller's jurisdiction",
    "422": "Validation failed",
    "429": "Too many requests",
}


def install_openapi(app: FastAPI) -> None:
    """Declare the problem responses every operation can give, as named schemas."""

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        decorate_openapi(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]


def _own_error_body(response: dict[str, Any]) -> bool:
    """An error response that declares a body of its own, not a problem: the OAuth2
    token endpoint answers `{"error": "invalid_grant"}` as RFC 6749 says."""
    refs = {
        media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        for media in response.get("content", {}).values()
    }
    return bool(refs - {"", "Problem", "HTTPValidationError"})


def decorate_openapi(schema: dict[str, Any]) -> None:
    name_schemas(schema)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            if path in ("/livez", "/readyz", "/metrics"):
                wanted = ["422"]
            elif op.get("x-public"):
                # no token, no roles, no jurisdiction; a body can still be malformed, and
                # the gateway rate-limits anonymous writes
                wanted = ["400", "422", "429"] + (["404"] if "{" in path else [])
            else:
                wanted = list(_DEFAULT_PROBLEMS)
            for status, text in _DEFAULT_PROBLEMS.items():
                if status in wanted or status in responses:
                    existing = responses.get(status, {})
                    if _own_error_body(existing):
                        continue
                    responses[status] = {
                        "description": existing.get("description") or text,
                        "content": {"application/problem+json": {"schema": problem_ref}},
                    }
            for status, resp in responses.items():
                own = isinstance(resp, dict) and _own_error_body(resp)
                if status.startswith(("4", "5")) and isinstance(resp, dict) and not own:
                    resp["content"] = {"application/problem+json": {"schema": problem_ref}}
            if method == "get" and path in ("/livez", "/readyz"):
                responses.setdefault(
                    "503",
                    {
                        "description": "Not ready",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                )
