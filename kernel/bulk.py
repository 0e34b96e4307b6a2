"""What work over 100,000 rows needs in any service: no cyclic garbage collection
while it runs, the driver's own connection (for COPY) under a session, lookups of many
values at once, and fresh planner statistics once it has landed."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnElement, any_

_gc_pauses = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a request or a job builds and writes 100,000
    rows.

    Those rows are a million small containers that all live until the work ends: each
    collection would walk them all again, for nothing (20-30% of a stage close's CPU).
    Reference counting frees as usual; collection resumes when the last pause ends
    (pauses of concurrent work nest), and is left alone if it was already off."""
    global _gc_pauses
    if not _gc_pauses and not gc.isenabled():
        yield
        return
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if not _gc_pauses:
            gc.enable()


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's connection, inside its transaction."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def in_chunks(session: AsyncSession, values: list[str], size: int = 10_000) -> list[list[str]]:
    """`values` for `one_of`: all at once on PostgreSQL (one array parameter), else in
    lists within SQLite's bound-parameter limit."""
    if is_postgres(session) or len(values) <= size:
        return [values] if values else []
    return [values[i : i + size] for i in range(0, len(values), size)]


def one_of(session: AsyncSession, column: Any, values: list[str]) -> ColumnElement[bool]:
    """`column = ANY(:array)` on PostgreSQL: one parameter and one plan, however many
    values (an IN list is compiled again for each length, a bound parameter a value),
    and `IN` elsewhere."""
    if is_postgres(session):
        return column == any_(bindparam("values", values, type_=ARRAY(String), unique=True))
    result: ColumnElement[bool] = column.in_(values)
    return result


# PostgreSQL's autovacuum_analyze_threshold and autovacuum_analyze_scale_factor defaults
ANALYZE_THRESHOLD_ROWS = 50
ANALYZE_SCALE_FACTOR = 0.1


def statistics_outdated(added: int, rows_before: float) -> bool:
    """Whether `added` new rows outdate a table's planner statistics, by autovacuum's own
    rule (more than 50 rows plus a tenth of the table). `rows_before` is the planner's
    estimate; PostgreSQL says -1 for a table never analysed, which counts as empty."""
    return added > ANALYZE_THRESHOLD_ROWS + ANALYZE_SCALE_FACTOR * max(rows_before, 0.0)


async def estimated_rows(session: AsyncSession, table: str) -> float | None:
    """The planner's row estimate of `table` on PostgreSQL (None elsewhere)."""
    if not is_postgres(session):
        return None
    value = await session.scalar(
        text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"), {"name": table}
    )
    return None if value is None else float(value)


async def refresh_statistics(session: AsyncSession, table: str, columns: Sequence[str]) -> None:
    """ANALYZE `table` on PostgreSQL for `columns`, at once rather than at autovacuum's
    next round.

    A bulk load leaves the planner believing a table is as small as it was: a personnel
    page of 500 read 32,000 rows and sorted them (57-89 ms) instead of walking the
    primary key (0.7 ms) until autovacuum came by. Any ANALYZE sets the table's size;
    `columns` are those the service filters, joins and sorts on, which keeps it to a
    fraction of a full one (about 0.1 s instead of 0.3-0.5 s for 100,000 files). A
    column list leaves autovacuum's count of changes as it was, so its full analysis
    still follows. SQLite plans without statistics."""
    if not is_postgres(session):
        return
    quote = session.get_bind().dialect.identifier_preparer.quote
    listed = ", ".join(quote(c) for c in columns)
    await session.execute(text(f"ANALYZE {quote(table)} ({listed})"))
