"""Compensation routers: schedules, payroll inputs, payroll runs, budget and pay check.

Each route demands exactly the roles its row in ``policy.py`` lists.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from kernel.auth import Principal, require
from kernel.concurrency import check_if_match, etag_for, set_etag
from kernel.errors import Unprocessable, problem_responses
from kernel.pagination import Page, PageParams, keyset, page_of, page_params
from kernel.routing import Idempotent, Session, TransactionalRoute
from kernel.schemas import MAX_ID, Day, PathId
from kernel.service_client import ServiceTokenProvider
from kernel.tabular import (
    Column,
    LangQuery,
    ReportFormat,
    ReportLanguage,
    negotiate,
    table_response,
)
from services.compensation import exports, payroll_service, policy, report_tables, reports_service
from services.compensation import repository as repo
from services.compensation.errors import InvalidTransition, ScheduleNotFound
from services.compensation.models import (
    PayrollInput,
    PayrollRun,
    PayrollRunSchedule,
    PaySchedule,
    Payslip,
    RunStatus,
)
from services.compensation.money import fen_str, fen_to_decimal
from services.compensation.payroll_service import Upstreams
from services.compensation.schedule_rules import resolve_most_specific
from services.compensation.schedules_service import check_region, put_schedule
from services.compensation.schemas import (
    PERIOD_PATTERN,
    REGION_PATTERN,
    BudgetOut,
    ExportFormat,
    PayCheckOut,
    PayrollInputIn,
    PayrollInputOut,
    PayrollRunIn,
    PayrollRunOut,
    PayrollRunStatus,
    PayslipOut,
    RunSummary,
    ScheduleIn,
    ScheduleOut,
    ScheduleSummary,
    SummaryGroup,
)
from services.compensation.views import (
    input_out,
    payslip_out,
    run_out,
    schedule_out,
    schedule_summary,
    totals_out,
)

PREFIX = "/api/v1/compensation"

router = APIRouter(prefix=PREFIX, route_class=TransactionalRoute)

PayReader = Annotated[Principal, Depends(require(*policy.PAY_READ))]
ScheduleWriter = Annotated[Principal, Depends(require(*policy.PROVINCE))]
Finance = Annotated[Principal, Depends(require(*policy.FINANCE))]
Approver = Annotated[Principal, Depends(require(*policy.APPROVE))]
FinanceOrApprover = Annotated[Principal, Depends(require(*(policy.FINANCE | policy.APPROVE)))]
Pages = Annotated[PageParams, Depends(page_params)]
PeriodQuery = Annotated[str, Query(pattern=PERIOD_PATTERN, description="YYYY-MM")]
RegionQuery = Annotated[str, Query(pattern=REGION_PATTERN, description="region code")]


def upstreams(request: Request) -> Upstreams:
    return Upstreams(
        client=request.app.state.http,
        settings=request.app.state.settings,
        authorization=request.headers.get("authorization", ""),
    )


Calls = Annotated[Upstreams, Depends(upstreams)]


def service_tokens(request: Request) -> ServiceTokenProvider:
    tokens: ServiceTokenProvider = request.app.state.service_tokens
    return tokens


# ----------------------------------------------------------------------- schedules


def schedule_etag(row: PaySchedule) -> str:
    return etag_for("schedule", f"{row.region_prefix}-{row.effective_from}", row.version)


@router.put(
    "/schedules/{region_prefix}/{effective_from}",
    tags=["schedules"],
    responses={**problem_responses(409, 412), 201: {"model": ScheduleOut}},
)
async def put_pay_schedule(
    region_prefix: str,
    effective_from: Day,
    body: ScheduleIn,
    request: Request,
    response: Response,
    who: ScheduleWriter,
    session: Session,
) -> ScheduleOut:
    """Create (201) or replace (200, `If-Match`) the schedule of a region prefix from a
    date. Invalid schedules get 422 `invalid_schedule` with every problem in `errors`."""
    result = await put_schedule(
        session,
        who,
        region_prefix,
        effective_from,
        body,
        check_etag=lambda row: check_if_match(request, schedule_etag(row)),
    )
    await session.refresh(result.schedule)
    if result.created:
        response.status_code = 201
    set_etag(response, schedule_etag(result.schedule))
    return schedule_out(result.schedule)


@router.get("/schedules", tags=["schedules"])
async def list_pay_schedules(
    who: PayReader,
    session: Session,
    params: Pages,
    region: Annotated[
        str | None,
        Query(pattern=REGION_PATTERN, description="schedules that apply to this region"),
    ] = None,
) -> Page[ScheduleSummary]:
    """Schedules in or above the caller's jurisdiction (a province's schedule applies to
    its counties), optionally those that apply to `region`."""
    stmt = select(PaySchedule).where(repo.schedule_visible(who))
    if region is not None:
        stmt = stmt.where(repo.prefix_of(region, PaySchedule.region_prefix))
    rows = list((await session.execute(keyset(stmt, PaySchedule.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda r: r.id)
    return Page(items=[schedule_summary(r) for r in rows], next_cursor=cursor)


@router.get("/schedules/in-force", tags=["schedules"], responses=problem_responses())
async def get_pay_schedule_in_force(
    who: PayReader,
    session: Session,
    response: Response,
    region: RegionQuery,
    on: Annotated[Day | None, Query(description="default: today")] = None,
) -> ScheduleOut:
    """The most specific schedule in force for `region` on a day."""
    check_region(who, region)
    day = on or date.today()
    rows = await repo.schedules_for_region(session, region, day)
    entries = [(r.region_prefix, r.effective_from, r) for r in rows]
    entry = resolve_most_specific(entries, region, day)
    if entry is None:
        raise ScheduleNotFound(f"no pay schedule is in force for {region} on {day}")
    set_etag(response, schedule_etag(entry[2]))
    return schedule_out(entry[2])


@router.get("/schedules/{region_prefix}/{effective_from}", tags=["schedules"])
async def get_pay_schedule(
    region_prefix: str, effective_from: Day, who: PayReader, session: Session, response: Response
) -> ScheduleOut:
    row = await repo.get_schedule(session, region_prefix, effective_from)
    if row is None or not (who.sees(row.region_prefix) or who.region.startswith(row.region_prefix)):
        raise ScheduleNotFound(f"no pay schedule {region_prefix}/{effective_from}")
    set_etag(response, schedule_etag(row))
    return schedule_out(row)


# -------------------------------------------------------------------------- inputs


def input_etag(row: PayrollInput) -> str:
    return etag_for("payroll-input", row.id, row.version)


@router.post(
    "/payroll-inputs",
    tags=["payroll"],
    status_code=201,
    dependencies=[Idempotent],
    responses={**problem_responses(409, 503), 200: {"model": PayrollInputOut}},
)
async def record_payroll_input(
    body: PayrollInputIn, response: Response, who: Finance, session: Session, calls: Calls
) -> PayrollInputOut:
    """Record a person's overtime, unpaid leave, awards and deductions for a month.
    The first post creates (201); a later post for the same person and period replaces
    it (200). A person the roster does not know gets 422 `unknown_personnel`; a period
    already approved for the person gets 409 `payroll_period_closed`."""
    result = await payroll_service.record_input(session, who, body, calls)
    await session.refresh(result.row)
    response.status_code = 201 if result.created else 200
    set_etag(response, input_etag(result.row))
    return input_out(result.row)


@router.get("/payroll-inputs", tags=["payroll"])
async def list_payroll_inputs(
    who: PayReader,
    session: Session,
    params: Pages,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
    personnel_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[PayrollInputOut]:
    stmt = select(PayrollInput).where(who.region_filter(PayrollInput.region))
    if period is not None:
        stmt = stmt.where(PayrollInput.period == period)
    if region is not None:
        stmt = stmt.where(PayrollInput.region.startswith(region, autoescape=True))
    if personnel_id is not None:
        stmt = stmt.where(PayrollInput.personnel_id == personnel_id)
    rows = list((await session.execute(keyset(stmt, PayrollInput.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda r: r.id)
    return Page(items=[input_out(r) for r in rows], next_cursor=cursor)


# ---------------------------------------------------------------------------- runs


def run_etag(run: PayrollRun) -> str:
    return etag_for("payroll-run", run.id, run.version)


async def _run_view(session: Any, run: PayrollRun, response: Response) -> PayrollRunOut:
    set_etag(response, run_etag(run))
    return run_out(run, await repo.run_schedules(session, run.id))


@router.post(
    "/payroll-runs",
    tags=["payroll"],
    status_code=201,
    dependencies=[Idempotent],
    responses=problem_responses(409),
)
async def create_payroll_run(
    body: PayrollRunIn, response: Response, who: Finance, session: Session
) -> PayrollRunOut:
    """A draft run for a region and month. A run whose region overlaps (one is a prefix
    of the other) a run of the same month that is not cancelled gets 409
    `payroll_run_overlaps`."""
    run = await payroll_service.create_run(session, who, body)
    await session.refresh(run)
    response.headers["Location"] = payroll_service.RUN_URL.format(id=run.id)
    return await _run_view(session, run, response)


@router.get("/payroll-runs", tags=["payroll"])
async def list_payroll_runs(
    who: PayReader,
    session: Session,
    params: Pages,
    region: Annotated[
        str | None, Query(pattern=REGION_PATTERN, description="runs in this region")
    ] = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    status: Annotated[PayrollRunStatus | None, Query()] = None,
) -> Page[PayrollRunOut]:
    stmt = select(PayrollRun).where(who.region_filter(PayrollRun.region))
    if region is not None:
        stmt = stmt.where(PayrollRun.region.startswith(region, autoescape=True))
    if period is not None:
        stmt = stmt.where(PayrollRun.period == period)
    if status is not None:
        stmt = stmt.where(PayrollRun.status == status)
    rows = list((await session.execute(keyset(stmt, PayrollRun.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda r: r.id)
    schedules: dict[int, list[tuple[str, date]]] = {r.id: [] for r in rows}
    if rows:
        found = await session.execute(
            select(PayrollRunSchedule.run_id, PaySchedule.region_prefix, PaySchedule.effective_from)
            .join(PaySchedule, PaySchedule.id == PayrollRunSchedule.schedule_id)
            .where(PayrollRunSchedule.run_id.in_(list(schedules)))
            .order_by(PaySchedule.region_prefix, PaySchedule.effective_from)
        )
        for run_id, prefix, effective_from in found.all():
            schedules[run_id].append((prefix, effective_from))
    return Page(items=[run_out(r, schedules[r.id]) for r in rows], next_cursor=cursor)


@router.get("/payroll-runs/{id}", tags=["payroll"])
async def get_payroll_run(
    id: PathId, who: PayReader, session: Session, response: Response
) -> PayrollRunOut:
    run = await repo.get_run(session, who, id)
    return await _run_view(session, run, response)


@router.post(
    "/payroll-runs/{id}/calculate",
    tags=["payroll"],
    dependencies=[Idempotent],
    responses=problem_responses(409, 412, 502, 503),
)
async def calculate_payroll_run(
    id: PathId, request: Request, response: Response, who: Finance, session: Session, calls: Calls
) -> PayrollRunOut:
    """Take a snapshot of the roster (everyone on probation or active in the month) and
    the inputs, and (re)calculate every payslip; earlier draft lines are replaced. The
    roster unavailable gets 503 `roster_unavailable` and the run stays as it was; people
    the schedule cannot pay get 422 (`no_pay_for_post`, `no_pay_for_level`,
    `no_schedule_in_force`)."""
    run = await repo.get_run(session, who, id)
    run = await payroll_service.calculate(
        session, who, run, calls, check_etag=lambda r: check_if_match(request, run_etag(r))
    )
    return await _run_view(session, run, response)


@router.post(
    "/payroll-runs/{id}/approve",
    tags=["payroll"],
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def approve_payroll_run(
    id: PathId, request: Request, response: Response, who: Approver, session: Session
) -> PayrollRunOut:
    """Approve a calculated run (county_admin). The approver must not be the one who
    calculated it (403 `separation_of_duties`). The approved run is immutable and
    `payroll_run.approved` is published."""
    run = await repo.get_run(session, who, id)
    run = await payroll_service.approve(
        session, who, run, check_etag=lambda r: check_if_match(request, run_etag(r))
    )
    return await _run_view(session, run, response)


@router.post(
    "/payroll-runs/{id}/mark-paid",
    tags=["payroll"],
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def mark_payroll_run_paid(
    id: PathId, request: Request, response: Response, who: FinanceOrApprover, session: Session
) -> PayrollRunOut:
    """Record that the bank paid an approved run; the run is locked."""
    run = await repo.get_run(session, who, id)
    run = await payroll_service.mark_paid(
        session, who, run, check_etag=lambda r: check_if_match(request, run_etag(r))
    )
    return await _run_view(session, run, response)


@router.post(
    "/payroll-runs/{id}/cancel",
    tags=["payroll"],
    dependencies=[Idempotent],
    responses=problem_responses(409, 412),
)
async def cancel_payroll_run(
    id: PathId, request: Request, response: Response, who: FinanceOrApprover, session: Session
) -> PayrollRunOut:
    """Cancel a draft or calculated run; its lines are dropped and the region and month
    are free for a new run."""
    run = await repo.get_run(session, who, id)
    run = await payroll_service.cancel(
        session, who, run, check_etag=lambda r: check_if_match(request, run_etag(r))
    )
    return await _run_view(session, run, response)


@router.get("/payroll-runs/{id}/payslips", tags=["payroll"])
async def list_payslips(
    id: PathId,
    who: PayReader,
    session: Session,
    params: Pages,
    personnel_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[PayslipOut]:
    """Every payslip of a run with every line, in personnel-id order."""
    run = await repo.get_run(session, who, id)
    stmt = select(Payslip).where(Payslip.run_id == run.id)
    if personnel_id is not None:
        stmt = stmt.where(Payslip.personnel_id == personnel_id)
    rows = list((await session.execute(keyset(stmt, Payslip.personnel_id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda p: p.personnel_id)
    show = who.may_read_id_numbers
    return Page(items=[payslip_out(p, show_id_number=show) for p in rows], next_cursor=cursor)


_EXPORTABLE = (RunStatus.CALCULATED, RunStatus.APPROVED, RunStatus.PAID)


@router.get(
    "/payroll-runs/{id}/export",
    tags=["payroll"],
    response_class=StreamingResponse,
    responses={
        **problem_responses(409),
        200: {
            "description": "the bank disbursement file",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
)
async def export_payroll_run(
    id: PathId,
    request: Request,
    who: PayReader,
    session: Session,
    format: Annotated[ExportFormat | None, Query(description="default csv")] = None,
    lang: LangQuery = None,
) -> StreamingResponse:
    """The bank disbursement file: one row per payslip with the net pay. Streamed; the
    amounts add up to the run's net total. A run that is only calculated is marked
    `unapproved` in the file name and the `X-Payroll-Run-Status` header."""
    run = await repo.get_run(session, who, id)
    if run.status not in _EXPORTABLE:
        raise InvalidTransition(
            f"payroll run {run.id} is {run.status}; only calculated, approved or paid runs "
            "have a bank file",
            code="payroll_run_not_calculated",
        )
    if format is None:
        accept = request.headers.get("accept", "")
        format = "xlsx" if exports.XLSX_MEDIA_TYPE in accept else "csv"
    suffix = "" if run.status in RunStatus.CLOSED else "-unapproved"
    filename = f"payroll-{run.region}-{run.period}-{run.id}{suffix}.{format}"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Payroll-Run-Status": run.status,
        "X-Payroll-Count": str(run.headcount),
        "X-Payroll-Total": fen_str(int((run.totals or {}).get("net", 0))),
        "Cache-Control": "no-store",
    }
    settings = request.app.state.settings
    db = request.app.state.db
    show = who.may_read_id_numbers
    if format == "xlsx":
        body = exports.xlsx_stream(
            db,
            run.id,
            f"{run.region} {run.period}",
            chunk=settings.export_chunk_rows,
            show_id_numbers=show,
            chinese=lang is ReportLanguage.ZH,
        )
        return StreamingResponse(body, media_type=exports.XLSX_MEDIA_TYPE, headers=headers)
    body = exports.csv_stream(
        db,
        run.id,
        chunk=settings.export_chunk_rows,
        show_id_numbers=show,
        chinese=lang is ReportLanguage.ZH,
    )
    return StreamingResponse(body, media_type=exports.CSV_MEDIA_TYPE, headers=headers)


async def _groups(session: Any, run_id: int, column: Any) -> list[SummaryGroup]:
    p = Payslip
    stmt = (
        select(
            column,
            func.count(),
            func.sum(p.gross),
            func.sum(p.employee_contributions_total),
            func.sum(p.tax),
            func.sum(p.net),
            func.sum(p.employer_contributions_total),
            func.sum(p.employer_cost),
        )
        .where(p.run_id == run_id)
        .group_by(column)
        .order_by(column)
    )
    f = fen_to_decimal
    return [
        SummaryGroup(
            key=key,
            headcount=n,
            gross=f(int(gross)),
            employee_contributions=f(int(ee)),
            tax=f(int(tax)),
            net=f(int(net)),
            employer_contributions=f(int(er)),
            employer_cost=f(int(cost)),
        )
        for key, n, gross, ee, tax, net, er, cost in (await session.execute(stmt)).all()
    ]


TABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON by default; CSV or XLSX with ?format= or Accept (?lang=zh: 中文)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
TableFormat = Annotated[
    ReportFormat | None,
    Query(alias="format", description="json, csv or xlsx; or the Accept header"),
]


def _as_table(
    request: Request,
    fmt: str | None,
    lang: ReportLanguage | None,
    model: Any,
    columns: list[Column],
    table: tuple[list[dict[str, Any]], Any],
    filename: str,
) -> Any:
    chosen = negotiate(request, fmt)
    if chosen == "json":
        return model
    rows, totals = table
    names = {c.key: c.zh for c in columns}
    localised = [Column(c.key, names[c.key], c.en) for c in columns]
    return table_response(
        chosen,
        localised,
        rows,
        filename=filename,
        lang="zh" if lang is ReportLanguage.ZH else "en",
        totals=totals,
    )


@router.get(
    "/payroll-runs/{id}/summary",
    tags=["payroll"],
    response_model=RunSummary,
    responses={**problem_responses(409), **TABLE_RESPONSES},
)
async def get_payroll_run_summary(
    id: PathId,
    who: PayReader,
    session: Session,
    request: Request,
    fmt: TableFormat = None,
    lang: LangQuery = None,
) -> Any:
    """Totals of a calculated run for the finance department, with the employer cost
    (gross + employer contributions), by unit and by post."""
    run = await repo.get_run(session, who, id)
    totals = totals_out(run.totals)
    if run.status not in _EXPORTABLE or totals is None:
        raise InvalidTransition(
            f"payroll run {run.id} is {run.status}; it has no calculation to summarise",
            code="payroll_run_not_calculated",
        )
    summary = RunSummary(
        id=run.id,
        region=run.region,
        period=run.period,
        status=run.status,
        headcount=run.headcount,
        totals=totals,
        employer_cost=totals.employer_cost,
        by_unit=await _groups(session, run.id, Payslip.unit),
        by_post=await _groups(session, run.id, Payslip.post),
    )
    return _as_table(
        request,
        fmt,
        lang,
        summary,
        report_tables.SUMMARY_COLUMNS,
        report_tables.summary_table(summary),
        f"payroll-summary-{run.region}-{run.period}-{run.id}",
    )


# ------------------------------------------------------------------------- reports


def _region(who: Principal, region: str | None) -> str:
    """The report's region: the one asked for, or the caller's own jurisdiction."""
    if region is not None:
        return region
    if who.is_national:
        raise Unprocessable(
            "a national caller must name the region",
            code="region_required",
            errors=[{"loc": ["query", "region"], "msg": "field required"}],
        )
    return who.region


@router.get(
    "/budget",
    tags=["reports"],
    response_model=BudgetOut,
    responses={**problem_responses(502, 503), **TABLE_RESPONSES},
)
async def get_budget(
    request: Request,
    who: PayReader,
    session: Session,
    calls: Calls,
    tokens: Annotated[ServiceTokenProvider, Depends(service_tokens)],
    year: Annotated[int, Query(ge=2000, le=2100, description="the budget year")],
    region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
    fmt: TableFormat = None,
    lang: LangQuery = None,
) -> Any:
    """Project a year's cost of a region (default: the caller's) from today's headcount
    and the open seats of approved recruitment plans, priced by the schedule in force on
    1 January of that year, employer contributions included. If recruitment cannot be
    reached, current staff only, with `plans_available: false`."""
    budget = await reports_service.budget(
        session, who, _region(who, region), year, calls, tokens, today=date.today()
    )
    return _as_table(
        request,
        fmt,
        lang,
        budget,
        report_tables.BUDGET_COLUMNS,
        report_tables.budget_table(budget),
        f"budget-{budget.region}-{year}",
    )


@router.get(
    "/reports/pay-check", tags=["reports"], response_model=PayCheckOut, responses=TABLE_RESPONSES
)
async def get_pay_check(
    request: Request,
    who: PayReader,
    session: Session,
    period: PeriodQuery,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
    fmt: TableFormat = None,
    lang: LangQuery = None,
) -> Any:
    """Average fixed pay against the local average wage and the minimum wage, everyone
    paid below the minimum, and every group of the same level, step and post whose pay
    differs, with the cause. From the month's calculated, approved and paid runs."""
    check = await reports_service.pay_check(session, who, _region(who, region), period)
    return _as_table(
        request,
        fmt,
        lang,
        check,
        report_tables.PAY_CHECK_COLUMNS,
        report_tables.pay_check_table(check),
        f"pay-check-{check.region}-{period}",
    )
