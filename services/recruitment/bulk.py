"""Set-based writes for stage closes and imports of 100,000 rows.

On PostgreSQL the request's own connection (same transaction) is used through the
asyncpg driver: COPY for inserts (`copy_records_to_table`) and one
`UPDATE ... FROM (SELECT unnest($1::bigint[]), ...)` for updates with per-row values. On
SQLite, `executemany` of the same statements. Never one ORM flush per row.

Arrays of 100,000 values travel as one text parameter in PostgreSQL's array syntax
(`$1::text::bigint[]`, `'{1,2,3}'`), built by C-level joins (`_array`): asyncpg's own
array encoding calls Python-level ABC checks on every element (about three times the
cost), and its binary numeric encoding is slower still. PostgreSQL parses either form in
the same time, to the same values. Work over 100,000 rows runs under `gc_paused()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import islice
from operator import itemgetter, le
from typing import Any

from sqlalchemy import BigInteger, Table, bindparam, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import any_

from kernel.bulk import driver as driver
from kernel.bulk import estimated_rows as estimated_rows
from kernel.bulk import gc_paused as gc_paused
from kernel.bulk import is_postgres as is_postgres
from kernel.bulk import refresh_statistics as refresh_statistics
from kernel.bulk import statistics_outdated as statistics_outdated

_SQLITE_CHUNK = 500


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


def in_order(keys: Sequence[Any], *columns: Sequence[Any]) -> list[list[Any]]:
    """`keys` in ascending order and each of `columns` reordered alike (a stable sort:
    equal keys keep their order), as new lists."""
    if len(keys) < 2 or all(map(le, keys, islice(keys, 1, None))):
        return [list(values) for values in (keys, *columns)]
    pick = itemgetter(*sorted(range(len(keys)), key=keys.__getitem__))
    return [list(pick(values)) for values in (keys, *columns)]


_INTEGER_TYPES = frozenset({"bigint", "integer"})


def _array(pg_type: str, values: Sequence[Any]) -> tuple[Any, str]:
    """An array parameter and its SQL type: the array's text form when the values allow
    it (see the module docstring), else the list for asyncpg to encode."""
    if pg_type in _INTEGER_TYPES or pg_type == "numeric":
        wanted = Decimal if pg_type == "numeric" else int
        if all(type(v) is wanted for v in values):
            return "{" + ",".join(map(str, values)) + "}", f"text::{pg_type}[]"
        if all(v is None or type(v) is wanted for v in values):
            items = ["NULL" if v is None else str(v) for v in values]
            return "{" + ",".join(items) + "}", f"text::{pg_type}[]"
    elif pg_type == "boolean":
        if all(v is None or type(v) is bool for v in values):
            items = ["NULL" if v is None else "t" if v else "f" for v in values]
            return "{" + ",".join(items) + "}", "text::boolean[]"
    elif pg_type == "text" and all(v is None or type(v) is str for v in values):
        # JSON's quoting is the array syntax's as long as no backslash escape is needed
        text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
        if "\\" not in text:
            return "{" + text[1:-1] + "}", "text::text[]"
    return list(values), f"{pg_type}[]"


def _unnested(arrays: Sequence[str], aliases: Sequence[str]) -> str:
    """Rows `v` of equally long arrays side by side: unnest in the select list (a
    ProjectSet) rather than `FROM unnest(...)`, which first copies every row into a
    tuplestore (spilled to a temporary file beyond work_mem)."""
    pairs = (f"unnest({array}) AS {alias}" for array, alias in zip(arrays, aliases, strict=True))
    return f"(SELECT {', '.join(pairs)}) AS v"


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
    INSERT ... SELECT FROM (SELECT unnest(...), ...); SQLite: executemany. A "jsonb" array takes
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
            param, array_type = _array("text" if pg_type == "jsonb" else pg_type, values)
            params.append(param)
            unnests.append(f"${len(params)}::{array_type}")
            selects.append(f'v."{name}"::jsonb' if pg_type == "jsonb" else f'v."{name}"')
            names.append(name)
        for name, pg_type, value in constants:
            params.append(value)
            selects.append(f"${len(params)}::{pg_type}")
            names.append(name)
        aliases = [_quoted(name) for name, _, _ in arrays]
        columns = ", ".join(_quoted(n) for n in names)
        sql = (
            f"INSERT INTO {_quoted(table.name)} ({columns}) "
            f"SELECT {', '.join(selects)} FROM {_unnested(unnests, aliases)}"
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
    ids, *values_of = (list(column) for column in zip(*rows, strict=True))  # zip in C
    return await update_columns(
        session,
        table,
        ids,
        [
            (name, pg_type, values)
            for (name, pg_type), values in zip(columns, values_of, strict=True)
        ],
        bump_version=bump_version,
    )


async def update_columns(
    session: AsyncSession,
    table: Table,
    ids: Sequence[int],
    columns: Sequence[tuple[str, str, Sequence[Any]]],
    *,
    bump_version: bool = True,
) -> int:
    """`update_rows` given by column: the primary keys, then (name, PostgreSQL type,
    values) with one value per id. Returns rows updated."""
    if not ids:
        return 0
    if is_postgres(session):
        # in primary-key order, the table's pages are visited in order, each once (the
        # join follows the arrays): a fifth less work on 100,000 rows
        ids, *values_of = in_order(ids, *(values for _, _, values in columns))
        columns = [(n, t, v) for (n, t, _), v in zip(columns, values_of, strict=True)]
        # a column with one value throughout travels once
        param, array_type = _array("bigint", ids)
        args: list[Any] = [param]
        unnests, aliases, sets = [f"$1::{array_type}"], ['"id"'], []
        for name, pg_type, column in columns:
            if _one_value(column):
                args.append(column[0])
                sets.append(f'"{name}" = ${len(args)}::{pg_type}')
            else:
                param, array_type = _array(pg_type, column)
                args.append(param)
                unnests.append(f"${len(args)}::{array_type}")
                aliases.append(f'"{name}"')
                sets.append(f'"{name}" = v."{name}"')
        if bump_version:
            sets.append('"version" = t."version" + 1')
        sql = (
            f'UPDATE "{table.name}" AS t SET {", ".join(sets)} '
            f"FROM {_unnested(unnests, aliases)} WHERE t.id = v.id"
        )
        conn = await driver(session)
        status: str = await conn.execute(sql, *args)
        return int(status.rsplit(" ", 1)[-1])
    names = [name for name, _, _ in columns]
    values: dict[str, Any] = {n: bindparam(f"v_{n}") for n in names}
    if bump_version:
        values["version"] = table.c.version + 1
    stmt = update(table).where(table.c.id == bindparam("v_id")).values(values)
    keys = ["v_id", *(f"v_{n}" for n in names)]
    params = [
        dict(zip(keys, row, strict=True))
        for row in zip(ids, *(values for _, _, values in columns), strict=True)
    ]
    await session.execute(stmt.execution_options(synchronize_session=False), params)
    return len(ids)


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
