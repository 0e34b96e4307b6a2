"""Reports as CSV or XLSX, chosen by `?format=` or the `Accept` header.

CSV is UTF-8 with a byte-order mark, so that Excel shows Chinese names correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fastapi import Request, Response
from openpyxl import Workbook

from kernel.tabular import COMMON_ZH, ReportLanguage, localise

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON = "application/json"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


def negotiate(request: Request, explicit: ReportFormat | None) -> ReportFormat:
    if explicit is not None:
        return explicit
    accept = request.headers.get("accept", "").lower()
    if XLSX in accept:
        return ReportFormat.XLSX
    if CSV in accept:
        return ReportFormat.CSV
    return ReportFormat.JSON


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON by default; CSV or XLSX with ?format= or Accept",
        "content": {
            CSV: {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, StrEnum):
        return value.value
    return value


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_cell(value: Any) -> Any:
    value = _cell(value)
    if isinstance(value, Decimal):
        # ratios and shares (never money) as numbers a spreadsheet can chart
        return float(value)
    return value


def to_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(list(header))
    for row in rows:
        sheet.append([_xlsx_cell(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# Chinese headers and labels of the roster's exports (`?lang=zh`).
ZH = {
    "quota": "定额",
    "reserved": "预留",
    "available": "可用",
    "over_quota": "超编",
    "population": "户籍人口",
    "police_establishment": "政法编制民警数",
    "per_10k_population": "每万人辅警数",
    "per_police": "警辅比",
    "fulfilment": "完成率",
    "gap_to_target": "距目标缺口",
    "incomplete": "数据不全",
    "headcount_start": "年初人数",
    "headcount_end": "年末人数",
    "average_headcount": "平均人数",
    "leavers": "离职人数",
    "rate": "流失率",
    "summary": "汇总",
}


def file_response(
    fmt: ReportFormat,
    name: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    lang: ReportLanguage | None = None,
) -> Response:
    """`header` holds the column keys; `?lang=zh` shows them in Chinese, and the
    labels in the first column (total, dimension names) too."""
    if lang is ReportLanguage.ZH:
        names = {**COMMON_ZH, **ZH}
        rows = [[names.get(r[0], r[0]) if isinstance(r[0], str) else r[0], *r[1:]] for r in rows]
    header = localise(header, lang, ZH)
    if fmt is ReportFormat.CSV:
        content, media, ext = to_csv(header, rows), CSV + "; charset=utf-8", "csv"
    else:
        content, media, ext = to_xlsx(name, header, rows), XLSX, "xlsx"
    return Response(
        content=content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{ext}"'},
    )
