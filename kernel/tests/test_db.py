"""The pool's liveness check on PostgreSQL: a connection the server has ended is
replaced at checkout, with no round trip spent on pinging the live ones. Runs against
the local PostgreSQL in both test runs (as the fault drills do)."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text

from kernel.db import Database
from kernel.testing import postgres_base_url

LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def test_a_connection_the_server_ended_is_replaced_at_checkout() -> None:
    url = postgres_base_url() or LOCAL_POSTGRES
    db = Database(url, pool_size=1)
    try:
        assert db.engine.pool._pre_ping is False  # type: ignore[attr-defined]
        async with db.session() as session:
            first = await session.scalar(text("SELECT pg_backend_pid()"))
        # as a restart does to every backend: the pooled connection's server goes away
        admin = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", first)
        finally:
            await admin.close()
        await asyncio.sleep(0.2)  # the event loop reads the server's goodbye meanwhile
        # without the check, this checkout hands out the dead connection and fails
        async with db.session() as session:
            second = await session.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        await db.dispose()
