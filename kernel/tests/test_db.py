"""kernel.db's sessions and pool: a connection the server ended is replaced at checkout,
with no round trip spent on pinging the live ones (against the local PostgreSQL in both
test runs, as the fault drills are); a read request's session runs each statement on its
own on PostgreSQL and refuses to write, on either database."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import Integer, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import Database, ReadOnlyWork, make_metadata
from kernel.testing import postgres_base_url, scratch_db

LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


class ProbeBase(DeclarativeBase):
    metadata = make_metadata()


class Probe(ProbeBase):
    __tablename__ = "probes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


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


async def test_a_read_request_session_reads_without_a_transaction_and_refuses_to_write() -> None:
    async with scratch_db("reads", None) as db:
        async with db.engine.begin() as conn:
            await conn.run_sync(ProbeBase.metadata.create_all)
        async with db.read_request_session() as session:
            assert await session.scalar(text("SELECT count(*) FROM probes")) == 0
            if db.dialect == "postgresql":
                # each statement on its own: no transaction spans the two
                first = await session.scalar(text("SELECT now()"))
                second = await session.scalar(text("SELECT now()"))
                assert first != second
            with pytest.raises(ReadOnlyWork):
                await session.execute(text("INSERT INTO probes (id) VALUES (1)"))
            with pytest.raises(ReadOnlyWork):
                await session.execute(Probe.__table__.insert().values(id=2))
            session.add(Probe(id=3))
            with pytest.raises(ReadOnlyWork):
                await session.flush()
        async with db.session() as session:
            assert await session.scalar(text("SELECT count(*) FROM probes")) == 0
