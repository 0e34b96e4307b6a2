"""Uploaded tables: a multipart file part that says nothing about itself (no known
extension, `application/octet-stream`) is read by its content, as browsers send unknown
files that way (found by the API fuzz: such a part was a 415 although the schema takes
any binary `file`)."""

from __future__ import annotations

import io

import httpx
import pytest
from openpyxl import Workbook
from starlette.requests import Request

from kernel.errors import DomainError
from services.recruitment.tabular import upload


def _xlsx() -> bytes:
    book = Workbook()
    book.active.append(["id_number", "name"])  # type: ignore[union-attr]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _request(files: dict) -> Request:
    built = httpx.Request("POST", "http://test/upload", files=files)
    body = built.read()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "headers": [(k.lower().encode(), v.encode()) for k, v in built.headers.items()],
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


@pytest.mark.parametrize(
    ("filename", "content_type", "content", "kind"),
    [
        ("people.csv", "text/csv", b"id_number,name\n", "csv"),
        ("people.xlsx", "application/octet-stream", _xlsx(), "xlsx"),
        ("file", "application/octet-stream", b"id_number,name\n", "csv"),
        ("file", "application/octet-stream", _xlsx(), "xlsx"),
    ],
)
async def test_the_kind_of_an_uploaded_table(filename, content_type, content, kind) -> None:
    got, got_kind = await upload(_request({"file": (filename, content, content_type)}))
    assert got == content and got_kind == kind


async def test_a_file_of_another_kind_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        await upload(_request({"file": ("scan.pdf", b"%PDF-1.4", "application/pdf")}))
    assert refused.value.status == 415
