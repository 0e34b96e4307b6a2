"""Test harness shared by every service's tests.

- `scratch_database(name, migrations)`: a throwaway database built by the
  migrations (never `create_all`): a SQLite file, or a fresh PostgreSQL database
  when AUXPOL_TEST_DATABASE_URL names a server (e.g.
  postgresql+asyncpg://postgres@127.0.0.1:5432/postgres).
- `scratch_db(name, migrations)`: the same, as an open `Database`.
- `rolled_back(app)`: binds every session of a running app to one connection
  inside a transaction that is rolled back after the test.
- `StatisticsSpy`: stands in for a module's planner-statistics estimate and records
  what it analyses.
- `TestIssuer`: signs tokens the apps under test accept.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker

from kernel.db import Database, ReadRequestSession
from kernel.jwt import (
    Issuer,
    SigningKey,
    TokenVerifier,
    generate_private_key_pem,
    issue_token,
    load_signing_key,
)
from kernel.migrations import upgrade

TEST_ISSUER = "auxpol"
TEST_AUDIENCE = "auxpol-api"


def postgres_base_url() -> str | None:
    url = os.environ.get("AUXPOL_TEST_DATABASE_URL", "").strip()
    return url or None


async def _admin_execute(base_url: str, statement: str) -> None:
    import asyncpg

    url = make_url(base_url).set(drivername="postgresql")
    conn = await asyncpg.connect(
        user=url.username or "postgres",
        password=url.password,
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_database(name: str, migrations: Path | None) -> AsyncIterator[str]:
    """Yield the URL of a new, migrated database; drop it afterwards."""
    base = postgres_base_url()
    if base is None:
        with tempfile.TemporaryDirectory(prefix=f"auxpol-{name}-") as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/{name}.db"
            if migrations is not None:
                upgrade(migrations, url)
            yield url
        return
    db_name = f"auxpol_test_{name}_{uuid.uuid4().hex[:10]}"
    await _admin_execute(base, f'CREATE DATABASE "{db_name}"')
    rendered = make_url(base).set(drivername="postgresql+asyncpg", database=db_name)
    rendered_url = rendered.render_as_string(hide_password=False)
    try:
        if migrations is not None:
            upgrade(migrations, rendered_url)
        yield rendered_url
    finally:
        await _admin_execute(base, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


@asynccontextmanager
async def scratch_db(name: str, migrations: Path | None) -> AsyncIterator[Database]:
    """A `Database` on a `scratch_database`, disposed of afterwards."""
    async with scratch_database(name, migrations) as url:
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()


class StatisticsSpy:
    """Stands in for a module's `estimated_rows` (answering `rows`, whatever the table)
    and records the tables and columns its `refresh_statistics` analyses, running the
    real one (an ANALYZE on PostgreSQL)."""

    __test__ = False

    def __init__(self, monkeypatch: Any, module: Any, rows: float = 0.0) -> None:
        self.rows = rows
        self.asked: list[str] = []
        self.refreshed: list[tuple[str, tuple[str, ...]]] = []
        original = module.refresh_statistics

        async def refresh(session: Any, table: str, columns: Any) -> None:
            self.refreshed.append((table, tuple(columns)))
            await original(session, table, columns)

        async def estimated(_session: Any, table: str) -> float:
            self.asked.append(table)
            return self.rows

        monkeypatch.setattr(module, "refresh_statistics", refresh)
        monkeypatch.setattr(module, "estimated_rows", estimated)


@asynccontextmanager
async def rolled_back(app: FastAPI) -> AsyncIterator[Database]:
    """Every session the app opens joins one outer transaction, rolled back at the end."""
    db: Database = app.state.db
    saved = (db.sessionmaker, db.write_sessionmaker, db.read_request_sessionmaker)
    async with db.engine.connect() as conn:
        outer = await conn.begin()
        bound = async_sessionmaker(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        db.sessionmaker = bound
        db.write_sessionmaker = bound
        # read requests keep their guard against writing (in the outer transaction)
        db.read_request_sessionmaker = async_sessionmaker(
            bind=conn,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
            sync_session_class=ReadRequestSession,
        )
        try:
            yield db
        finally:
            db.sessionmaker, db.write_sessionmaker, db.read_request_sessionmaker = saved
            if outer.is_active:
                await outer.rollback()


class TestIssuer:
    """A signing key and the verifier that trusts it."""

    __test__ = False

    def __init__(self, alg: str = "RS256") -> None:
        self.key: SigningKey = load_signing_key(generate_private_key_pem(alg))

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(
            [Issuer(TEST_ISSUER, TEST_AUDIENCE, local_keys={self.key.kid: self.key.public})]
        )

    def token(
        self, *roles: str, region: str = "", sub: str | None = None, ttl: int = 600, **extra: Any
    ) -> str:
        return issue_token(
            self.key,
            issuer=TEST_ISSUER,
            audience=TEST_AUDIENCE,
            subject=sub or f"user-{'-'.join(roles) or 'none'}-{region or 'all'}",
            roles=list(roles),
            region=region,
            ttl_seconds=ttl,
            extra=extra or None,
        )

    def headers(self, *roles: str, region: str = "", sub: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, region=region, sub=sub)}"}


@asynccontextmanager
async def running_service(
    create_app: Any, settings: Any, issuer: TestIssuer
) -> AsyncIterator[FastAPI]:
    """Run an app's lifespan with the test issuer's keys trusted."""
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.token_verifier = issuer.verifier()
        yield app


@asynccontextmanager
async def api_client(app: FastAPI, base_url: str = "http://test") -> AsyncIterator[Any]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client
