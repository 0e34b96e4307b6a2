"""JSON logs, Prometheus metrics and the access log, as one pure ASGI middleware.

Log lines never carry a token or a resident ID number: the formatter redacts any
18-character ID number that slips into a message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

from services.common.resident_id import redact_id_numbers

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("auxpol.access")

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_id_numbers(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = redact_id_numbers(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact_id_numbers(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """Human-readable lines, with resident ID numbers redacted like the JSON ones."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_id_numbers(super().format(record))


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter() if json_lines else PlainFormatter("%(levelname)s %(name)s %(message)s")
    )
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True


class Metrics:
    """One registry per app, so that several apps can live in one test process."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "auxpol_http_requests_total",
            "HTTP requests handled",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "auxpol_http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "auxpol_http_requests_in_flight",
            "Requests being handled",
            ["service"],
            registry=self.registry,
        )
        self.outbox_events = Counter(
            "auxpol_outbox_events_total",
            "Outbox events the relay handed to their receiver, by outcome (delivered, retry, dead)",
            ["service", "relay", "outcome"],
            registry=self.registry,
        )
        self.outbox_calls = Counter(
            "auxpol_outbox_calls_total",
            "Calls the outbox relay made to receivers (a batch is one call)",
            ["service", "relay", "kind"],
            registry=self.registry,
        )

    def counter(self, name: str, doc: str, labels: list[str]) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


class ObservabilityMiddleware:
    """Request id, metrics and one structured access-log line per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, *, skip_log: frozenset[str] = frozenset()):
        self.app = app
        self.metrics = metrics
        self.skip_log = skip_log or frozenset({"/livez", "/readyz", "/metrics"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        if len(request_id) > 128:
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = [500]
        raw_id = request_id.encode()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", raw_id))
                message["headers"] = headers
            await send(message)

        gauge = self.metrics.in_flight.labels(self.metrics.service)
        gauge.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            gauge.dec()
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(
                self.metrics.service, method, route, str(status_holder[0])
            ).inc()
            self.metrics.latency.labels(self.metrics.service, method, route).observe(elapsed)
            if scope["path"] not in self.skip_log:
                principal = scope.get("state", {}).get("principal")
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "service": self.metrics.service,
                        "method": method,
                        "route": route,
                        "status": status_holder[0],
                        "duration_ms": round(elapsed * 1000, 2),
                        "subject": getattr(principal, "sub", None),
                    },
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def request_id(request: Request) -> str:
    return str(request.state.request_id) if hasattr(request.state, "request_id") else ""
