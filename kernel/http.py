"""The shared outbound HTTP client: httpx's API over aiohttp's transport, which
measured 3-5x cheaper per request than httpx's default transport on this machine."""

from __future__ import annotations

import httpx
from httpx_aiohttp import AiohttpTransport


def make_transport(*, max_connections: int = 200) -> httpx.AsyncBaseTransport:
    """aiohttp's connection pool behind httpx's transport interface."""
    if _supports_limits():
        return AiohttpTransport(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=100)
        )
    return AiohttpTransport()


def make_client(
    *,
    timeout: float = 10.0,
    max_connections: int = 200,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The pooled client; `transport` when the caller also uses the pool directly."""
    return httpx.AsyncClient(
        transport=transport or make_transport(max_connections=max_connections),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
        follow_redirects=False,
    )


def _supports_limits() -> bool:
    import inspect

    try:
        return "limits" in inspect.signature(AiohttpTransport.__init__).parameters
    except (TypeError, ValueError):
        return False
