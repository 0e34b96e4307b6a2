"""Alembic, driven from code: each service keeps its migrations in its own
`migrations/` folder and its own version table, on its own database."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config


def alembic_config(migrations_dir: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["database_url"] = url
    return cfg


def _in_thread(fn: Any, *args: Any) -> None:
    """Alembic's async env calls asyncio.run; never do that on a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn(*args)
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def upgrade(migrations_dir: Path, url: str, revision: str = "head") -> None:
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    _in_thread(command.upgrade, alembic_config(migrations_dir, url), revision)


def downgrade(migrations_dir: Path, url: str, revision: str) -> None:
    _in_thread(command.downgrade, alembic_config(migrations_dir, url), revision)


def run_env(target_metadata: MetaData, version_table: str) -> None:
    """Body of each service's `migrations/env.py`."""
    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    render_batch = str(url).startswith("sqlite")

    def configure(connection: Connection | None = None) -> None:
        kwargs: dict[str, Any] = {
            "target_metadata": target_metadata,
            "version_table": version_table,
            "render_as_batch": render_batch,
            "compare_type": True,
        }
        if connection is None:
            context.configure(url=url, literal_binds=True, **kwargs)
        else:
            context.configure(connection=connection, **kwargs)

    if context.is_offline_mode():
        configure()
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection: Connection) -> None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(
            {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run_async())
