"""Bulk import of personnel files (CSV or XLSX).

The upload is checked as a whole first (format, header). Then the rows are processed
in batches of `import_batch_size`:

1. check every row (`import_checks.RowChecker`: the checks of `POST /personnel`,
   column by column, with the row-by-row path for any row in doubt), and catch
   repeated ID numbers and references within the file;
2. land the batch in one transaction: rows whose ID number is already on the staff
   under the same name are *skipped* (a re-run of the same file creates nothing), other
   clashes are errors; each row takes a free seat of its seat region, or a seat of the
   reservation it names, in file order, under the seat locks of `seats.py`; the files
   are written as COPY text on PostgreSQL and with executemany on SQLite, with their
   contracts and one outbox bundle of their `personnel.created` events; the counters,
   the row errors and the import's progress are written in the same transaction.

So valid rows land atomically per batch, every bad row is reported with its line and
reason, and progress is visible through `GET /imports/{id}` as each batch commits. A
batch that meets a concurrent change (a unique index, a deadlock) is retried from its
checks.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator

from kernel.auth import Principal
from kernel.bulk import (
    driver,
    estimated_rows,
    gc_paused,
    in_chunks,
    one_of,
    refresh_statistics,
    statistics_outdated,
)
from kernel.db import Database, utcnow
from services.common.resident_id import redact_id_numbers
from services.roster import events
from services.roster.db import KERNEL_TABLES
from services.roster.import_checks import (
    DATA_COLUMNS,
    ImportRow,
    RowChecker,
    RowError,
    copy_line,
)
from services.roster.import_parsing import ImportFile
from services.roster.level_config import LevelPolicies
from services.roster.models import (
    Contract,
    Import,
    ImportRowError,
    Personnel,
    Post,
    QuotaReservation,
    Region,
    RegionCounter,
)
from services.roster.personnel_service import ON_STAFF
from services.roster.regions_service import figures_on, quota_line, rule_book
from services.roster.schemas import ReservationStatus
from services.roster.seats import dialect_of, insert_for, lock_seats, seat_region

log = logging.getLogger("auxpol.roster.imports")

ATTEMPTS = 3
SLICE = 500  # rows checked between two turns of the event loop (a few ms)
STALE_AFTER = timedelta(minutes=10)

# a new file's columns; the others (left_date, departure_reason, last assessment) are NULL
PERSONNEL_COLUMNS = (
    "id", *DATA_COLUMNS, "reservation_id", "import_id", "import_line", "created_at",
    "created_by", "updated_at", "version",
)  # fmt: skip
CONTRACT_COLUMNS = (
    "personnel_id", "kind", "start", "end", "probation_months", "note", "recorded_at",
    "recorded_by",
)  # fmt: skip
OUTBOX_COLUMNS = (
    "event_id", "topic", "payload", "created_at", "status", "attempts", "next_attempt_at",
)  # fmt: skip
ERROR_COLUMNS = ("import_id", "line", "column", "code", "message")
# what the personnel list, the reports and the seat checks filter, join and sort on:
# analysed after a large import (the ID number and the reference have unique indexes,
# whose plans need no statistics)
PLANNED_COLUMNS = {
    "personnel": (
        "id", "region", "status", "post_category", "post", "level", "unit", "education",
    ),
    "contracts": ("personnel_id",),
}  # fmt: skip


@dataclass
class BatchOutcome:
    created: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass
class ImportJob:
    import_id: int
    principal: Principal
    file: ImportFile
    batch_size: int


def retryable(exc: BaseException) -> bool:
    """A clash with a concurrent writer: the batch is checked and written again.

    COPY runs on the raw asyncpg connection, so its errors arrive unwrapped."""
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        return "deadlock" in str(exc.orig).lower()
    try:
        from asyncpg import exceptions as pg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(
        exc, pg.UniqueViolationError | pg.DeadlockDetectedError | pg.SerializationError
    )


# --- bulk writing ---------------------------------------------------------------------------


async def bulk_insert(
    session: AsyncSession, table: Table, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    """COPY on PostgreSQL, executemany elsewhere; `records` follow `columns`."""
    if not records:
        return
    if dialect_of(session) == "postgresql":
        connection = await driver(session)
        await connection.copy_records_to_table(table.name, records=records, columns=list(columns))
        return
    await session.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in records])


async def write_text_rows(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    lines: list[str],
    rows: Callable[[], list[tuple[str, ...]]],
) -> None:
    """Rows written as text (`import_checks`: "" is NULL) into `table`: on PostgreSQL
    the `lines` of COPY text, so the server reads the values; elsewhere the `rows` of
    values turned back into what SQLAlchemy binds, and executemany."""
    if not lines:
        return
    if dialect_of(session) == "postgresql":
        connection = await driver(session)
        await connection.copy_to_table(
            table.name,
            source=io.BytesIO(("\n".join(lines) + "\n").encode()),
            columns=list(columns),
            format="text",
            null="",
        )
        return
    await session.execute(insert(table), [sqlite_values(table, columns, row) for row in rows()])


def sqlite_values(table: Table, columns: Sequence[str], row: Sequence[str]) -> dict[str, Any]:
    """A text row (`import_checks`: "" is NULL, no value is empty text) as the values
    SQLAlchemy binds, by each column's Python type."""
    values: dict[str, Any] = {}
    for name, text_value in zip(columns, row, strict=True):
        kind = table.c[name].type
        python_type = (kind.impl if isinstance(kind, TypeDecorator) else kind).python_type
        if not text_value:
            values[name] = None
        elif python_type is datetime:
            values[name] = datetime.fromisoformat(text_value)
        elif python_type is date:
            values[name] = date.fromisoformat(text_value)
        elif python_type is int:
            values[name] = int(text_value)
        elif python_type is bool:
            values[name] = text_value == "t"
        else:
            values[name] = text_value
    return values


async def personnel_sequence(session: AsyncSession) -> str | None:
    """The name of the sequence behind personnel ids (PostgreSQL only)."""
    if dialect_of(session) != "postgresql":
        return None
    name = (
        await session.execute(text("SELECT pg_get_serial_sequence('personnel', 'id')"))
    ).scalar_one()
    return str(name)


async def allocate_ids(session: AsyncSession, count: int, sequence: str | None) -> list[int]:
    """`count` new personnel ids: from the sequence on PostgreSQL (shared safely with
    concurrent writers), after the largest id on SQLite (the writer holds the lock)."""
    if sequence is not None:
        quoted = sequence.replace("'", "''")  # a name from the catalogue, quoted anyway
        ids = (
            await session.execute(
                text(
                    f"SELECT array_agg(nextval('{quoted}'::regclass)) FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
        ).scalar_one()
        return sorted(int(i) for i in ids)
    top = (await session.execute(select(func.coalesce(func.max(Personnel.id), 0)))).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + count))


async def enqueue_created(
    session: AsyncSession, columns: dict[str, list[Any]], now: datetime
) -> None:
    """The batch's `personnel.created` events in one outbox row, in the same
    transaction as the files: a column per field (`events.created_bundle`), a few
    bytes a file; the relay announces each event as `POST /personnel` would."""
    ids = columns["personnel_id"]
    if not ids:
        return
    topic = events.PERSONNEL_CREATED_BUNDLE
    bundle = events.created_bundle(now, columns)
    # the raw connection's jsonb codec takes JSON text (COPY bypasses SQLAlchemy's)
    payload: Any = json.dumps(bundle) if dialect_of(session) == "postgresql" else bundle
    await bulk_insert(
        session,
        KERNEL_TABLES.outbox,
        OUTBOX_COLUMNS,
        [(f"{topic}:{ids[0]}", topic, payload, now, "pending", 0, now)],
    )


async def add_to_counters(session: AsyncSession, deltas: dict[str, tuple[int, int]]) -> None:
    """Add (headcount, reserved) deltas to many regions' counters at once."""
    items = [(r, h, res) for r, (h, res) in sorted(deltas.items()) if h or res]
    if not items:
        return
    if dialect_of(session) == "postgresql":
        await session.execute(
            text(
                "UPDATE region_counters AS c SET headcount = c.headcount + d.h, "
                "reserved = c.reserved + d.r FROM unnest(CAST(:regions AS varchar[]), "
                "CAST(:hs AS integer[]), CAST(:rs AS integer[])) AS d(region, h, r) "
                "WHERE c.region = d.region"
            ),
            {
                "regions": [i[0] for i in items],
                "hs": [i[1] for i in items],
                "rs": [i[2] for i in items],
            },
        )
        return
    table: Table = RegionCounter.__table__  # type: ignore[assignment]
    await session.execute(
        update(table)
        .where(table.c.region == bindparam("b_region"))
        .values(
            headcount=table.c.headcount + bindparam("b_h"),
            reserved=table.c.reserved + bindparam("b_r"),
        ),
        [{"b_region": r, "b_h": h, "b_r": res} for r, h, res in items],
    )


# --- the run -----------------------------------------------------------------------------------


class Importer:
    def __init__(self, db: Database, policies: LevelPolicies, job: ImportJob, today: date):
        self.db = db
        self.policies = policies
        self.job = job
        self.today = today
        self.sequence: str | None = None
        self.counters: set[str] = set()  # regions whose counter rows exist
        self.checker: RowChecker | None = None  # once the regions and posts are known
        self.rows: Iterator[tuple[int, list[Any]]] = iter(())
        self.upcoming: asyncio.Future[tuple[int, list[ImportRow], list[RowError]]] | None = None
        self.rows_before: float | None = None  # the planner's estimate (PostgreSQL)

    async def preload(self) -> None:
        principal = self.job.principal
        async with self.db.session() as session:
            regions = set(
                (
                    await session.execute(
                        select(Region.code).where(principal.region_filter(Region.code))
                    )
                ).scalars()
            )
            posts = dict((await session.execute(select(Post.name, Post.category))).all())
            self.rows_before = await estimated_rows(session, Personnel.__tablename__)
        file = self.job.file
        self.checker = RowChecker(
            file.columns,
            regions,
            posts,
            self.policies,
            self.today,
            cells_are_text=file.fmt == "csv",
        )

    async def land(
        self, candidates: list[ImportRow], errors: list[RowError], processed: int
    ) -> BatchOutcome:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.db.transaction() as session:
                    outcome = await self._land(session, candidates, errors, processed)
                return outcome
            except Exception as exc:
                if attempt == ATTEMPTS or not retryable(exc):
                    raise
                log.info(
                    "import batch retried",
                    extra={"import_id": self.job.import_id, "error": type(exc).__name__},
                )
        raise AssertionError("unreachable")

    async def _land(
        self,
        session: AsyncSession,
        candidates: list[ImportRow],
        validation_errors: list[RowError],
        processed: int,
    ) -> BatchOutcome:
        job = self.job
        principal = job.principal
        now = utcnow()
        outcome = BatchOutcome(errors=list(validation_errors))

        # 1. already on the staff, or reference taken
        numbers = [row.id_number for row in candidates]
        on_staff: dict[str, tuple[int, str]] = {}
        for chunk in in_chunks(session, numbers):
            for pid, number, name in await session.execute(
                select(Personnel.id, Personnel.id_number, Personnel.name).where(
                    one_of(session, Personnel.id_number, chunk), ON_STAFF
                )
            ):
                on_staff[number] = (pid, name)
        references = [row.external_reference for row in candidates]
        taken: dict[str, str] = {}
        for chunk in in_chunks(session, [r for r in references if r]):
            for ref, number in await session.execute(
                select(Personnel.external_reference, Personnel.id_number).where(
                    one_of(session, Personnel.external_reference, chunk)
                )
            ):
                if ref is not None:
                    taken[ref] = number
        fresh: list[ImportRow] = []
        for c in candidates:
            existing = on_staff.get(c.id_number)
            reference = c.external_reference
            if reference and reference in taken:
                if taken[reference] == c.id_number:
                    outcome.skipped += 1
                else:
                    outcome.errors.append(
                        RowError(
                            c.line,
                            "external_reference",
                            "reference_conflict",
                            "external_reference is already used by another file",
                        )
                    )
                continue
            if existing is not None:
                if existing[1] == c.name:
                    outcome.skipped += 1
                else:
                    outcome.errors.append(
                        RowError(
                            c.line,
                            "id_number",
                            "duplicate_id_number",
                            f"this ID number is already on the staff (personnel {existing[0]}) "
                            "under another name",
                        )
                    )
                continue
            fresh.append(c)

        # 2. reservations named by rows, locked before the seats
        named = sorted({ref for c in fresh if (ref := c.reservation_reference) is not None})
        reservations: dict[str, QuotaReservation] = {}
        if named:
            stmt = (
                select(QuotaReservation)
                .where(QuotaReservation.reference.in_(named))
                .order_by(QuotaReservation.id)
                .execution_options(populate_existing=True)
            )
            if dialect_of(session) == "postgresql":
                stmt = stmt.with_for_update()
            for reservation in (await session.execute(stmt)).scalars():
                if principal.sees(reservation.region):
                    reservations[reservation.reference] = reservation

        # 3. seats, in file order
        regions = {c.region for c in fresh} | {r.region for r in reservations.values()}
        occupancy = await lock_seats(session, regions, known=self.counters) if regions else {}
        free: dict[str, int] = {}
        if occupancy:
            seats = sorted(occupancy)
            book = await rule_book(session, seats)
            figures = await figures_on(session, seats, self.today)
            for seat in seats:
                occ = occupancy[seat]
                line = quota_line(
                    seat, self.today, book, figures[seat], occ.headcount, occ.reserved
                )
                free[seat] = line.figures.quota - occ.headcount - occ.reserved
        held = {
            ref: r.held if r.status == ReservationStatus.OPEN.value else 0
            for ref, r in reservations.items()
        }
        landing: list[tuple[ImportRow, QuotaReservation | None]] = []
        for c in fresh:
            seat = seat_region(c.region)
            ref = c.reservation_reference
            if ref is not None:
                named_reservation = reservations.get(ref)
                if named_reservation is None:
                    outcome.errors.append(RowError(
                        c.line, "reservation_reference", "reservation_not_found",
                        "no reservation with that reference",
                    ))  # fmt: skip
                elif seat_region(named_reservation.region) != seat:
                    other = seat_region(named_reservation.region)
                    outcome.errors.append(RowError(
                        c.line, "reservation_reference", "reservation_region_mismatch",
                        f"the reservation holds seats of region {other}",
                    ))  # fmt: skip
                elif held[ref] <= 0:
                    outcome.errors.append(RowError(
                        c.line, "reservation_reference", "reservation_exhausted",
                        f"reservation {named_reservation.id} has no seat left",
                    ))  # fmt: skip
                else:
                    held[ref] -= 1
                    landing.append((c, named_reservation))
                continue
            if free.get(seat, 0) <= 0:
                outcome.errors.append(RowError(
                    c.line, "region", "quota_exceeded",
                    f"no free quota seat in region {seat}",
                ))  # fmt: skip
                continue
            free[seat] -= 1
            landing.append((c, None))

        # 4. write
        if landing:
            await self._write(session, landing, now)
        outcome.created = len(landing)
        outcome.errors.sort(key=lambda e: e.line)
        await bulk_insert(
            session,
            ImportRowError.__table__,  # type: ignore[arg-type]
            ERROR_COLUMNS,
            [(job.import_id, e.line, e.column, e.code, e.message) for e in outcome.errors],
        )
        await session.execute(
            update(Import)
            .where(Import.id == job.import_id)
            .values(
                processed_rows=Import.processed_rows + processed,
                created_rows=Import.created_rows + outcome.created,
                skipped_rows=Import.skipped_rows + outcome.skipped,
                failed_rows=Import.failed_rows + len(outcome.errors),
                heartbeat_at=now,
            )
        )
        return outcome

    async def _write(
        self,
        session: AsyncSession,
        landing: list[tuple[ImportRow, QuotaReservation | None]],
        now: datetime,
    ) -> None:
        job = self.job
        who = job.principal.sub
        if self.sequence is None:
            self.sequence = await personnel_sequence(session)
        ids = await allocate_ids(session, len(landing), self.sequence)
        # every file's row as text: its id, its checked fields (as COPY text already),
        # then what the import adds
        stamp = now.isoformat()
        import_id = str(job.import_id)
        rows = [row for row, _ in landing]
        held = [("" if r is None else str(r.id)) for _, r in landing]
        tail = copy_line((stamp, who, stamp, "1"))
        lines = [
            f"{pid}\t{row.text}\t{held_by}\t{import_id}\t{row.line}\t{tail}"
            for pid, row, held_by in zip(ids, rows, held, strict=True)
        ]
        contracts: list[tuple[str, ...]] = [
            (str(pid), *row.contract, "", stamp, who)
            for pid, row in zip(ids, rows, strict=True)
            if row.contract is not None
        ]

        def people() -> list[tuple[str, ...]]:
            return [
                (str(pid), *row.fields, held_by, import_id, str(row.line), stamp, who, stamp, "1")
                for pid, row, held_by in zip(ids, rows, held, strict=True)
            ]

        # the same fields column by column: the event bundle, the counters, the posts
        by_column = zip(*(row.fields for row in rows), strict=True)
        columns = dict(zip(DATA_COLUMNS, by_column, strict=True))
        bundle: dict[str, list[Any]] = {
            "personnel_id": ids,
            **{name: list(columns[name]) for name in events.CREATED_BUNDLE_FIELDS[1:-1]},
            "external_reference": [ref or None for ref in columns["external_reference"]],
        }
        deltas: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
        for region, count in Counter(columns["region"]).items():
            deltas[region][0] += count
        converted: Counter[int] = Counter()
        for _, reservation in landing:
            if reservation is not None:
                deltas[reservation.region][1] -= 1
                converted[reservation.id] += 1
        # posts keep one category in a file (import_checks): the first use is any use
        new_posts = dict(zip(columns["post"], columns["post_category"], strict=True))
        if new_posts:
            insert_post = insert_for(session)
            await session.execute(
                insert_post(Post)
                .values(
                    [
                        {"name": n, "category": cat, "created_at": now, "created_by": who}
                        for n, cat in sorted(new_posts.items())
                    ]
                )
                .on_conflict_do_nothing(index_elements=["name"])
            )
        self.check_next_batch()
        await write_text_rows(
            session,
            Personnel.__table__,  # type: ignore[arg-type]
            PERSONNEL_COLUMNS,
            lines,
            people,
        )
        await write_text_rows(
            session,
            Contract.__table__,  # type: ignore[arg-type]
            CONTRACT_COLUMNS,
            [copy_line(c) for c in contracts],
            lambda: contracts,
        )
        await enqueue_created(session, bundle, now)
        for reservation in {r.id: r for _, r in landing if r is not None}.values():
            reservation.converted += converted[reservation.id]
            reservation.updated_at = now
            if reservation.converted == reservation.seats:
                reservation.status = ReservationStatus.FILLED.value
                reservation.closed_at = now
        await session.flush()
        await add_to_counters(session, {r: (h, res) for r, (h, res) in deltas.items()})

    async def _set(self, **values: Any) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(Import).where(Import.id == self.job.import_id).values(**values)
            )

    async def run(self) -> None:
        job = self.job
        started = time.perf_counter()
        await self._set(status="running", started_at=utcnow(), heartbeat_at=utcnow())
        totals = BatchOutcome()
        try:
            with gc_paused():
                await self._run(totals)
        except Exception as exc:
            # database errors quote the rows they failed on: never log an ID number
            log.error(
                "import failed",
                extra={
                    "import_id": job.import_id,
                    "error": type(exc).__name__,
                    "trace": redact_id_numbers(traceback.format_exc()),
                },
            )
            await self._set(
                status="failed",
                error=f"the import stopped: {type(exc).__name__}; the rows reported as "
                "created have landed, the rest have not",
                finished_at=utcnow(),
            )
            return
        analysed = await self._refresh_statistics(totals.created)
        await self._set(status="completed", finished_at=utcnow(), heartbeat_at=utcnow())
        log.info(
            "import completed",
            extra={
                "import_id": job.import_id,
                "rows_created": totals.created,
                "rows_skipped": totals.skipped,
                "rows_refused": len(totals.errors),
                "seconds": round(time.perf_counter() - started, 3),
                "statistics_refreshed": analysed,
            },
        )

    async def _refresh_statistics(self, created: int) -> bool:
        """ANALYZE the files' tables when the import outdated the planner's statistics
        (PostgreSQL): the first personnel pages after a large import would otherwise be
        planned for the table as it was. Part of the import's time, before it reports
        completion."""
        if self.rows_before is None or not statistics_outdated(created, self.rows_before):
            return False
        try:
            async with self.db.transaction() as session:
                for table, columns in PLANNED_COLUMNS.items():
                    await refresh_statistics(session, table, columns)
        except Exception as exc:  # the rows have landed; autovacuum analyses them later
            log.warning(
                "statistics not refreshed after an import",
                extra={"import_id": self.job.import_id, "error": type(exc).__name__},
            )
            return False
        return True

    async def _run(self, totals: BatchOutcome) -> None:
        """The batches, one after the other, each checked while the one before lands."""
        await self.preload()
        self.rows = self.job.file.rows()
        upcoming = asyncio.ensure_future(self._next_batch(self.rows))
        while True:
            size, candidates, errors = await upcoming
            if size == 0:
                break
            self.upcoming = None
            try:
                outcome = await self.land(candidates, errors, size)
            except BaseException:
                if self.upcoming is not None:
                    await asyncio.gather(self.upcoming, return_exceptions=True)
                raise
            totals.created += outcome.created
            totals.skipped += outcome.skipped
            totals.errors.extend(outcome.errors)
            upcoming = self.upcoming or asyncio.ensure_future(self._next_batch(self.rows))

    def check_next_batch(self) -> None:
        """Start checking the next batch, once: called as this batch's files go to the
        database, so that Python checks the next rows while the server writes these.
        (Started any earlier, its slices would run between the landing's short
        statements and hold each of them up; the checks run on the event loop, in
        slices, not in a thread, whose GIL would hold them up the same way.)"""
        if self.upcoming is None:
            self.upcoming = asyncio.ensure_future(self._next_batch(self.rows))

    async def _next_batch(
        self, rows: Iterator[tuple[int, list[Any]]]
    ) -> tuple[int, list[ImportRow], list[RowError]]:
        """Read and check up to a batch of rows, a slice at a time."""
        checker = self.checker
        assert checker is not None, "preload first"
        size = 0
        candidates: list[ImportRow] = []
        errors: list[RowError] = []
        while size < self.job.batch_size:
            chunk = list(islice(rows, min(SLICE, self.job.batch_size - size)))
            if not chunk:
                break
            size += len(chunk)
            good, bad = checker.check(chunk)
            candidates += good
            errors += bad
            await asyncio.sleep(0)
        return size, candidates, errors


async def run_import(db: Database, policies: LevelPolicies, job: ImportJob, today: date) -> None:
    await Importer(db, policies, job, today).run()


def shown_status(row: Import, now: datetime) -> str:
    """A queued or running import with no news for `STALE_AFTER` was interrupted (the
    process stopped); its landed batches stay, and re-running the file is safe."""
    if row.status in ("queued", "running") and now - row.heartbeat_at > STALE_AFTER:
        return "interrupted"
    return row.status
