"""Init container of every auxpol Deployment: wait until the process's database schema
is at the Alembic head this image carries, then exit 0 so the server starts.

    python wait_for_schema.py <gateway|roster|recruitment|compensation>

It never migrates: the release's migration Job does that, once per database. It only
reads the process's version table (alembic_version_<process>), so replicas starting
together never race on DDL. A database whose revision this image does not know is
*ahead* of the image (a newer release migrated it, and this pod is an older replica or
a rollback): that is accepted, because migrations are expand-then-contract and the
previous release keeps working on the next schema (docs/operations.md, "Upgrades").

Environment: the process's usual settings (AUXPOL_<PROCESS>_DATABASE_URL, ...) and
AUXPOL_SCHEMA_WAIT_SECONDS (default 600) and AUXPOL_SCHEMA_POLL_SECONDS (default 3).
Exit status: 0 ready, 1 still behind at the deadline, 2 usage error.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

READY, BEHIND, AHEAD = "ready", "behind", "ahead"


@dataclass(frozen=True)
class SchemaState:
    heads: frozenset[str]  # what this image's migrations end in
    known: frozenset[str]  # every revision this image's migrations contain
    current: frozenset[str]  # what the database says it is at

    @property
    def verdict(self) -> str:
        if self.current == self.heads:
            return READY
        if self.current and not self.current & self.known:
            return AHEAD
        return BEHIND


def script_revisions(migrations: Path) -> tuple[frozenset[str], frozenset[str]]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrations))
    script = ScriptDirectory.from_config(config)
    known = frozenset(rev.revision for rev in script.walk_revisions())
    return frozenset(script.get_heads()), known


async def database_revisions(url: str, version_table: str) -> frozenset[str]:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    def read(connection: Connection) -> frozenset[str]:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        return frozenset(context.get_current_heads())

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


def wait(name: str, timeout: float, poll: float) -> int:
    """0 once the schema is at (or past) this image's head; 1 if it is still behind
    when `timeout` seconds have passed."""
    from auxpol.processes import PROCESSES

    process = PROCESSES[name]
    # Configuration errors (bad settings, missing migrations) fail at once, loudly.
    heads, known = script_revisions(process.migrations)
    url = process.load_settings().database_url
    return asyncio.run(_poll(name, url, heads, known, time.monotonic() + timeout, poll))


async def _poll(
    name: str, url: str, heads: frozenset[str], known: frozenset[str], deadline: float, poll: float
) -> int:
    started, last = time.monotonic(), ""
    while True:
        try:
            current = await database_revisions(url, f"alembic_version_{name}")
        except Exception as exc:  # the database is not reachable yet: keep waiting
            verdict, detail = BEHIND, f"cannot read the schema version: {_describe(exc)}"
        else:
            verdict = SchemaState(heads, known, current).verdict
            detail = f"database at {sorted(current)}, image head {sorted(heads)}"
        if verdict in (READY, AHEAD):
            note = " (newer than this image: accepted)" if verdict == AHEAD else ""
            print(f"{name}: schema {verdict}{note}; {detail}", flush=True)
            return 0
        if detail != last:
            print(f"{name}: waiting for the migration Job; {detail}", flush=True)
            last = detail
        if time.monotonic() >= deadline:
            waited = time.monotonic() - started
            print(f"{name}: schema still behind after {waited:.0f} s; {detail}", flush=True)
            return 1
        await asyncio.sleep(poll)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main(argv: list[str]) -> int:
    from auxpol.processes import PROCESSES

    if len(argv) != 2 or argv[1] not in PROCESSES:
        print(f"usage: wait_for_schema.py <{'|'.join(PROCESSES)}>", file=sys.stderr)
        return 2
    timeout = float(os.environ.get("AUXPOL_SCHEMA_WAIT_SECONDS", "600"))
    poll = float(os.environ.get("AUXPOL_SCHEMA_POLL_SECONDS", "3"))
    return wait(argv[1], timeout, poll)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
