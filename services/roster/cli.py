"""`auxpol import personnel FILE`: upload a CSV or XLSX roster through the gateway,
follow the import with a progress bar, and print the rows that were refused.

Exit codes: 0 every row landed (or was already on the roster); 1 the import finished
but some rows were refused; 2 the file was refused, the login failed or the import
stopped.
"""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

API = "/api/v1/roster"
FINISHED = ("completed", "failed", "interrupted")

import_app = typer.Typer(help="Bulk imports into the roster.", no_args_is_help=True)


@import_app.callback()
def imports() -> None:
    """Bulk imports into the roster (a command group, also when it has one command)."""


class CliError(Exception):
    """Something the operator must fix; printed without a traceback."""


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    text = body.get("detail") or body.get("error") or body.get("title") or ""
    code = body.get("code") or body.get("error") or response.status_code
    lines = [f"{code}: {text}"]
    for error in body.get("errors") or []:
        loc = " › ".join(str(part) for part in error.get("loc", []))
        lines.append(f"  {loc}: {error.get('msg')}")
    return "\n".join(lines)


class Session:
    """A logged-in user of the gateway; logs in again when the token expires."""

    def __init__(self, client: httpx.AsyncClient, username: str, password: str) -> None:
        self.client = client
        self.username = username
        self.password = password
        self.token: str | None = None

    async def login(self) -> None:
        response = await self.client.post(
            "/auth/token",
            data={"grant_type": "password", "username": self.username, "password": self.password},
        )
        if response.status_code != 200:
            raise CliError(f"cannot log in as {self.username}: {_problem(response)}")
        self.token = response.json()["access_token"]

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.token is None:
            await self.login()
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token}"}
            response = await self.client.request(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                await self.login()
                continue
            return response
        raise AssertionError("unreachable")


async def _all_errors(session: Session, import_id: int) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        response = await session.call("GET", f"{API}/imports/{import_id}/errors", params=params)
        if response.status_code != 200:
            raise CliError(_problem(response))
        page = response.json()
        errors += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return errors


SHOWN_ERRORS = 50


def _errors_table(errors: list[dict[str, Any]]) -> Table:
    shown = errors[:SHOWN_ERRORS]
    title = f"{len(errors)} row(s) refused"
    if len(errors) > len(shown):
        title += f" (the first {len(shown)}; --errors-csv writes them all)"
    table = Table(title=title, show_lines=False)
    for column in ("line", "column", "code", "reason"):
        table.add_column(column, justify="right" if column == "line" else "left")
    for error in shown:
        table.add_row(
            str(error["line"]), error.get("column") or "", error["code"], error["message"]
        )
    return table


def _summary_table(errors: list[dict[str, Any]]) -> Table:
    table = Table(title="refused rows by reason")
    table.add_column("code")
    table.add_column("rows", justify="right")
    table.add_column("first line", justify="right")
    for code, rows in sorted(Counter(e["code"] for e in errors).items(), key=lambda item: -item[1]):
        first = min(e["line"] for e in errors if e["code"] == code)
        table.add_row(code, str(rows), str(first))
    return table


def write_errors_csv(path: Path, errors: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "column", "code", "message"])
        for e in errors:
            writer.writerow([e["line"], e.get("column") or "", e["code"], e["message"]])


async def run_personnel_import(
    client: httpx.AsyncClient,
    file: Path,
    username: str,
    password: str,
    *,
    console: Console,
    poll_seconds: float = 0.5,
    errors_csv: Path | None = None,
) -> int:
    """Upload, follow and report one import; returns the exit code."""
    session = Session(client, username, password)
    try:
        await session.login()
        content = await asyncio.to_thread(file.read_bytes)
        response = await session.call(
            "POST",
            f"{API}/imports/personnel",
            files={"file": (file.name, content, "application/octet-stream")},
        )
        if response.status_code != 202:
            raise CliError(f"the file was refused: {_problem(response)}")
        job = response.json()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("created {task.fields[created]} · skipped {task.fields[skipped]} · "
                       "refused {task.fields[failed]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:  # fmt: skip
            task = progress.add_task(
                f"import {job['id']}", total=job["total_rows"], created=0, skipped=0, failed=0
            )
            while True:
                progress.update(
                    task,
                    completed=job["processed_rows"],
                    created=job["created"],
                    skipped=job["skipped"],
                    failed=job["failed"],
                )
                if job["status"] in FINISHED:
                    break
                await asyncio.sleep(poll_seconds)
                response = await session.call("GET", f"{API}/imports/{job['id']}")
                if response.status_code != 200:
                    raise CliError(_problem(response))
                job = response.json()
        errors = await _all_errors(session, job["id"]) if job["failed"] else []
    except CliError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach the gateway: {exc}[/red]")
        return 2
    console.print(
        f"import {job['id']} {job['status']}: {job['created']} created, "
        f"{job['skipped']} already on the roster, {job['failed']} refused "
        f"of {job['total_rows']} rows"
    )
    if errors:
        console.print(_errors_table(errors))
        if len(errors) > SHOWN_ERRORS:
            console.print(_summary_table(errors))
        if errors_csv is not None:
            await asyncio.to_thread(write_errors_csv, errors_csv, errors)
            console.print(f"all refused rows written to {errors_csv}")
    if job["status"] != "completed":
        console.print(f"[red]{job.get('error') or 'the import stopped'}[/red]")
        return 2
    return 1 if job["failed"] else 0


@import_app.command("personnel")
def personnel(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="a CSV or XLSX file"),
    ],
    url: Annotated[str, typer.Option(help="the gateway's base URL")] = "http://127.0.0.1:8000",
    username: Annotated[str, typer.Option(prompt=True, help="a county_admin account")] = "",
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, envvar="AUXPOL_PASSWORD", help="its password"),
    ] = "",
    poll: Annotated[float, typer.Option(min=0.1, help="seconds between progress checks")] = 0.5,
    errors_csv: Annotated[
        Path | None, typer.Option(dir_okay=False, help="write every refused row to this CSV")
    ] = None,
) -> None:
    """Import personnel files from FILE; bad rows are listed with their line and reason."""

    async def main() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            return await run_personnel_import(
                client,
                file,
                username,
                password,
                console=Console(),
                poll_seconds=poll,
                errors_csv=errors_csv,
            )

    raise typer.Exit(asyncio.run(main()))
