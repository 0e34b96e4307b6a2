"""CSV and XLSX in and out: uploads read into rows of text, documents written as sheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import Request

from kernel.errors import DomainError
from services.recruitment.errors import ValidationProblem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
MAX_ROWS = 200_000


class UnsupportedMediaType(DomainError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def upload(request: Request) -> tuple[bytes, str]:
    """The uploaded table and its kind ("csv" or "xlsx"): a raw CSV or XLSX body, or a
    multipart form with a `file` field."""
    kind = media_type(request)
    if kind == "multipart/form-data":
        form = await request.form()
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise ValidationProblem("the form needs a `file` field", code="file_missing")
        content = await file.read()
        name = (file.filename or "").lower()
        file_type = (file.content_type or "").split(";")[0].strip().lower()
        if name.endswith(".xlsx") or file_type == XLSX:
            return content, "xlsx"
        if name.endswith((".csv", ".txt")) or file_type in CSV_TYPES:
            return content, "csv"
        if file_type in ("", "application/octet-stream") and "." not in name:
            # A part that says nothing about itself (browsers send octet-stream for a
            # file they do not know): an XLSX workbook is a zip archive, else CSV.
            return content, "xlsx" if content.startswith(b"PK\x03\x04") else "csv"
        raise UnsupportedMediaType("upload a .csv or .xlsx file")
    if kind in CSV_TYPES:
        return await request.body(), "csv"
    if kind == XLSX:
        return await request.body(), "xlsx"
    raise UnsupportedMediaType(
        "send JSON, text/csv, an XLSX workbook or a multipart form with a `file`"
    )


def read_table(content: bytes, kind: str) -> tuple[list[str], list[list[str]]]:
    """The header (lower-cased, stripped) and the non-empty data rows, cells as text."""
    rows = _read_xlsx(content) if kind == "xlsx" else _read_csv(content)
    if not rows:
        raise ValidationProblem("the file has no header row", code="empty_file")
    header = [h.strip().lower() for h in rows[0]]
    named = [h for h in header if h]
    if len(set(named)) != len(named):
        raise ValidationProblem("a column appears twice in the header", code="invalid_header")
    # a row with nothing but blanks: no character left once its joined cells are stripped
    body = [row for row in rows[1:] if "".join(row).strip()]
    if len(body) > MAX_ROWS:
        raise ValidationProblem(f"at most {MAX_ROWS} rows per file", code="too_many_rows")
    return header, body


def read_rows(content: bytes, kind: str) -> list[dict[str, str]]:
    """Rows as {header: text}; headers are lower-cased and stripped, empty cells are ""."""
    header, body = read_table(content, kind)
    columns = [(i, h) for i, h in enumerate(header) if h]
    return [{h: (row[i].strip() if i < len(row) else "") for i, h in columns} for row in body]


def _read_csv(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationProblem("the CSV is neither UTF-8 nor GB18030", code="invalid_encoding")
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ValidationProblem(f"the CSV cannot be read: {exc}", code="invalid_csv") from exc


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _read_xlsx(content: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise ValidationProblem(
            "the file is not a readable XLSX workbook", code="invalid_xlsx"
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        return [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


TRUE = frozenset({"true", "t", "1", "yes", "y", "pass", "passed", "是", "通过", "合格"})
FALSE = frozenset({"false", "f", "0", "no", "n", "fail", "failed", "否", "不通过", "不合格"})


def parse_bool(text: str) -> bool | None:
    """None for an empty cell; ValueError for anything that is not yes or no."""
    value = text.strip().lower()
    if not value:
        return None
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"{text!r} is not true or false")


def write_xlsx(sheets: Sequence[tuple[str, Iterable[Sequence[Any]]]]) -> bytes:
    """A workbook of (title, rows) sheets; the first row of each is its header."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title=title[:31])
        for row in rows:
            sheet.append([_xlsx_value(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | dict):
        return str(value)
    return value
