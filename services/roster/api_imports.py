"""Routers: bulk imports of personnel files and their progress."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, File, Request, UploadFile
from sqlalchemy import select

from kernel.db import utcnow
from kernel.errors import PayloadTooLarge, Unprocessable, problem_responses
from kernel.pagination import Page, PageParams, keyset, page_of, page_params
from kernel.routing import Idempotent, Session, TransactionalRoute
from services.roster.clock import today
from services.roster.deps import ImportReader, PersonnelWriter, Policies, ResourceId
from services.roster.errors import ImportNotFound
from services.roster.import_parsing import ImportFileError, open_import
from services.roster.import_service import ImportJob, run_import, shown_status
from services.roster.models import Import, ImportRowError
from services.roster.schemas import ImportOut, ImportRowErrorOut

router = APIRouter(prefix="/api/v1/roster", route_class=TransactionalRoute, tags=["imports"])

INLINE_ERRORS = 100
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def import_out(row: Import, errors: list[ImportRowError]) -> ImportOut:
    progress = (
        Decimal(row.processed_rows) / Decimal(row.total_rows) if row.total_rows else Decimal(1)
    )
    status = shown_status(row, utcnow())
    if status != "completed" and progress == 1 and row.total_rows:
        progress = Decimal("0.9999")
    return ImportOut(
        id=row.id,
        kind=row.kind,
        status=status,
        filename=row.filename,
        file_format=row.file_format,
        total_rows=row.total_rows,
        processed_rows=row.processed_rows,
        created=row.created_rows,
        skipped=row.skipped_rows,
        failed=row.failed_rows,
        progress=progress.quantize(Decimal("0.0001")),
        error=row.error,
        created_at=row.created_at,
        created_by=row.created_by,
        started_at=row.started_at,
        finished_at=row.finished_at,
        errors=[ImportRowErrorOut.model_validate(e) for e in errors],
        errors_truncated=row.failed_rows > len(errors),
    )


@router.post(
    "/imports/personnel",
    status_code=202,
    dependencies=[Idempotent],
    responses=problem_responses(413),
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "encoding": {"file": {"contentType": f"text/csv, {XLSX_MEDIA_TYPE}"}}
                }
            }
        }
    },
)
async def import_personnel(
    request: Request,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GB18030) or XLSX")],
    background: BackgroundTasks,
    who: PersonnelWriter,
    session: Session,
    policies: Policies,
) -> ImportOut:
    """Start importing personnel files. The header is checked now (422
    invalid_import_file); the rows are processed in the background, batch by batch:
    follow `GET /imports/{id}`. Valid rows land, bad rows are reported with their line
    and reason; rows already on the staff are skipped, so a re-run creates nothing."""
    settings = request.app.state.settings
    limit = settings.import_max_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes")
    filename = (file.filename or "upload")[:255]
    try:
        parsed = open_import(content, filename)
    except ImportFileError as exc:
        raise Unprocessable(exc.message, code="invalid_import_file", errors=exc.errors) from exc
    now = utcnow()
    row = Import(
        region=who.region,
        kind="personnel",
        filename=filename,
        file_format=parsed.fmt,
        sha256=hashlib.sha256(content).hexdigest(),
        status="queued",
        total_rows=parsed.total,
        processed_rows=0,
        created_rows=0,
        skipped_rows=0,
        failed_rows=0,
        error=None,
        created_at=now,
        created_by=who.sub,
        heartbeat_at=now,
    )
    session.add(row)
    await session.flush()
    batch_size = settings.import_batch_size
    job = ImportJob(import_id=row.id, principal=who, file=parsed, batch_size=batch_size)
    # runs once the response is sent, i.e. after this transaction has committed
    background.add_task(run_import, request.app.state.db, policies, job, today())
    return import_out(row, [])


async def _visible_import(session: Session, who: ImportReader, import_id: int) -> Import:
    row = await session.get(Import, import_id)
    if row is None or not who.sees(row.region):
        raise ImportNotFound(f"import {import_id} not found")
    return row


@router.get("/imports/{id}")
async def get_import(import_id: ResourceId, who: ImportReader, session: Session) -> ImportOut:
    """Progress, counts and the first row errors (all of them at /imports/{id}/errors)."""
    row = await _visible_import(session, who, import_id)
    errors = list(
        (
            await session.execute(
                select(ImportRowError)
                .where(ImportRowError.import_id == row.id)
                .order_by(ImportRowError.id)
                .limit(INLINE_ERRORS)
            )
        ).scalars()
    )
    return import_out(row, errors)


@router.get("/imports/{id}/errors")
async def list_import_errors(
    import_id: ResourceId,
    who: ImportReader,
    session: Session,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[ImportRowErrorOut]:
    """Every row error of the import, by line."""
    row = await _visible_import(session, who, import_id)
    stmt = select(ImportRowError).where(ImportRowError.import_id == row.id)
    rows = list((await session.execute(keyset(stmt, ImportRowError.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda e: e.id)
    return Page(items=[ImportRowErrorOut.model_validate(e) for e in rows], next_cursor=cursor)


@router.get("/imports")
async def list_imports(
    who: ImportReader,
    session: Session,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[ImportOut]:
    """Imports started in the caller's jurisdiction, oldest first (without row errors)."""
    stmt = select(Import).where(who.region_filter(Import.region))
    rows = list((await session.execute(keyset(stmt, Import.id, params))).scalars())
    rows, cursor = page_of(rows, params, key=lambda r: r.id)
    return Page(items=[import_out(r, []) for r in rows], next_cursor=cursor)
