"""Set-based writes for stage closes and imports of 100,000 rows.

On PostgreSQL the request's own connection (same transaction) is used through the
asyncpg driver: COPY for inserts (`copy_records_to_table`) and one
`UPDATE ... FROM unnest($1::bigint[], ...)` for updates with per-row values. On SQLite,
`executemany` of the same statements. Never one ORM flush per row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Table, bindparam, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import any_

_SQLITE_CHUNK = 500


def dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def is_postgres(session: AsyncSession) -> bool:
    return dialect(session) == "postgresql"


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's connection, inside its transaction."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def insert_rows(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    json_columns: Iterable[str] = (),
) -> None:
    """Insert `rows` (tuples in `columns` order); COPY on PostgreSQL."""
    if not rows:
        return
    if is_postgres(session):
        json_at = [columns.index(c) for c in json_columns]
        if json_at:
            rows = [_json_encoded(row, json_at) for row in rows]
        conn = await driver(session)
        await conn.copy_records_to_table(table.name, records=rows, columns=list(columns))
        return
    await session.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_encoded(row: Sequence[Any], json_at: list[int]) -> tuple[Any, ...]:
    out = list(row)
    for i in json_at:
        if out[i] is not None:
            out[i] = json.dumps(out[i], ensure_ascii=False)
    return tuple(out)


async def fetch(session: AsyncSession, stmt: Any) -> Sequence[Sequence[Any]]:
    """Rows of a Core select as tuples: through the asyncpg driver on PostgreSQL (several
    times cheaper than the ORM result machinery for 100,000 rows). Use it for plain
    columns only: JSON columns come back as text there."""
    if not is_postgres(session):
        return list((await session.execute(stmt)).all())
    compiled = stmt.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    params = compiled.construct_params()
    positional = [params[name] for name in (compiled.positiontup or [])]
    conn = await driver(session)
    return list(await conn.fetch(compiled.string, *positional))


async def insert_arrays(
    session: AsyncSession,
    table: Table,
    arrays: Sequence[tuple[str, str, Sequence[Any]]],
    constants: Sequence[tuple[str, str, Any]] = (),
) -> None:
    """One row per position of the (column, PostgreSQL type, values) arrays, with the
    same (column, type, value) constants in every row. PostgreSQL: a single
    INSERT ... SELECT FROM unnest(...); SQLite: executemany. A "jsonb" array takes
    JSON text (or None)."""
    if not arrays or not arrays[0][2]:
        return
    count = len(arrays[0][2])
    if is_postgres(session):
        # a column with one value throughout travels once, as a constant
        keep = [arrays[0]]
        constants = list(constants)
        for name, pg_type, values in arrays[1:]:
            if _one_value(values):
                constants.append((name, pg_type, values[0]))
            else:
                keep.append((name, pg_type, values))
        arrays = keep
        params: list[Any] = []
        unnests, selects, names = [], [], []
        for name, pg_type, values in arrays:
            params.append(list(values))
            array_type = "text" if pg_type == "jsonb" else pg_type
            unnests.append(f"${len(params)}::{array_type}[]")
            selects.append(f'v."{name}"::jsonb' if pg_type == "jsonb" else f'v."{name}"')
            names.append(name)
        for name, pg_type, value in constants:
            params.append(value)
            selects.append(f"${len(params)}::{pg_type}")
            names.append(name)
        alias = ", ".join(_quoted(name) for name, _, _ in arrays)
        columns = ", ".join(_quoted(n) for n in names)
        sql = (
            f"INSERT INTO {_quoted(table.name)} ({columns}) "
            f"SELECT {', '.join(selects)} FROM unnest({', '.join(unnests)}) AS v({alias})"
        )
        conn = await driver(session)
        await conn.execute(sql, *params)
        return
    fixed = {name: value for name, _, value in constants}
    rows = []
    for i in range(count):
        row = dict(fixed)
        for name, pg_type, values in arrays:
            value = values[i]
            row[name] = json.loads(value) if pg_type == "jsonb" and value is not None else value
        rows.append(row)
    await session.execute(table.insert(), rows)


def _one_value(values: Sequence[Any]) -> bool:
    """The same value, of the same type, throughout (decimals also written the same:
    1.0 and 1.00 are equal but stored differently)."""
    first = values[0]
    kind = type(first)
    if not all(v == first and type(v) is kind for v in values):
        return False
    return kind is not Decimal or all(str(v) == str(first) for v in values)


async def update_rows(
    session: AsyncSession,
    table: Table,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    *,
    bump_version: bool = True,
) -> int:
    """Per-row values by primary key: `rows` are (id, v1, v2, ...) for `columns`, given
    as (name, PostgreSQL type) pairs. Bumps `version` when asked. Returns rows updated."""
    if not rows:
        return 0
    names = [name for name, _ in columns]
    if is_postgres(session):
        # columns, not rows (zip in C); a column with one value throughout travels once
        ids, *values_of = (list(column) for column in zip(*rows, strict=True))
        args: list[Any] = [ids]
        unnests, aliases, sets = ["$1::bigint[]"], ['"id"'], []
        for (name, pg_type), column in zip(columns, values_of, strict=True):
            if _one_value(column):
                args.append(column[0])
                sets.append(f'"{name}" = ${len(args)}::{pg_type}')
            else:
                args.append(column)
                unnests.append(f"${len(args)}::{pg_type}[]")
                aliases.append(f'"{name}"')
                sets.append(f'"{name}" = v."{name}"')
        if bump_version:
            sets.append('"version" = t."version" + 1')
        sql = (
            f'UPDATE "{table.name}" AS t SET {", ".join(sets)} '
            f"FROM unnest({', '.join(unnests)}) AS v({', '.join(aliases)}) WHERE t.id = v.id"
        )
        conn = await driver(session)
        status: str = await conn.execute(sql, *args)
        return int(status.rsplit(" ", 1)[-1])
    values: dict[str, Any] = {n: bindparam(f"v_{n}") for n in names}
    if bump_version:
        values["version"] = table.c.version + 1
    stmt = update(table).where(table.c.id == bindparam("v_id")).values(values)
    params = [
        {"v_id": row[0], **{f"v_{n}": row[i + 1] for i, n in enumerate(names)}} for row in rows
    ]
    await session.execute(stmt.execution_options(synchronize_session=False), params)
    return len(rows)


async def update_ids(
    session: AsyncSession,
    table: Table,
    ids: Sequence[int],
    values: dict[str, Any],
    *,
    where: Any = None,
    bump_version: bool = True,
) -> int:
    """The same `values` for every row in `ids` (and `where`); returns rows updated."""
    if not ids:
        return 0
    values = dict(values)
    if bump_version:
        values["version"] = table.c.version + 1
    total = 0
    if is_postgres(session):
        stmt = update(table).where(table.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger()))))
        if where is not None:
            stmt = stmt.where(where)
        result = await session.execute(
            stmt.values(values).execution_options(synchronize_session=False), {"ids": list(ids)}
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
    for start in range(0, len(ids), _SQLITE_CHUNK):
        chunk = list(ids[start : start + _SQLITE_CHUNK])
        stmt = update(table).where(table.c.id.in_(chunk))
        if where is not None:
            stmt = stmt.where(where)
        result = await session.execute(
            stmt.values(values).execution_options(synchronize_session=False)
        )
        total += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return total
