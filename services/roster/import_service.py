"""Bulk import of personnel files (CSV or XLSX).

The upload is checked as a whole first (format, header). Then the rows are processed
in batches of `import_batch_size`:

1. validate every row in a tight Python loop (the same checks as `POST /personnel`,
   `personnel_rules.prepare`), and catch repeated ID numbers and references within
   the file;
2. land the batch in one transaction: rows whose ID number is already on the staff
   under the same name are *skipped* (a re-run of the same file creates nothing), other
   clashes are errors; each row takes a free seat of its seat region, or a seat of the
   reservation it names, in file order, under the seat locks of `seats.py`; the files
   are written with COPY on PostgreSQL and executemany on SQLite, with their contracts
   and `personnel.created` events; the counters, the row errors and the import's
   progress are written in the same transaction.

So valid rows land atomically per batch, every bad row is reported with its line and
reason, and progress is visible through `GET /imports/{id}` as each batch commits. A
batch that meets a concurrent change (a unique index, a deadlock) is retried from its
checks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import (
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.db import Database, utcnow
from services.common.resident_id import redact_id_numbers
from services.roster import events
from services.roster.db import KERNEL_TABLES
from services.roster.import_parsing import ImportFile, RowReader
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
from services.roster.personnel_rules import FieldProblem, Prepared, prepare
from services.roster.personnel_service import ON_STAFF
from services.roster.regions_service import figures_on, quota_line, rule_book
from services.roster.schemas import ReservationStatus
from services.roster.seats import dialect_of, insert_for, lock_seats, seat_region

log = logging.getLogger("auxpol.roster.imports")

ATTEMPTS = 3
SLICE = 100  # rows validated between two turns of the event loop (about 2 ms)
STALE_AFTER = timedelta(minutes=10)

# a new file's columns; the others (left_date, departure_reason, last assessment) are NULL
PERSONNEL_COLUMNS = (
    "id", "id_number", "name", "sex", "birth_date", "region", "unit", "post_category", "post",
    "education", "veteran", "political_status", "phone", "hire_date", "probation_months",
    "probation_end", "level", "step", "level_since", "status", "status_since",
    "external_reference", "reservation_id", "import_id", "import_line", "created_at",
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


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str | None
    code: str
    message: str


@dataclass(slots=True)
class Candidate:
    line: int
    ready: Prepared

    @property
    def region(self) -> str:
        return self.ready.person.region


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


# --- bulk reading and writing ---


def chunks(values: list[str], size: int = 10_000) -> list[list[str]]:
    """Keep IN lists within SQLite's bound-parameter limit."""
    return [values[i : i + size] for i in range(0, len(values), size)]


def one_of(session: AsyncSession, column: Any, values: list[str]) -> Any:
    """`column = ANY(:array)` on PostgreSQL (one parameter, one plan), IN elsewhere."""
    if dialect_of(session) == "postgresql":
        return column == any_(bindparam("values", values, type_=ARRAY(String), unique=True))
    return column.in_(values)


# --- bulk writing ---------------------------------------------------------------------------


async def bulk_insert(
    session: AsyncSession, table: Table, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    """COPY on PostgreSQL, executemany elsewhere; `records` follow `columns`."""
    if not records:
        return
    if dialect_of(session) == "postgresql":
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(table.name, records=records, columns=list(columns))
        return
    await session.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in records])


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
    session: AsyncSession, ids: list[int], documents: list[str], now: datetime
) -> None:
    """The batch's `personnel.created` events (`events.personnel_created`'s documents,
    written as JSON text by `events.created_documents`) in one outbox bundle, in the
    same transaction as the files: one row instead of one per file, COPied on
    PostgreSQL. The relay announces the events one by one."""
    if not ids:
        return
    text = '{"events":[' + ",".join(documents) + "]}"
    payload: Any = text if dialect_of(session) == "postgresql" else json.loads(text)
    topic = events.PERSONNEL_CREATED_BUNDLE
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
        self.regions: set[str] = set()
        self.posts: dict[str, str] = {}
        self.seen_numbers: dict[str, int] = {}
        self.seen_references: dict[str, int] = {}
        self.sequence: str | None = None
        self.counters: set[str] = set()  # regions whose counter rows exist
        self.read = RowReader(job.file.columns)  # one for the file: it remembers values

    async def preload(self) -> None:
        principal = self.job.principal
        async with self.db.session() as session:
            self.regions = set(
                (
                    await session.execute(
                        select(Region.code).where(principal.region_filter(Region.code))
                    )
                ).scalars()
            )
            self.posts = dict((await session.execute(select(Post.name, Post.category))).all())

    def validate(self, rows: list[tuple[int, list[Any]]]) -> tuple[list[Candidate], list[RowError]]:
        """The tight loop: every check that needs no database."""
        read = self.read
        policies = self.policies
        today = self.today
        regions = self.regions
        posts = self.posts
        seen_numbers = self.seen_numbers
        seen_references = self.seen_references
        candidates: list[Candidate] = []
        errors: list[RowError] = []
        for line, cells in rows:
            try:
                person = read(cells)
                if person.region not in regions:
                    raise FieldProblem(
                        "region", "region_not_found", f"region {person.region} not found"
                    )
                ready = prepare(person, policies.for_region(person.region, person.hire_date), today)
                known = posts.get(person.post)
                if known is None:
                    posts[person.post] = person.post_category
                elif known != person.post_category:
                    raise FieldProblem(
                        "post",
                        "post_category_mismatch",
                        f"post {person.post} is a {known} post, not {person.post_category}",
                    )
                first = seen_numbers.get(ready.id_number)
                if first is not None:
                    raise FieldProblem(
                        "id_number", "duplicate_in_file", f"the same ID number as line {first}"
                    )
                reference = person.external_reference
                if reference is not None:
                    earlier = seen_references.get(reference)
                    if earlier is not None:
                        raise FieldProblem(
                            "external_reference",
                            "duplicate_in_file",
                            f"the same external_reference as line {earlier}",
                        )
                    seen_references[reference] = line
                seen_numbers[ready.id_number] = line
                candidates.append(Candidate(line, ready))
            except FieldProblem as exc:
                errors.append(RowError(line, exc.field, exc.code, exc.message))
        return candidates, errors

    async def land(
        self, candidates: list[Candidate], errors: list[RowError], processed: int
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
        candidates: list[Candidate],
        validation_errors: list[RowError],
        processed: int,
    ) -> BatchOutcome:
        job = self.job
        principal = job.principal
        now = utcnow()
        outcome = BatchOutcome(errors=list(validation_errors))

        # 1. already on the staff, or reference taken
        numbers = [c.ready.id_number for c in candidates]
        on_staff: dict[str, tuple[int, str]] = {}
        for chunk in chunks(numbers):
            for pid, number, name in await session.execute(
                select(Personnel.id, Personnel.id_number, Personnel.name).where(
                    one_of(session, Personnel.id_number, chunk), ON_STAFF
                )
            ):
                on_staff[number] = (pid, name)
        references = [c.ready.person.external_reference for c in candidates]
        taken: dict[str, str] = {}
        for chunk in chunks([r for r in references if r]):
            for ref, number in await session.execute(
                select(Personnel.external_reference, Personnel.id_number).where(
                    one_of(session, Personnel.external_reference, chunk)
                )
            ):
                if ref is not None:
                    taken[ref] = number
        fresh: list[Candidate] = []
        for c in candidates:
            person = c.ready.person
            existing = on_staff.get(c.ready.id_number)
            reference = person.external_reference
            if reference and reference in taken:
                if taken[reference] == c.ready.id_number:
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
                if existing[1] == person.name:
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
        named = sorted(
            {ref for c in fresh if (ref := c.ready.person.reservation_reference) is not None}
        )
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
        landing: list[tuple[Candidate, QuotaReservation | None]] = []
        for c in fresh:
            person = c.ready.person
            seat = seat_region(person.region)
            ref = person.reservation_reference
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
        landing: list[tuple[Candidate, QuotaReservation | None]],
        now: datetime,
    ) -> None:
        job = self.job
        who = job.principal.sub
        if self.sequence is None:
            self.sequence = await personnel_sequence(session)
        ids = await allocate_ids(session, len(landing), self.sequence)
        people: list[tuple[Any, ...]] = []
        # the events' documents as JSON text, for the outbox bundle
        documents: list[str] = []
        document = events.created_documents(now)
        contracts: list[tuple[Any, ...]] = []
        deltas: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
        converted: Counter[int] = Counter()
        new_posts: dict[str, str] = {}
        for pid, (c, reservation) in zip(ids, landing, strict=True):
            ready = c.ready
            p = ready.person
            reservation_id = reservation.id if reservation is not None else None
            status = ready.status
            people.append((
                pid, ready.id_number, p.name, ready.sex, ready.birth_date, p.region, p.unit,
                p.post_category, p.post, p.education, p.veteran, p.political_status,
                p.phone, p.hire_date, ready.probation_months, ready.probation_end, ready.level,
                p.step, ready.level_since, status, ready.status_since,
                p.external_reference, reservation_id, job.import_id, c.line, now, who, now, 1,
            ))  # fmt: skip
            documents.append(document(
                pid, p.region, p.post_category, p.post, status, p.hire_date,
                p.external_reference,
            ))  # fmt: skip
            if p.contract is not None:
                t = p.contract
                contracts.append(
                    (pid, t.kind, t.start, t.end, t.probation_months, t.note, now, who)
                )
            deltas[p.region][0] += 1
            if reservation is not None:
                deltas[reservation.region][1] -= 1
                converted[reservation.id] += 1
            if p.post not in new_posts:
                new_posts[p.post] = p.post_category
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
        await bulk_insert(session, Personnel.__table__, PERSONNEL_COLUMNS, people)  # type: ignore[arg-type]
        await bulk_insert(session, Contract.__table__, CONTRACT_COLUMNS, contracts)  # type: ignore[arg-type]
        await enqueue_created(session, ids, documents, now)
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
            await self.preload()
            rows = job.file.rows()
            # Read and validate the next batch while this one is written: the database
            # works on one batch while Python checks the next. The checks run in small
            # slices on the event loop (no thread: the writer's many short awaits would
            # each wait for the GIL).
            upcoming = asyncio.ensure_future(self._next_batch(rows))
            while True:
                size, candidates, errors = await upcoming
                if size == 0:
                    break
                upcoming = asyncio.ensure_future(self._next_batch(rows))
                try:
                    outcome = await self.land(candidates, errors, size)
                except BaseException:
                    await asyncio.gather(upcoming, return_exceptions=True)
                    raise
                totals.created += outcome.created
                totals.skipped += outcome.skipped
                totals.errors.extend(outcome.errors)
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
        await self._set(status="completed", finished_at=utcnow(), heartbeat_at=utcnow())
        log.info(
            "import completed",
            extra={
                "import_id": job.import_id,
                "rows_created": totals.created,
                "rows_skipped": totals.skipped,
                "rows_refused": len(totals.errors),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )

    async def _next_batch(
        self, rows: Iterator[tuple[int, list[Any]]]
    ) -> tuple[int, list[Candidate], list[RowError]]:
        """Read and validate up to a batch of rows, a slice at a time."""
        size = 0
        candidates: list[Candidate] = []
        errors: list[RowError] = []
        while size < self.job.batch_size:
            chunk = list(islice(rows, min(SLICE, self.job.batch_size - size)))
            if not chunk:
                break
            size += len(chunk)
            good, bad = self.validate(chunk)
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
