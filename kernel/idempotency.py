"""Idempotency-Key on POSTs that create or trigger something (api.md):
the same key with the same body replays the first response; the same key with a
different body gets 422. Keys are scoped to the caller's subject, and the stored
response is written in the same transaction as the change itself."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import Header, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.db import utcnow
from kernel.errors import Unprocessable
from kernel.tables import KernelTables

REPLAYED_HEADER = "Idempotent-Replayed"
_KEPT_HEADERS = ("etag", "location", "content-type")


class IdempotentReplay(Exception):
    """Raised by the dependency to short-circuit the endpoint with a stored response."""

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(frozen=True)
class PendingKey:
    subject: str
    key: str
    fingerprint: str


async def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b" ")
    digest.update(request.url.path.encode())
    digest.update(b"?")
    digest.update(request.url.query.encode())
    digest.update(b"\n")
    body = await request.body()
    boundary = _multipart_boundary(request.headers.get("content-type", ""))
    if boundary:
        # Each client picks its own random boundary: the same upload sent again is the same
        # request.
        body = body.replace(b"--" + boundary, b"--")
    digest.update(body)
    return digest.hexdigest()


def _multipart_boundary(content_type: str) -> bytes | None:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value.strip('"'):
            return value.strip('"').encode("latin-1", "replace")
    return None


async def check_idempotency(
    request: Request,
    session: AsyncSession,
    subject: str,
    key: str | None,
) -> None:
    """Look the key up; replay, refuse, or remember it for storing after the endpoint."""
    if not key:
        return
    if len(key) > 200:
        raise Unprocessable("Idempotency-Key is at most 200 characters", code="invalid_header")
    tables: KernelTables = request.app.state.kernel_tables
    table = tables.idempotency
    fingerprint = await _fingerprint(request)
    row = (
        await session.execute(select(table).where(table.c.subject == subject, table.c.key == key))
    ).one_or_none()
    if row is None:
        request.state.idempotency = PendingKey(subject, key, fingerprint)
        return
    if row.fingerprint != fingerprint:
        raise Unprocessable(
            "this Idempotency-Key was used with a different request",
            code="idempotency_key_reused",
        )
    headers = dict(row.headers or {})
    headers[REPLAYED_HEADER] = "true"
    raise IdempotentReplay(
        Response(
            content=row.body,
            status_code=row.status_code,
            media_type=row.media_type,
            headers=headers,
        )
    )


async def store_response(request: Request, session: AsyncSession, response: Response) -> None:
    pending: PendingKey | None = getattr(request.state, "idempotency", None)
    if pending is None or not hasattr(response, "body"):
        return
    tables: KernelTables = request.app.state.kernel_tables
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    await session.execute(
        tables.idempotency.insert().values(
            subject=pending.subject,
            key=pending.key,
            fingerprint=pending.fingerprint,
            status_code=response.status_code,
            media_type=response.media_type,
            headers=headers,
            body=bytes(response.body),
            created_at=utcnow(),
        )
    )


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="replays the first response for the same key and body",
        max_length=200,
    ),
]
