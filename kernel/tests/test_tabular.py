from __future__ import annotations

import csv
import io
from decimal import Decimal

import httpx
from fastapi import FastAPI, Request
from openpyxl import load_workbook

from kernel.errors import install_error_handlers
from kernel.tabular import Column, language, negotiate, table_response

COLUMNS = [
    Column("region", "地区", "region"),
    Column("headcount", "人数"),
    Column("pay", "应发工资"),
]
ROWS = [
    {"region": "371327", "headcount": 378, "pay": Decimal("4350.00")},
    {"region": "371325", "headcount": 120, "pay": Decimal("4000.50")},
]


def app() -> FastAPI:
    api = FastAPI()
    install_error_handlers(api)

    @api.get("/report")
    async def report(request: Request, format: str | None = None, lang: str | None = None):
        fmt = negotiate(request, format)
        if fmt == "json":
            return ROWS
        return table_response(
            fmt,
            COLUMNS,
            ROWS,
            filename="report",
            lang=language(lang),
            totals={"headcount": 498, "pay": Decimal("8350.50")},
        )

    return api


async def test_csv_xlsx_and_negotiation() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app()), base_url="http://t"
    ) as c:
        r = await c.get("/report", params={"format": "csv", "lang": "zh"})
        text = r.content.decode("utf-8-sig")
        lines = list(csv.reader(io.StringIO(text)))
        assert lines[0] == ["地区", "人数", "应发工资"]
        assert lines[1] == ["371327", "378", "4350.00"]
        assert lines[-1] == ["合计", "498", "8350.50"]
        r = await c.get("/report", headers={"Accept": "text/csv"})
        assert next(iter(csv.reader(io.StringIO(r.text)))) == ["region", "headcount", "pay"]
        r = await c.get("/report", params={"format": "xlsx"})
        sheet = load_workbook(io.BytesIO(r.content)).active
        rows = list(sheet.values)
        assert rows[0] == ("region", "headcount", "pay")
        assert rows[1][2] == 4350.0 and rows[-1][0] == "total"
        assert (await c.get("/report")).json()[0]["region"] == "371327"
        bad = await c.get("/report", params={"format": "pdf"})
        assert bad.status_code == 422 and bad.json()["code"] == "unsupported_format"
