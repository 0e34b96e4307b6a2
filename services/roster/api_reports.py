"""Routers: provincial reports (JSON, CSV, XLSX) and the promotions due."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, Field
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.errors import Unprocessable, problem_responses
from kernel.pagination import PageParams, encode_cursor, page_params
from kernel.routing import Session, TransactionalRoute
from kernel.schemas import Day, decimal_text
from kernel.tabular import LangQuery
from services.roster import reports_service as reports
from services.roster.clock import today
from services.roster.deps import Policies, ReportReader
from services.roster.levels import PromotionStatus
from services.roster.regions_service import check_code, visible_region
from services.roster.rendering import FILE_RESPONSES, ReportFormat, file_response, negotiate
from services.roster.schemas import (
    PromotionsOut,
    QuotaReportOut,
    StructureOut,
    TurnoverOut,
)

router = APIRouter(prefix="/api/v1/roster", route_class=TransactionalRoute, tags=["reports"])

RegionQuery = Annotated[str, Query(max_length=9, description="GB/T 2260 region code")]


def _report_day(day: date) -> date:
    """Reports count from 1949 (like their `year`): an earlier day overflowed the age
    bands' date arithmetic (a 500 found by the API fuzz)."""
    if not date(1949, 1, 1) <= day <= date(2100, 12, 31):
        raise ValueError("reports count from 1949-01-01 to 2100-12-31")
    return day


ReportDay = Annotated[Day, AfterValidator(_report_day)]
FormatQuery = Annotated[
    ReportFormat | None, Query(alias="format", description="json, csv or xlsx; or Accept")
]


async def _region(session: AsyncSession, who: Principal, code: str) -> str:
    check_code(code, "region")
    await visible_region(session, who, code)
    return code


@router.get("/reports/quota", response_model=QuotaReportOut, responses=FILE_RESPONSES)
async def quota_report(
    request: Request,
    who: ReportReader,
    session: Session,
    region: RegionQuery,
    on: Annotated[
        ReportDay | None, Query(description="rules and figures in force on; today")
    ] = None,
    level: Annotated[
        str | None,
        Query(
            pattern="^(city|county|township)$",
            description="lines for every region of this level below; default: direct children",
        ),
    ] = None,
    target_per_10k: Annotated[
        Annotated[Decimal, Field(ge=0, le=1000), *decimal_text()] | None,
        Query(description="a per-10,000 target: adds gap_to_target, e.g. 15"),
    ] = None,
    fmt: FormatQuery = None,
    lang: LangQuery = None,
) -> Any:
    """Quota fulfilment of each child region (or each region of `level`) and a total:
    quota, headcount, reserved, available, auxiliaries per 10,000 residents and per
    police officer, and the gap to a per-10,000 target."""
    check_code(region, "region")
    day = on or today()
    report = await reports.quota_report(session, who, region, day, level, target_per_10k)
    chosen = negotiate(request, fmt)
    if chosen is ReportFormat.JSON:
        return report
    header = [
        "region", "name", "level", "quota", "headcount", "reserved", "available",
        "over_quota", "population", "police_establishment", "per_10k_population",
        "per_police", "fulfilment", "gap_to_target", "incomplete",
    ]  # fmt: skip
    rows: list[list[Any]] = [
        [
            line.region,
            line.name,
            line.level,
            line.quota,
            line.headcount,
            line.reserved,
            line.available,
            line.over_quota,
            line.population,
            line.police_establishment,
            line.per_10k_population,
            line.per_police,
            line.fulfilment,
            line.gap_to_target,
            line.incomplete,
        ]
        for line in report.lines
    ]
    t = report.total
    rows.append(
        [
            "total",
            report.name,
            "",
            t.quota,
            t.headcount,
            t.reserved,
            t.available,
            t.over_quota,
            t.population,
            t.police_establishment,
            t.per_10k_population,
            t.per_police,
            t.fulfilment,
            t.gap_to_target,
            t.incomplete,
        ]
    )
    return file_response(chosen, f"quota-{region}-{day.isoformat()}", header, rows, lang)


@router.get("/reports/structure", response_model=StructureOut, responses=FILE_RESPONSES)
async def structure_report(
    request: Request,
    who: ReportReader,
    session: Session,
    region: RegionQuery,
    as_of: Annotated[ReportDay | None, Query(description="the day counted; today")] = None,
    fmt: FormatQuery = None,
    lang: LangQuery = None,
) -> Any:
    """Headcount on the staff on `as_of` by post category, post, level, age band
    (<30, 30-40, 40-50, >=50), education and sex, with the share under 30."""
    await _region(session, who, region)
    day = as_of or today()
    report = await reports.structure_report(session, who, region, day)
    chosen = negotiate(request, fmt)
    if chosen is ReportFormat.JSON:
        return report
    rows: list[list[Any]] = [["total", "", report.total, "1" if report.total else None]]
    for dimension in ("post_category", "post", "level", "age_band", "education", "sex"):
        counts: dict[str, int] = getattr(report, f"by_{dimension}")
        for key, n in counts.items():
            rows.append([dimension, key, n, reports.pure.share(n, report.total)])
    return file_response(
        chosen,
        f"structure-{region}-{day.isoformat()}",
        ["dimension", "key", "count", "share"],
        rows,
        lang,
    )


@router.get("/reports/turnover", response_model=TurnoverOut, responses=FILE_RESPONSES)
async def turnover_report(
    request: Request,
    who: ReportReader,
    session: Session,
    region: RegionQuery,
    year: Annotated[int | None, Query(ge=1949, le=2100, description="this year by default")] = None,
    fmt: FormatQuery = None,
    lang: LangQuery = None,
) -> Any:
    """Leavers in the year ÷ the average of the headcounts on its first and last day
    (today, for the current year), by reason and by age band at departure."""
    await _region(session, who, region)
    now = today()
    report = await reports.turnover_report(session, who, region, year or now.year, now)
    chosen = negotiate(request, fmt)
    if chosen is ReportFormat.JSON:
        return report
    rows: list[list[Any]] = [
        ["summary", "leavers", report.leavers],
        ["summary", "headcount_start", report.headcount_start],
        ["summary", "headcount_end", report.headcount_end],
        ["summary", "average_headcount", report.average_headcount],
        ["summary", "rate", report.rate],
    ]
    rows += [["reason", k, v] for k, v in report.by_reason.items()]
    rows += [["age_band", k, v] for k, v in report.by_age_band.items()]
    return file_response(
        chosen, f"turnover-{region}-{report.year}", ["dimension", "key", "value"], rows, lang
    )


@router.get("/promotions/due", responses=problem_responses())
async def promotions_due(
    who: ReportReader,
    session: Session,
    policies: Policies,
    params: Annotated[PageParams, Depends(page_params)],
    region: RegionQuery,
    year: Annotated[
        int | None, Query(ge=1949, le=2100, description="as of 31 December of the year")
    ] = None,
    as_of: Annotated[ReportDay | None, Query(description="overrides year")] = None,
    status: Annotated[
        list[PromotionStatus] | None,
        Query(description="default: due, eligible and capped"),
    ] = None,
) -> PromotionsOut:
    """Who is due for promotion this year (or as of a day) under the level scheme in
    force, and why: years in level (probation not counted), grades, caps, competition."""
    await _region(session, who, region)
    day = as_of or date(year or today().year, 12, 31)
    wanted = status or [PromotionStatus.DUE, PromotionStatus.ELIGIBLE, PromotionStatus.CAPPED]
    items = await reports.promotions_report(session, who, policies, region, day, wanted)
    after = params.after()
    if after is not None:
        if not isinstance(after, int):
            raise Unprocessable("the cursor is not one this API issued", code="invalid_cursor")
        items = [i for i in items if i.personnel_id > after]
    cursor = None
    if len(items) > params.limit:
        items = items[: params.limit]
        cursor = encode_cursor(items[-1].personnel_id)
    return PromotionsOut(as_of=day, items=items, next_cursor=cursor)
