"""Cursor pagination: `?limit=` (default 50, max 500) and `?cursor=`, answering
`{"items": [...], "next_cursor": "..." | null}`. Cursors are opaque keyset positions."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select

from kernel.errors import Unprocessable

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    # `next_cursor` is always in the answer (null on the last page): required in the schema
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def after(self) -> Any:
        return decode_cursor(self.cursor) if self.cursor else None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="opaque position")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(value: Any) -> str:
    raw = json.dumps({"k": value}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))["k"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Unprocessable("the cursor is not one this API issued", code="invalid_cursor") from exc


def keyset(stmt: Select[Any], key_column: Any, params: PageParams) -> Select[Any]:
    """Order by an increasing unique key and fetch one row more than the page."""
    after = params.after()
    if after is not None:
        if not isinstance(after, int | str):
            raise Unprocessable("the cursor is not one this API issued", code="invalid_cursor")
        stmt = stmt.where(key_column > after)
    return stmt.order_by(key_column).limit(params.limit + 1)


def page_of(rows: list[T], params: PageParams, key: Any) -> tuple[list[T], str | None]:
    """Split the fetched rows into the page and the next cursor (`key(row)`)."""
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        return rows, encode_cursor(key(rows[-1]))
    return rows, None
