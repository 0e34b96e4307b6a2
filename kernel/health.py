"""`/livez`, `/readyz` (checks the database and any extra readiness checks) and `/metrics`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[Request], Awaitable[dict[str, Any]]]


def health_router(extra_checks: dict[str, ReadinessCheck] | None = None) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/livez", operation_id="livez", summary="Liveness")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", operation_id="readyz", summary="Readiness (database and dependencies)")
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, Any] = {}
        ready = True
        try:
            await asyncio.wait_for(request.app.state.db.ping(), timeout=3)
            checks["database"] = {"status": "ok"}
        except Exception as exc:  # any failure means not ready
            ready = False
            checks["database"] = {"status": "down", "error": type(exc).__name__}
        for name, check in (extra_checks or {}).items():
            result = await check(request)
            checks[name] = result
            if result.get("status") != "ok":
                ready = False
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", operation_id="metrics", summary="Prometheus metrics")
    async def metrics(request: Request) -> Response:
        rendered: Response = request.app.state.metrics.render()
        return rendered

    return router
