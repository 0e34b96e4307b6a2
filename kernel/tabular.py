"""Tabular exports shared by every report and filing: CSV and XLSX, with English
keys or Chinese headers (`?lang=zh`), a stable column order and a totals row.

Format negotiation: `?format=csv|xlsx|json` wins; otherwise the Accept header
(`text/csv`, the XLSX media type); otherwise JSON (the endpoint's own model).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from starlette.responses import Response, StreamingResponse

from kernel.errors import Unprocessable
from kernel.schemas import EnumName

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"
ReportFormat = Annotated[Literal["json", "csv", "xlsx"], EnumName("ReportFormat")]
Format = ReportFormat
Lang = Literal["en", "zh"]


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str | None = None

    def header(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else (self.en or self.key)


def negotiate(request: Request, explicit: str | None) -> Format:
    if explicit:
        if explicit not in ("json", "csv", "xlsx"):
            raise Unprocessable("format is json, csv or xlsx", code="unsupported_format")
        return explicit  # type: ignore[return-value]
    accept = request.headers.get("accept", "")
    if XLSX in accept:
        return "xlsx"
    if CSV in accept:
        return "csv"
    return "json"


def language(value: str | None) -> Lang:
    if value in (None, "", "en"):
        return "en"
    if value == "zh":
        return "zh"
    raise Unprocessable("lang is en or zh", code="unsupported_language")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # a number in the spreadsheet; money has two places
    if isinstance(value, bool) or value is None or isinstance(value, list | tuple):
        return _cell(value)
    return value


def _lines(
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    totals: Mapping[str, Any] | None,
    lang: Lang,
    *,
    xlsx: bool = False,
) -> Iterator[list[Any]]:
    cell = _xlsx_cell if xlsx else _cell
    yield [c.header(lang) for c in columns]
    for row in rows:
        yield [cell(row.get(c.key)) for c in columns]
    if totals is not None:
        label = "合计" if lang == "zh" else "total"
        line = [cell(totals.get(c.key)) for c in columns]
        if line and line[0] in ("", None):
            line[0] = label
        yield line


def csv_response(
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    filename: str,
    lang: Lang = "en",
    totals: Mapping[str, Any] | None = None,
) -> StreamingResponse:
    async def generate() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if lang == "zh":
            yield "\ufeff".encode()  # so that spreadsheet programs read UTF-8
        for index, line in enumerate(_lines(columns, rows, totals, lang)):
            writer.writerow(line)
            if index % 500 == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    return StreamingResponse(
        generate(),
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def xlsx_response(
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    filename: str,
    lang: Lang = "en",
    sheet: str = "report",
    totals: Mapping[str, Any] | None = None,
) -> Response:
    """Written with openpyxl's write-only mode to a spooled temporary file, so
    memory stays flat however long the table is."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(title=sheet[:31])
    for line in _lines(columns, rows, totals, lang, xlsx=True):
        worksheet.append(line)
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    workbook.save(spool)
    spool.seek(0)

    async def generate() -> AsyncIterator[bytes]:
        try:
            while chunk := spool.read(256 * 1024):
                yield chunk
        finally:
            spool.close()

    return StreamingResponse(
        generate(),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
    )


def table_response(
    fmt: Format,
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    filename: str,
    lang: Lang = "en",
    totals: Mapping[str, Any] | None = None,
) -> Response:
    if fmt == "csv":
        return csv_response(columns, rows, filename=filename, lang=lang, totals=totals)
    if fmt == "xlsx":
        return xlsx_response(columns, rows, filename=filename, lang=lang, totals=totals)
    raise ValueError("JSON is rendered by the endpoint's own model")


class ReportLanguage(StrEnum):
    """Column headers of a CSV or XLSX export: English keys or Chinese."""

    EN = "en"
    ZH = "zh"


LangQuery = Annotated[
    ReportLanguage | None,
    Query(description="headers of CSV/XLSX exports: en (keys, the default) or zh (中文)"),
]

# Headers shared by every service's exports; each service adds its own.
COMMON_ZH = {
    "region": "地区代码",
    "name": "名称",
    "level": "级别",
    "total": "合计",
    "count": "人数",
    "share": "占比",
    "dimension": "维度",
    "key": "项目",
    "value": "数值",
    "year": "年度",
    "post": "岗位",
    "post_category": "岗位类别",
    "headcount": "人数",
    "period": "期间",
    "unit": "单位",
    "id_number": "身份证号",
    "personnel_id": "人员编号",
    "step": "档次",
    "status": "状态",
    "reason": "原因",
    "age_band": "年龄段",
    "education": "学历",
    "sex": "性别",
}


def localise(
    keys: Sequence[str], lang: ReportLanguage | None, zh: Mapping[str, str] | None = None
) -> list[str]:
    """Header texts for `keys`: the keys themselves, or their Chinese names."""
    if lang is not ReportLanguage.ZH:
        return list(keys)
    names = {**COMMON_ZH, **(zh or {})}
    return [names.get(k, k) for k in keys]


def total_label(lang: ReportLanguage | None) -> str:
    return "合计" if lang is ReportLanguage.ZH else "total"
