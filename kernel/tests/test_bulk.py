"""kernel.bulk: when a bulk load outdates the planner's statistics, and refreshing them
on a real database (PostgreSQL analyses; SQLite has nothing to do)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from kernel.bulk import estimated_rows, refresh_statistics, statistics_outdated
from kernel.db import Database
from kernel.testing import scratch_db


def test_statistics_are_outdated_by_autovacuums_rule() -> None:
    # more than 50 rows plus a tenth of the table
    assert not statistics_outdated(50, 0)
    assert statistics_outdated(51, 0)
    assert statistics_outdated(51, -1)  # never analysed: empty for the rule
    assert not statistics_outdated(1_050, 10_000)
    assert statistics_outdated(1_051, 10_000)
    assert statistics_outdated(100_000, 0)
    assert not statistics_outdated(0, 0)


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    async with scratch_db("bulk", None) as database:
        yield database


async def test_refresh_statistics_tells_the_planner_what_landed(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE stats_probe (n integer)"))
        await session.execute(
            text("INSERT INTO stats_probe (n) VALUES (:n)"), [{"n": n} for n in range(1_000)]
        )
        before = await estimated_rows(session, "stats_probe")
        await refresh_statistics(session, "stats_probe", ["n"])
        after = await estimated_rows(session, "stats_probe")
    if db.engine.dialect.name == "postgresql":
        assert before is not None and before <= 0  # a new table: never analysed
        assert after == 1_000
    else:
        assert before is None and after is None
    async with db.session() as session:
        assert await estimated_rows(session, "no_such_table") is None
