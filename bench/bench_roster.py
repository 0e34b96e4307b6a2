"""Roster (issue 3), through the gateway:

- import 100,000 personnel rows from CSV (POST /imports/personnel, then GET
  /imports/{id} until done), and a raw COPY of the very rows it wrote into a scratch
  table with the same columns, in the same run: the import, validation included, within
  3× of COPY (on SQLite the baseline is a raw sqlite3 executemany; the target is
  PostgreSQL's). The import is timed as it runs, with its events flowing to the gateway
  meanwhile (that CPU is noted); the COPY waits until they have gone, on a quiet machine;
- the quota roll-up of a province of 2,000 regions and 100,000 people (GET
  /reports/quota?region=<province>): p50 under 100 ms, and p99;
- the personnel list with filters, 500 a page, walking the cursor: p50 and p99.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from bench import dataset
from bench.common import (
    CpuMeter,
    api,
    asyncpg_dsn,
    check,
    database_url,
    is_postgres,
    latencies,
    noted,
    profiled,
    size_note,
    sized,
    sqlite_path,
)
from bench.harness import Figure
from tests.stack import Stack

NAME = "roster"
QUOTA_SAMPLES = 60
LIST_SAMPLES = 60
IMPORT_RATIO_TARGET = 3.0
QUOTA_P50_TARGET_MS = 100.0
SCRATCH = "bench_copy_personnel"


async def _drain_postgres(url: str, limit: float = 300.0) -> float:
    """Wait until the roster's outbox has nothing pending (the import's events have
    reached the gateway), so that the baseline COPY runs on a quiet machine; seconds."""
    import asyncpg

    started = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        while time.perf_counter() - started < limit:
            if not await conn.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'"):
                break
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _copy_postgres(url: str, province: str) -> tuple[float, float, int]:
    """COPY the province's personnel rows, as the import stored them, into a scratch
    table with the same columns (no index, no constraint but NOT NULL), and into one with
    personnel's indexes and constraints too: seconds of each, rows."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        records = await conn.fetch(
            "SELECT * FROM personnel WHERE region LIKE $1 ORDER BY id", province + "%"
        )
        columns = list(records[0].keys())
        rows = [tuple(r) for r in records]
        seconds: list[float] = []
        for like in ("INCLUDING DEFAULTS", "INCLUDING ALL"):
            await conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
            await conn.execute(f"CREATE TABLE {SCRATCH} (LIKE personnel {like})")
            started = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table(SCRATCH, records=rows, columns=columns)
            seconds.append(time.perf_counter() - started)
            await conn.execute(f"DROP TABLE {SCRATCH}")
        return seconds[0], seconds[1], len(rows)
    finally:
        await conn.close()


def _copy_sqlite(url: str, province: str) -> tuple[float, int]:
    """SQLite has no COPY: a raw sqlite3 executemany in one transaction instead."""
    conn = sqlite3.connect(sqlite_path(url), timeout=60)
    try:
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        conn.execute(f"CREATE TABLE {SCRATCH} AS SELECT * FROM personnel WHERE 0")
        cursor = conn.execute(
            "SELECT * FROM personnel WHERE region LIKE ? ORDER BY id", (province + "%",)
        )
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        marks = ", ".join("?" for _ in columns)
        started = time.perf_counter()
        with conn:
            conn.executemany(f"INSERT INTO {SCRATCH} VALUES ({marks})", rows)
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP TABLE {SCRATCH}")
        conn.commit()
        return elapsed, len(rows)
    finally:
        conn.close()


def run(stack: Stack, token: str) -> list[Figure]:
    figures: list[Figure] = []
    people = sized(dataset.PEOPLE)
    where = dataset.province()
    scaled = size_note(people)
    with api(stack, token) as client:
        # -- set-up: 2,000 regions, their figures and the quota rule ---------------------
        seconds = dataset.put_regions(client, where)
        figures.append(
            Figure(
                "roster set-up",
                f"PUT /regions/{{code}} × {where.region_count:,}",
                seconds,
                "s",
                note=f"{where.region_count / seconds:,.0f} regions/s, 6 at a time",
            )
        )

        # -- the import ------------------------------------------------------------------
        content = dataset.people_csv(where, people)
        cpu = CpuMeter(stack, NAME).start()
        # the gateway takes the import's personnel.created events meanwhile (the relay
        # hands them over as batches commit): its CPU shares the machine with the import
        events_cpu = CpuMeter(stack, "gateway").start()
        with profiled(stack, NAME, "roster-import"):
            elapsed, job = dataset.import_people(client, content, "bench-personnel.csv")
        cpu.stop()
        events_cpu.stop()
        if job["created"] != people:
            raise RuntimeError(f"the import created {job['created']} of {people}: {job}")
        url = database_url(stack, NAME)
        postgres = is_postgres(stack, NAME)
        indexed: float | None = None
        drained = 0.0
        if postgres:
            drain_cpu = (CpuMeter(stack, NAME).start(), CpuMeter(stack, "gateway").start())
            with profiled(stack, "gateway", "gateway-drain"):
                drained = asyncio.run(_drain_postgres(url))
            for meter in drain_cpu:
                meter.stop()
            baseline, indexed, copied = asyncio.run(_copy_postgres(url, where.code))
            how = "asyncpg copy_records_to_table"
        else:
            baseline, copied = _copy_sqlite(url, where.code)
            how = "raw sqlite3 executemany (no COPY)"
        ratio = elapsed / baseline
        bench = f"personnel import ({people:,} rows, CSV)"
        figures += [
            Figure(
                bench,
                "POST /imports/personnel → done",
                elapsed,
                "s",
                note=noted(
                    f"{people / elapsed:,.0f} rows/s",
                    f"file {len(content) / 1e6:.1f} MB",
                    cpu.note(),
                    f"meanwhile the gateway taking its events {events_cpu.service:.2f} s"
                    + (
                        f" + PostgreSQL {events_cpu.database_cpu:.2f} s"
                        if events_cpu.database
                        else ""
                    ),
                    scaled,
                ),
            ),
            Figure(
                bench,
                "raw COPY of the same rows",
                baseline,
                "s",
                note=f"{how}, {copied:,} rows into a scratch table with the same columns"
                + (
                    f", once the import's events had left the outbox ({drained:.1f} s after;"
                    f" meanwhile CPU: roster {drain_cpu[0].service:.2f} s, gateway"
                    f" {drain_cpu[1].service:.2f} s + PostgreSQL {drain_cpu[1].database_cpu:.2f} s)"
                    if postgres
                    else ""
                ),
            ),
            Figure(
                bench,
                "import ÷ COPY",
                ratio,
                "×",
                target=f"≤ {IMPORT_RATIO_TARGET:.0f}× (PostgreSQL)",
                passed=(ratio <= IMPORT_RATIO_TARGET) if postgres else None,
                note="" if postgres else "the target is set for PostgreSQL's COPY",
            ),
        ]
        if indexed is not None:
            figures += [
                Figure(
                    bench,
                    "raw COPY into a copy of personnel with its indexes",
                    indexed,
                    "s",
                    note="LIKE personnel INCLUDING ALL: the same rows, the table's 4 indexes",
                ),
                Figure(bench, "import ÷ COPY with indexes", elapsed / indexed, "×"),
            ]

        # -- quota roll-up of the province ---------------------------------------------
        report = check(client.get(f"{dataset.ROSTER}/reports/quota?region={where.code}")).json()
        if report["total"]["headcount"] < people:
            raise RuntimeError(f"the roll-up counts {report['total']['headcount']} people")
        path = f"{dataset.ROSTER}/reports/quota?region={where.code}"
        with profiled(stack, NAME, "roster-quota"):
            p50, p99, size = latencies(client, lambda: path, QUOTA_SAMPLES)
        bench = f"quota roll-up ({where.region_count:,} regions, {people:,} people)"
        figures += [
            Figure(
                bench,
                "GET /reports/quota?region=<province> p50",
                p50,
                "ms",
                target=f"< {QUOTA_P50_TARGET_MS:.0f} ms",
                passed=p50 < QUOTA_P50_TARGET_MS,
                note=f"{QUOTA_SAMPLES} sequential requests through the gateway, {size:,} B",
            ),
            Figure(bench, "p99", p99, "ms", note=scaled),
        ]

        # -- the personnel list ----------------------------------------------------------
        filters: dict[str, Any] = {
            "region": where.code,
            "status": "active",
            "post_category": "duty",
            "limit": 500,
        }
        base = f"{dataset.ROSTER}/personnel"
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        # the pages' paths first (following next_cursor, from the start again at the
        # end), so that each measured request is one page and nothing else
        pages: list[str] = []
        cursor: str | None = None
        while len(pages) < LIST_SAMPLES + 3:
            path = f"{base}?{query}" + (f"&cursor={cursor}" if cursor else "")
            pages.append(path)
            cursor = check(client.get(path)).json()["next_cursor"]
        walk = iter(pages)
        with profiled(stack, NAME, "roster-list"):
            p50, p99, size = latencies(client, lambda: next(walk), LIST_SAMPLES)
        bench = "personnel list (500 a page, region + status + category)"
        figures += [
            Figure(
                bench,
                "GET /personnel?…&limit=500 p50",
                p50,
                "ms",
                note=f"{LIST_SAMPLES} pages through the gateway, walking the cursor, {size:,} B",
            ),
            Figure(bench, "p99", p99, "ms", note=f"{500 / p50 * 1000:,.0f} files/s at p50"),
        ]
    return figures
