"""The single commit point.

`TransactionalRoute` runs the endpoint, then commits the request's session when the
response is a success (storing the Idempotency-Key response in the same
transaction) and rolls back otherwise. Endpoints, services and repositories only
flush. Database errors are translated into problems with stable codes here.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from kernel.auth import authenticate
from kernel.db import Database
from kernel.errors import Conflict, PreconditionFailed, UpstreamUnavailable
from kernel.idempotency import (
    IdempotencyKeyHeader,
    IdempotentReplay,
    check_idempotency,
    store_response,
)

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def request_session(request: Request) -> AsyncSession:
    session: AsyncSession | None = getattr(request.state, "session", None)
    if session is None:
        db: Database = request.app.state.db
        session = (
            db.read_request_session() if request.method in _READ_METHODS else db.session(write=True)
        )
        request.state.session = session
    return session


Session = Annotated[AsyncSession, Depends(request_session)]


async def idempotency_key(
    request: Request, session: Session, key: IdempotencyKeyHeader = None
) -> None:
    """Add to POST routes that create or trigger something."""
    if key:
        principal = await authenticate(request)
        await check_idempotency(request, session, principal.sub, key)


Idempotent = Depends(idempotency_key)


def translate_database_error(exc: Exception) -> Exception | None:
    if isinstance(exc, IntegrityError):
        return Conflict(
            "the change conflicts with data that already exists", code="integrity_conflict"
        )
    if isinstance(exc, StaleDataError):
        return PreconditionFailed(
            "the resource was changed by someone else at the same time; fetch it again",
            code="concurrent_update",
        )
    if (isinstance(exc, DBAPIError) and (exc.connection_invalidated or _is_unavailable(exc))) or (
        _refused_connection(exc)
    ):
        return UpstreamUnavailable(
            "the database is unavailable; try again shortly",
            code="database_unavailable",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, PoolTimeout):
        # every pooled connection stayed busy for the pool's timeout: overload, not a bug
        return UpstreamUnavailable(
            "the service is overloaded; try again shortly",
            code="database_busy",
            headers={"Retry-After": "5"},
        )
    return None


def _refused_connection(exc: Exception) -> bool:
    """A new database connection that failed at the socket. The driver's OSError reaches
    us unwrapped (SQLAlchemy wraps only the driver's own errors): a PostgreSQL that is
    restarting or down. The services make no other raw socket calls in a request."""
    return isinstance(exc, ConnectionError) or (
        type(exc) is OSError and "connect call failed" in str(exc).lower()
    )


def _is_unavailable(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower() if exc.orig else ""
    return any(
        s in text
        for s in (
            "connection refused",
            "connection was closed",
            "terminating connection",
            "could not connect",
            "the database system is",
            "connection is closed",
        )
    )


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            if request.headers.get("idempotency-key"):
                # The key's fingerprint hashes the body. A form body is parsed from the
                # stream before dependencies run; reading it first keeps it for both.
                await request.body()
            try:
                try:
                    response = await handler(request)
                except IdempotentReplay as replay:
                    await _finish(request, commit=False)
                    return replay.response
                session: AsyncSession | None = getattr(request.state, "session", None)
                if session is not None and response.status_code < 400:
                    await store_response(request, session, response)
                    await session.commit()
                return response
            except Exception as exc:
                await _finish(request, commit=False)
                translated = translate_database_error(exc)
                if translated is not None:
                    raise translated from exc
                raise
            finally:
                await _close(request)

        return run


async def _finish(request: Request, *, commit: bool) -> None:
    session: AsyncSession | None = getattr(request.state, "session", None)
    if session is None:
        return
    if commit:
        await session.commit()
    else:
        await session.rollback()


async def _close(request: Request) -> None:
    session: AsyncSession | None = getattr(request.state, "session", None)
    if session is not None:
        request.state.session = None
        await session.close()


def route_kwargs() -> dict[str, Any]:
    return {"route_class": TransactionalRoute}
