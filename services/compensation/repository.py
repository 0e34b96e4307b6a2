"""Queries of the compensation service. Lists are scoped to the caller's jurisdiction;
the bulk payslip writer uses COPY on PostgreSQL and the driver's executemany on SQLite,
inside the request's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    any_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from services.compensation.errors import PayrollRunNotFound
from services.compensation.models import (
    PayrollInput,
    PayrollRun,
    PayrollRunSchedule,
    PaySchedule,
    Payslip,
    RunStatus,
    TaxYearTotal,
)
from services.compensation.payslip import YearToDate
from services.compensation.run_calculation import RECORD_FIELDS, InputLine

_SQLITE_CHUNK = 5000


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def prefix_of(value: str, column: Any) -> ColumnElement[bool]:
    """``column`` (a region prefix) is a prefix of ``value``: ``:value LIKE column || '%'``.
    Region codes are digits only, so nothing needs escaping."""
    return literal(value).startswith(column)


def regions_overlap(column: Any, region: str) -> ColumnElement[bool]:
    """Either region is a prefix of the other."""
    return or_(column.startswith(region, autoescape=True), prefix_of(region, column))


def schedule_visible(principal: Principal) -> ColumnElement[bool]:
    """A schedule is visible when it lies inside the jurisdiction or applies to it
    (a province's schedule applies to its counties)."""
    if principal.is_national:
        return literal(True)
    return regions_overlap(PaySchedule.region_prefix, principal.region)


# ----------------------------------------------------------------------- schedules


async def get_schedule(
    session: AsyncSession, prefix: str, effective_from: date
) -> PaySchedule | None:
    return (
        await session.execute(
            select(PaySchedule).where(
                PaySchedule.region_prefix == prefix, PaySchedule.effective_from == effective_from
            )
        )
    ).scalar_one_or_none()


async def schedules_for_region(session: AsyncSession, region: str, on: date) -> list[PaySchedule]:
    """Schedules in force on ``on`` that may apply to ``region`` or to a region under it."""
    stmt = select(PaySchedule).where(
        PaySchedule.effective_from <= on, regions_overlap(PaySchedule.region_prefix, region)
    )
    return list((await session.execute(stmt)).scalars())


async def schedule_in_use(session: AsyncSession, schedule_id: int) -> bool:
    stmt = (
        select(PayrollRun.id)
        .join(PayrollRunSchedule, PayrollRunSchedule.run_id == PayrollRun.id)
        .where(
            PayrollRunSchedule.schedule_id == schedule_id,
            PayrollRun.status.in_(RunStatus.CLOSED),
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


# ---------------------------------------------------------------------------- runs


async def get_run(
    session: AsyncSession, principal: Principal, run_id: int, *, for_update: bool = False
) -> PayrollRun:
    stmt = select(PayrollRun).where(PayrollRun.id == run_id)
    if for_update and is_postgres(session):
        stmt = stmt.with_for_update()
    run = (await session.execute(stmt)).scalar_one_or_none()
    if run is None or not principal.sees(run.region):
        raise PayrollRunNotFound(f"payroll run {run_id} not found")
    return run


async def lock_period(session: AsyncSession, period: str) -> None:
    """Serialise run creation for a period (PostgreSQL advisory lock until commit; SQLite
    write transactions are already serialised by BEGIN IMMEDIATE)."""
    if not is_postgres(session):
        return
    digest = hashlib.sha256(f"auxpol.compensation.payroll_run:{period}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def overlapping_runs(session: AsyncSession, region: str, period: str) -> list[PayrollRun]:
    stmt = (
        select(PayrollRun)
        .where(
            PayrollRun.period == period,
            PayrollRun.status != RunStatus.CANCELLED,
            regions_overlap(PayrollRun.region, region),
        )
        .order_by(PayrollRun.id)
    )
    return list((await session.execute(stmt)).scalars())


async def covering_runs(
    session: AsyncSession, region: str, period: str, *, lock: bool
) -> list[tuple[int, str]]:
    """Runs of ``period`` (not cancelled) whose region contains ``region``: (id, status).
    ``lock`` takes their row locks on PostgreSQL, so that a concurrent approval waits."""
    stmt = select(PayrollRun.id, PayrollRun.status).where(
        PayrollRun.period == period,
        PayrollRun.status != RunStatus.CANCELLED,
        prefix_of(region, PayrollRun.region),
    )
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    return [(r.id, r.status) for r in (await session.execute(stmt)).all()]


async def transition(
    session: AsyncSession,
    run_id: int,
    *,
    expected: Sequence[str],
    version: int | None = None,
    require_fresh: bool = False,
    values: dict[str, Any],
) -> bool:
    """Compare-and-set on the run's status (and version): True when this request won.
    The version is always bumped, so that every other pending transition fails."""
    conditions = [PayrollRun.id == run_id, PayrollRun.status.in_(list(expected))]
    if version is not None:
        conditions.append(PayrollRun.version == version)
    if require_fresh:
        conditions.append(PayrollRun.stale.is_(False))
    result = await session.execute(
        update(PayrollRun)
        .where(*conditions)
        .values(version=PayrollRun.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_stale(session: AsyncSession, run_ids: Iterable[int]) -> None:
    ids = list(run_ids)
    if not ids:
        return
    await session.execute(
        update(PayrollRun)
        .where(PayrollRun.id.in_(ids), PayrollRun.status == RunStatus.CALCULATED)
        .values(stale=True, version=PayrollRun.version + 1)
        .execution_options(synchronize_session=False)
    )


async def mark_stale_where(session: AsyncSession, *conditions: ColumnElement[bool]) -> None:
    await session.execute(
        update(PayrollRun)
        .where(PayrollRun.status == RunStatus.CALCULATED, *conditions)
        .values(stale=True, version=PayrollRun.version + 1)
        .execution_options(synchronize_session=False)
    )


async def run_schedules(session: AsyncSession, run_id: int) -> list[tuple[str, date]]:
    stmt = (
        select(PaySchedule.region_prefix, PaySchedule.effective_from)
        .join(PayrollRunSchedule, PayrollRunSchedule.schedule_id == PaySchedule.id)
        .where(PayrollRunSchedule.run_id == run_id)
        .order_by(PaySchedule.region_prefix, PaySchedule.effective_from)
    )
    return [(r.region_prefix, r.effective_from) for r in (await session.execute(stmt)).all()]


async def clear_lines(session: AsyncSession, run_id: int) -> None:
    await session.execute(delete(Payslip).where(Payslip.run_id == run_id))
    await session.execute(delete(PayrollRunSchedule).where(PayrollRunSchedule.run_id == run_id))


async def write_payslips(
    session: AsyncSession, chunks: AsyncIterable[list[tuple[Any, ...]]]
) -> None:
    """Bulk-insert payslip records (tuples in ``RECORD_FIELDS`` order), chunk by chunk as
    they come, in the session's transaction: one COPY on PostgreSQL (fed while the next
    chunk is being calculated), the driver's executemany on SQLite.

    The session must already have executed a statement in this transaction (the caller's
    compare-and-set does), so that the driver connection is inside it.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if is_postgres(session):

        async def records() -> AsyncIterator[tuple[Any, ...]]:
            async for chunk in chunks:
                for record in chunk:
                    yield record

        await driver.copy_records_to_table(
            Payslip.__tablename__, records=records(), columns=list(RECORD_FIELDS)
        )
        return
    placeholders = ", ".join("?" for _ in RECORD_FIELDS)
    sql = (
        f"INSERT INTO {Payslip.__tablename__} ({', '.join(RECORD_FIELDS)}) VALUES ({placeholders})"
    )
    async for chunk in chunks:
        await driver.executemany(sql, chunk)


def _ids_chunks(session: AsyncSession, ids: Sequence[int]) -> list[Any]:
    """Bind values for ``column = ANY(:ids)`` (PostgreSQL, one array) or chunks for IN."""
    if is_postgres(session):
        return [list(ids)]
    return [list(ids[i : i + _SQLITE_CHUNK]) for i in range(0, len(ids), _SQLITE_CHUNK)]


def _id_condition(session: AsyncSession, column: Any, chunk: list[int]) -> ColumnElement[bool]:
    if is_postgres(session):
        return column == any_(bindparam("ids", chunk, type_=ARRAY(BigInteger)))
    return column.in_(chunk)


async def inputs_for(
    session: AsyncSession, period: str, ids: Sequence[int]
) -> dict[int, InputLine]:
    out: dict[int, InputLine] = {}
    t = PayrollInput
    for chunk in _ids_chunks(session, ids):
        stmt = select(
            t.personnel_id,
            t.overtime_weekday_centihours,
            t.overtime_rest_day_centihours,
            t.overtime_holiday_centihours,
            t.unpaid_leave_centidays,
            t.awards,
            t.deductions,
            t.special_additional_deductions,
        ).where(t.period == period, _id_condition(session, t.personnel_id, chunk))
        for row in (await session.execute(stmt)).all():
            out[row[0]] = InputLine(*row[1:])
    return out


async def input_ids_in_region(session: AsyncSession, period: str, region: str) -> set[int]:
    stmt = select(PayrollInput.personnel_id).where(
        PayrollInput.period == period,
        PayrollInput.region.startswith(region, autoescape=True),
    )
    return set((await session.execute(stmt)).scalars())


_ADD_TO_TAX_YEAR = text(
    """
    INSERT INTO tax_year_totals (personnel_id, year, months_mask, last_period, income,
                                 employee_contributions, special_deductions, tax_withheld)
    SELECT personnel_id, CAST(:year AS INTEGER), CAST(:bit AS INTEGER),
           CAST(:period AS VARCHAR(7)), gross, employee_contributions_total,
           special_additional_deductions, tax
    FROM payslips WHERE run_id = :run_id
    ON CONFLICT (personnel_id, year) DO UPDATE SET
        months_mask = tax_year_totals.months_mask | excluded.months_mask,
        last_period = CASE WHEN excluded.last_period > tax_year_totals.last_period
                           THEN excluded.last_period ELSE tax_year_totals.last_period END,
        income = tax_year_totals.income + excluded.income,
        employee_contributions = tax_year_totals.employee_contributions
                                 + excluded.employee_contributions,
        special_deductions = tax_year_totals.special_deductions + excluded.special_deductions,
        tax_withheld = tax_year_totals.tax_withheld + excluded.tax_withheld
    """
)


async def add_to_tax_year(session: AsyncSession, run_id: int, period: str) -> None:
    """Add an approved run's payslips to its people's tax-year totals (same transaction
    as the approval; a run is approved once, so nothing is counted twice)."""
    await session.execute(
        _ADD_TO_TAX_YEAR,
        {
            "year": int(period[:4]),
            "bit": 1 << (int(period[5:7]) - 1),
            "period": period,
            "run_id": run_id,
        },
    )


def _ytd(months_before: int, income: int, contributions: int, special: int, tax: int) -> YearToDate:
    return YearToDate(
        cumulative_income=income,
        months_employed=min(months_before, 11),
        cumulative_employee_contributions=contributions,
        cumulative_special_deductions=special,
        tax_withheld_so_far=tax,
    )


_TAX_YEAR_ROWS = (
    "SELECT personnel_id, months_mask, last_period, income, employee_contributions, "
    "special_deductions, tax_withheld FROM tax_year_totals "
    "WHERE year = $1 AND personnel_id = ANY($2::bigint[])"
)


async def _tax_year_rows(
    session: AsyncSession, year: int, ids: Sequence[int]
) -> list[Sequence[Any]]:
    if is_postgres(session):
        # 100,000 rows: straight from the driver (SQLAlchemy's row processing would
        # triple the time). The transaction is already open (see ``write_payslips``).
        connection = await session.connection()
        driver: Any = (await connection.get_raw_connection()).driver_connection
        return list(await driver.fetch(_TAX_YEAR_ROWS, year, list(ids)))
    t = TaxYearTotal
    rows: list[Sequence[Any]] = []
    for chunk in _ids_chunks(session, ids):
        stmt = select(
            t.personnel_id,
            t.months_mask,
            t.last_period,
            t.income,
            t.employee_contributions,
            t.special_deductions,
            t.tax_withheld,
        ).where(t.year == year, _id_condition(session, t.personnel_id, chunk))
        rows.extend((await session.execute(stmt)).all())
    return rows


async def year_to_date(
    session: AsyncSession, run_id: int, period: str, ids: Sequence[int]
) -> dict[int, YearToDate]:
    """Per person, the totals of every payslip of the tax year in approved or paid runs
    other than this one, up to and including ``period`` (months: the distinct earlier
    months). People without any are left out.

    Read from ``tax_year_totals`` (one row per person). A person whose totals already
    include a later month (a later run was approved first) is summed exactly from the
    payslips instead."""
    year, month = int(period[:4]), int(period[5:7])
    earlier_months = (1 << (month - 1)) - 1
    out: dict[int, YearToDate] = {}
    out_of_order: list[int] = []
    for pid, mask, last, income, contributions, special, tax in await _tax_year_rows(
        session, year, ids
    ):
        if last > period:
            out_of_order.append(pid)
            continue
        out[pid] = _ytd((mask & earlier_months).bit_count(), income, contributions, special, tax)
    if out_of_order:
        out.update(await summed_year_to_date(session, run_id, period, out_of_order))
    return out


async def summed_year_to_date(
    session: AsyncSession, run_id: int, period: str, ids: Sequence[int]
) -> dict[int, YearToDate]:
    """``year_to_date`` by summing the payslips themselves (exact in every case)."""
    year_start = period[:4] + "-01"
    p, r = Payslip, PayrollRun
    out: dict[int, YearToDate] = {}
    for chunk in _ids_chunks(session, ids):
        stmt = (
            select(
                p.personnel_id,
                func.count(func.distinct(case((r.period < period, r.period)))),
                func.sum(p.gross),
                func.sum(p.employee_contributions_total),
                func.sum(p.special_additional_deductions),
                func.sum(p.tax),
            )
            .join(r, r.id == p.run_id)
            .where(
                r.status.in_(RunStatus.CLOSED),
                r.period >= year_start,
                r.period <= period,
                r.id != run_id,
                _id_condition(session, p.personnel_id, chunk),
            )
            .group_by(p.personnel_id)
        )
        for row in (await session.execute(stmt)).all():
            out[row[0]] = _ytd(*(int(v or 0) for v in row[1:]))
    return out


def payslip_page(run_id: int, after: int | None, limit: int) -> Select[Any]:
    stmt = select(Payslip).where(Payslip.run_id == run_id)
    if after is not None:
        stmt = stmt.where(Payslip.personnel_id > after)
    return stmt.order_by(Payslip.personnel_id).limit(limit)
