"""Database engine and sessions.

One transaction per request, committed in one place: `TransactionalRoute` (see
`kernel.routing`) commits the request's session after the endpoint returns and
rolls it back on any error. Services and repositories only flush.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, TextClause, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session
from sqlalchemy.types import JSON, TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit key that is still SQLite's auto-increment rowid.
BigIntPK = BigInteger().with_variant(Integer, "sqlite")


def json_type() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Each service declares its own subclass with its own MetaData (see `make_base`)."""

    __abstract__ = True


def make_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, hide_parameters=True
        )
        _configure_sqlite(engine)
        return engine
    # hide_parameters: error messages never carry row values (ID numbers) into logs.
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=True,
    )
    _refuse_closed_connections(engine)
    return engine


def _refuse_closed_connections(engine: AsyncEngine) -> None:
    """The pool's liveness check, without a round trip: a connection whose socket the
    driver has seen close (PostgreSQL restarted, or ended the backend) is replaced at
    checkout (SQLAlchemy's pessimistic-disconnect recipe, answered from asyncpg's own
    state).

    `pool_pre_ping` did the same with BEGIN, `;` and ROLLBACK before every request: 3
    of the 7 round trips of a simple read. A connection that dies unseen (a network
    partition) fails its first statement instead; that request is answered 503 and the
    pool drops its connections (SQLAlchemy invalidates the pool on a disconnect)."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        driver = record.driver_connection
        if driver is not None and driver.is_closed():
            raise DisconnectionError("the connection was closed")


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Take transaction control away from pysqlite so that BEGIN IMMEDIATE and
    SAVEPOINT work (SQLAlchemy's documented recipe), and set WAL and foreign keys."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE")


class ReadOnlyWork(RuntimeError):
    """A read request (GET, HEAD, OPTIONS) tried to write: its session runs each
    statement on its own, so a write there would not be atomic. A bug, never input."""


class ReadRequestSession(Session):
    """The session of a read request: refuses to flush changes or run DML."""


@event.listens_for(ReadRequestSession, "before_flush")
def _no_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyWork("a read request changed an object")


@event.listens_for(ReadRequestSession, "do_orm_execute")
def _no_dml(state: ORMExecuteState) -> None:
    statement = state.statement
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlyWork("a read request ran INSERT, UPDATE or DELETE")
    if isinstance(statement, TextClause) and statement.text.lstrip().upper().startswith(_WRITES):
        raise ReadOnlyWork("a read request ran a writing statement")


class Database:
    """Owns the engine and makes sessions. Write sessions on SQLite begin IMMEDIATE,
    so that two writers are serialised instead of failing at commit."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        self.dialect = self.engine.dialect.name
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        writer_bind = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE")
            if self.dialect == "sqlite"
            else self.engine
        )
        self.write_sessionmaker = async_sessionmaker(writer_bind, expire_on_commit=False)
        # A read request's statements each run on their own on PostgreSQL: READ
        # COMMITTED gives every statement its own snapshot anyway, so BEGIN and COMMIT
        # (2 of a simple read's 4 round trips) bought nothing. The session refuses to
        # write, since its writes would not be atomic.
        reader_bind = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else self.engine
        )
        self.read_request_sessionmaker = async_sessionmaker(
            reader_bind, expire_on_commit=False, sync_session_class=ReadRequestSession
        )

    def session(self, *, write: bool = False) -> AsyncSession:
        return (self.write_sessionmaker if write else self.sessionmaker)()

    def read_request_session(self) -> AsyncSession:
        """The session of a GET, HEAD or OPTIONS request (see `read_request_sessionmaker`).
        Work outside requests (relays, jobs, streams) takes `session()`."""
        return self.read_request_sessionmaker()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A unit of work outside a request (relays, CLI): commit on success."""
        async with self.session(write=write) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
