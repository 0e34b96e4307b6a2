"""The forwarding path for `/api/v1/{roster,recruitment,compensation}/...`, as plain
ASGI: no framework routing on the hot path. It enforces the body limit, matches
the policy table, verifies the token and its roles, then streams the request to
the service and the response back.

Requests go over the pool of the gateway's one shared `httpx.AsyncClient` (aiohttp's
transport, `kernel/http.py`), handed to its transport directly rather than through the
client's `send`: a proxy wants none of a client's layers (default headers, redirects,
auth flows) and above all not its cookie jar, which would keep a `Set-Cookie` from one
caller's answer and send it upstream with the next caller's request. It also saves
about a tenth of the gateway's CPU per request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from gateway.policy import PolicyTable
from gateway.throttle import RateLimiter
from kernel.auth import Principal
from kernel.errors import PROBLEM_JSON, TYPE_BASE
from kernel.jwt import TokenInvalid, TokenVerifier
from kernel.observability import Receive, Scope, Send

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)
_RESPONSE_DROP = frozenset({"connection", "keep-alive", "transfer-encoding", "server", "date"})


class BodyTooLarge(Exception):
    pass


async def send_problem(
    send: Send,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(
        {
            "type": TYPE_BASE + code,
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Forwarder:
    # fixed attributes: a test or a caller setting one that does not exist fails loudly
    __slots__ = (
        "_timeout",
        "max_body",
        "policy",
        "public_limiter",
        "timeout",
        "transport",
        "upstreams",
        "verifier",
    )

    def __init__(
        self,
        *,
        policy: PolicyTable,
        verifier: TokenVerifier,
        transport: httpx.AsyncBaseTransport,
        upstreams: dict[str, str],
        max_body_bytes: int,
        public_limiter: RateLimiter,
        timeout: httpx.Timeout,
    ) -> None:
        self.policy = policy
        self.verifier = verifier
        self.transport = transport
        self.upstreams = upstreams
        self.max_body = max_body_bytes
        self.public_limiter = public_limiter
        self.timeout = timeout
        self._timeout = timeout.as_dict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        auth = b""
        length = -1
        for key, value in headers:
            if key == b"authorization":
                auth = value
            elif key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await send_problem(
                        send, 400, "bad_request", "Bad request", "invalid Content-Length"
                    )
                    return
        if length > self.max_body:
            await self._too_large(send)
            return

        rule = self.policy.match(method, path)
        if rule is None:
            allowed = self.policy.path_allowed_methods(path)
            if allowed:
                await send_problem(
                    send,
                    405,
                    "method_not_allowed",
                    "Method not allowed",
                    f"allowed: {', '.join(allowed)}",
                    [(b"allow", ", ".join(allowed).encode())],
                )
            else:
                await send_problem(send, 404, "route_not_found", "Not found", "no such API route")
            return
        scope["route"] = _RouteLabel(rule.pattern)

        if rule.roles is None:
            client_ip = (scope.get("client") or ("unknown", 0))[0]
            if method != "GET":
                wait = self.public_limiter.hit(f"{client_ip}")
                if wait:
                    await send_problem(
                        send,
                        429,
                        "too_many_requests",
                        "Too many requests",
                        "slow down",
                        [(b"retry-after", str(wait).encode())],
                    )
                    return
        else:
            scheme, _, token = auth.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                await send_problem(
                    send,
                    401,
                    "unauthorized",
                    "Authentication required",
                    "a bearer token is required",
                    [(b"www-authenticate", b'Bearer realm="auxpol"')],
                )
                return
            try:
                principal = Principal.from_claims(await self.verifier.verify(token.strip()))
            except TokenInvalid as exc:
                await send_problem(
                    send,
                    401,
                    "invalid_token",
                    "Authentication required",
                    f"invalid token: {exc}",
                    [(b"www-authenticate", b'Bearer error="invalid_token"')],
                )
                return
            scope.setdefault("state", {})["principal"] = principal
            if not principal.has(*rule.roles):
                await send_problem(
                    send,
                    403,
                    "role_not_allowed",
                    "Not allowed",
                    "your roles do not allow this operation",
                )
                return

        await self.forward(scope, receive, send, self.upstreams[rule.service], length)

    async def forward(
        self, scope: Scope, receive: Receive, send: Send, base: str, length: int
    ) -> None:
        out_headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP]
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            out_headers = [(k, v) for k, v in out_headers if k != b"x-request-id"]
            out_headers.append((b"x-request-id", request_id.encode()))
        client = scope.get("client")
        if client:
            out_headers.append((b"x-forwarded-for", client[0].encode()))
        query = scope.get("query_string", b"")
        url = (
            base + scope["raw_path"].decode("latin-1")
            if scope.get("raw_path")
            else (base + scope["path"])
        )
        if query:
            url += "?" + query.decode("latin-1")
        has_body = scope["method"] in ("POST", "PUT", "PATCH", "DELETE") and length != 0
        content: Any = self._body(receive) if has_body else None
        request = httpx.Request(
            scope["method"],
            url,
            headers=out_headers,
            content=content,
            extensions={"timeout": self._timeout},
        )
        try:
            response = await self.transport.handle_async_request(request)
        except BodyTooLarge:
            await self._too_large(send)
            return
        except httpx.HTTPError as exc:
            # A connection refused (the aiohttp transport reports it as ConnectTimeout), a
            # full pool or a broken one is 503; a service that did not answer in time, 504.
            unreachable = (httpx.ConnectTimeout, httpx.PoolTimeout)
            if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, unreachable):
                await send_problem(
                    send,
                    504,
                    "upstream_timeout",
                    "Gateway timeout",
                    "the service did not answer in time",
                )
            else:
                await send_problem(
                    send,
                    503,
                    "upstream_unavailable",
                    "Service unavailable",
                    "the service is not reachable; try again shortly",
                    [(b"retry-after", b"5")],
                )
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in response.headers.multi_items()
                        if k.lower() not in _RESPONSE_DROP
                    ],
                }
            )
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError:
                pass  # the upstream broke mid-body; end what we sent
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _too_large(self, send: Send) -> None:
        await send_problem(
            send,
            413,
            "payload_too_large",
            "Request body too large",
            f"the limit is {self.max_body} bytes",
        )

    async def _body(self, receive: Receive) -> AsyncIterator[bytes]:
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body:
                raise BodyTooLarge
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


class _RouteLabel:
    """Lets the metrics middleware label proxied requests by their policy pattern."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path
