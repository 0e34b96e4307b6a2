"""Idempotency-Key on POSTs that create or trigger something (api.md):
the same key with the same body replays the first response; the same key with a
different body gets 422. Keys are scoped to the caller's subject, and the stored
response is written in the same transaction as the change itself.

"The same body" means the same JSON document: a JSON body is compared in a canonical
form (parsed, keys sorted, no insignificant white space, numbers in one spelling), so a
client that re-serialises its request on a retry is replayed, not refused. Bodies that
are not JSON, or fail to parse, are compared byte for byte (a multipart upload without
its random boundary)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

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


def _digest(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b" ")
    digest.update(request.url.path.encode())
    digest.update(b"?")
    digest.update(request.url.query.encode())
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


async def _fingerprints(request: Request) -> tuple[str, str]:
    """The request's fingerprint, and the one stored for it before JSON bodies were
    compared in canonical form (byte for byte): a key stored by an earlier release is
    still replayed for the same bytes. Both are the same unless the body is JSON."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    boundary = _multipart_boundary(content_type)
    if boundary:
        # Each client picks its own random boundary: the same upload sent again is the same
        # request.
        body = body.replace(b"--" + boundary, b"--")
    raw = _digest(request, body)
    canonical = canonical_json(body) if _is_json(content_type) else None
    return (raw if canonical is None else _digest(request, canonical)), raw


def _is_json(content_type: str) -> bool:
    """As FastAPI reads a body as JSON: no content type, application/json or +json."""
    kind = content_type.partition(";")[0].strip().lower()
    return (
        not kind
        or kind == "application/json"
        or (kind.startswith("application/") and kind.endswith("+json"))
    )


def canonical_json(body: bytes) -> bytes | None:
    """The JSON document in one spelling: keys sorted, compact separators, strings
    unescaped, and numbers read exactly and written in one form. A fraction has the same
    spelling however it was written (1.50, 1.5 and 15e-1), an integer keeps its own (1
    and 1.0 differ, as they do to `json.loads`). None when the body is not JSON."""
    if not body.strip():
        return None
    try:
        document = json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, NaN, or nested too deep
        return None
    try:
        return _canonical(document).encode()
    except RecursionError:
        return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _canonical(value: Any) -> str:
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{_string(k)}:{_canonical(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Decimal):
        return _fraction(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"unexpected JSON value {type(value).__name__}")


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _fraction(value: Decimal) -> str:
    """Coefficient without trailing zeros, and exponent: exact at any precision (unlike
    `Decimal.normalize`, which rounds to the context's 28 digits), and short for 1e400."""
    sign, digits, exponent = value.as_tuple()
    coefficient = "".join(map(str, digits)).lstrip("0")
    significant = coefficient.rstrip("0")
    if not significant or not isinstance(exponent, int):
        return "0e0"
    exponent += len(coefficient) - len(significant)
    return f"{'-' if sign else ''}{significant}e{exponent}"


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
    fingerprint, raw = await _fingerprints(request)
    row = (
        await session.execute(select(table).where(table.c.subject == subject, table.c.key == key))
    ).one_or_none()
    if row is None:
        request.state.idempotency = PendingKey(subject, key, fingerprint)
        return
    if row.fingerprint not in (fingerprint, raw):
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
