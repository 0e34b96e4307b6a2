"""The streamed personnel snapshot (NDJSON) that payroll reads.

Everyone in the jurisdiction (and region prefix) who was on probation or active on at
least one day of [from, to]: hired on or before `to`, not gone before `from`
(`left_date` is the last day on the staff), and not suspended for the whole period.

The rows are read with one server-side cursor in batches (`yield_per` / partitions)
and written out batch by batch: memory stays flat for 100,000 people. The stream has
its own read session, because the request's session closes when the endpoint returns,
before the body is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Text, cast, exists, func, or_, select

from kernel.auth import Principal
from kernel.db import Database
from services.common.resident_id import mask
from services.roster.models import Personnel, Suspension

COLUMNS = (
    Personnel.id,
    Personnel.id_number,
    Personnel.name,
    Personnel.region,
    Personnel.unit,
    Personnel.post_category,
    Personnel.post,
    Personnel.level,
    Personnel.step,
    Personnel.status,
    Personnel.hire_date,
    Personnel.probation_end,
    Personnel.left_date,
    Personnel.departure_reason,
    Personnel.last_assessment_year,
    Personnel.last_assessment_grade,
    Personnel.education,
    Personnel.veteran,
    Personnel.sex,
    Personnel.birth_date,
    Personnel.external_reference,
)
KEYS = tuple(c.key for c in COLUMNS)

_DATE = {"type": ["string", "null"], "format": "date"}
SNAPSHOT_SCHEMA: dict[str, Any] = {
    "title": "PersonnelSnapshotRow",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "id_number": {"type": "string", "description": "masked unless the role may read it"},
        "name": {"type": "string"},
        "region": {"type": "string"},
        "unit": {"type": "string"},
        "post_category": {"type": "string", "enum": ["duty", "civilian"]},
        "post": {"type": "string"},
        "level": {"type": "integer"},
        "step": {"type": "integer"},
        "status": {"type": "string", "enum": ["probation", "active", "suspended", "left"]},
        "hire_date": _DATE,
        "probation_end": _DATE,
        "left_date": _DATE,
        "departure_reason": {"type": ["string", "null"]},
        "last_assessment_year": {"type": ["integer", "null"]},
        "last_assessment_grade": {"type": ["string", "null"]},
        "education": {"type": "string"},
        "veteran": {"type": "boolean"},
        "sex": {"type": "string", "enum": ["male", "female"]},
        "birth_date": _DATE,
        "external_reference": {"type": ["string", "null"]},
    },
}


def snapshot_query(principal: Principal, region: str | None, start: date, end: date) -> Any:
    suspended_throughout = exists().where(
        Suspension.personnel_id == Personnel.id,
        Suspension.start <= start,
        or_(Suspension.end.is_(None), Suspension.end > end),
    )
    stmt = select(*COLUMNS).where(
        principal.region_filter(Personnel.region),
        Personnel.hire_date <= end,
        or_(Personnel.left_date.is_(None), Personnel.left_date >= start),
        ~suspended_throughout,
    )
    if region:
        stmt = stmt.where(Personnel.region.startswith(region, autoescape=True))
    return stmt.order_by(Personnel.id)


def server_json_query(
    principal: Principal, region: str | None, start: date, end: date, reveal: bool
) -> Any:
    """PostgreSQL writes each line's JSON itself (row_to_json keeps the column order and
    writes compactly): one text column per row to fetch."""
    number: Any = Personnel.id_number
    if not reveal:  # the same mask as resident_id.mask
        number = func.concat(
            func.left(Personnel.id_number, 4),
            func.repeat("*", func.length(Personnel.id_number) - 8),
            func.right(Personnel.id_number, 4),
        )
    columns = [number.label("id_number") if c.key == "id_number" else c for c in COLUMNS]
    inner = snapshot_query(principal, region, start, end).order_by(None)
    rows = inner.with_only_columns(*columns).subquery("s")
    return select(cast(func.row_to_json(rows.table_valued()), Text)).order_by(rows.c.id)


async def stream(
    db: Database,
    principal: Principal,
    region: str | None,
    start: date,
    end: date,
    batch: int,
) -> AsyncIterator[bytes]:
    reveal = principal.may_read_id_numbers
    if db.dialect == "postgresql":
        async for chunk in _stream_server_json(db, principal, region, start, end, batch, reveal):
            yield chunk
        return
    stmt = snapshot_query(principal, region, start, end).execution_options(yield_per=batch)
    dumps = orjson.dumps
    keys = KEYS
    async with db.session() as session:
        result = await session.stream(stmt)
        async for partition in result.partitions(batch):
            lines = []
            for row in partition:
                item = dict(zip(keys, row, strict=True))
                if not reveal:
                    item["id_number"] = mask(item["id_number"])
                lines.append(dumps(item))
            lines.append(b"")
            yield b"\n".join(lines)


async def _stream_server_json(
    db: Database,
    principal: Principal,
    region: str | None,
    start: date,
    end: date,
    batch: int,
    reveal: bool,
) -> AsyncIterator[bytes]:
    stmt = server_json_query(principal, region, start, end, reveal).execution_options(
        yield_per=batch
    )
    async with db.session() as session:
        result = await session.stream(stmt)
        async for partition in result.partitions(batch):
            lines = [row[0] for row in partition]
            lines.append("")
            yield "\n".join(lines).encode()
