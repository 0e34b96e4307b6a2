"""Optimistic concurrency: ETags from a row version, `If-Match` checked on update."""

from __future__ import annotations

from fastapi import Request, Response

from kernel.errors import PreconditionFailed


def etag_for(kind: str, ident: object, version: int) -> str:
    return f'"{kind}-{ident}-v{version}"'


def set_etag(response: Response, etag: str) -> None:
    response.headers["ETag"] = etag


def check_if_match(request: Request, current: str) -> None:
    """A stale `If-Match` gets 412. Without the header the update proceeds, still
    protected against lost updates by the row's version counter."""
    header = request.headers.get("if-match")
    if header is None:
        return
    candidates = [c.strip() for c in header.split(",")]
    if "*" in candidates:
        return
    normalised = {c.removeprefix("W/") for c in candidates}
    if current not in normalised:
        raise PreconditionFailed(
            "the resource has changed since you read it; fetch it again",
            code="etag_mismatch",
        )
