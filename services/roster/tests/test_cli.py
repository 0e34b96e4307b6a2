"""The import command: login, upload, progress, refused rows, exit codes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from typer.testing import CliRunner

from services.roster.cli import import_app, run_personnel_import
from services.roster.tests.conftest import JUNAN
from services.roster.tests.test_api_imports import good_row, to_csv


def gateway(app: Any, issuer: Any) -> httpx.AsyncClient:
    """A stand-in gateway: /auth/token signs a county_admin token, the rest goes to
    the roster app."""
    roster = httpx.ASGITransport(app=app)

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            form = dict(x.split("=") for x in request.content.decode().split("&"))
            if form.get("password") != "secret":
                return httpx.Response(401, json={"error": "invalid_grant"})
            token = issuer.token("county_admin", region=JUNAN, sub=form["username"])
            return httpx.Response(200, json={"access_token": token, "token_type": "Bearer"})
        return await roster.handle_async_request(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://gw")


async def test_import_command_reports_progress_and_refused_rows(
    client, app, issuer, tmp_path
) -> None:
    rows = [good_row() for _ in range(60)]
    rows[7] = good_row(id_number="371327199505010035")
    path = tmp_path / "roster.csv"
    path.write_bytes(to_csv(rows))
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    async with gateway(app, issuer) as http:
        code = await run_personnel_import(
            http, path, "junan_admin", "secret", console=console, poll_seconds=0.01
        )
        assert code == 1, out.getvalue()
        text = out.getvalue()
        assert "59 created, 0 already on the roster, 1 refused of 60 rows" in text
        assert "invalid_id_number" in text and "9" in text
        assert "371327199505010035" not in text

        # a re-run: everything is already on the roster; every refused row to a CSV
        out.truncate(0)
        report = tmp_path / "refused.csv"
        code = await run_personnel_import(
            http,
            path,
            "junan_admin",
            "secret",
            console=console,
            poll_seconds=0.01,
            errors_csv=report,
        )
        assert "0 created, 59 already on the roster, 1 refused" in out.getvalue()
        lines = report.read_text(encoding="utf-8-sig").splitlines()
        assert lines == ["line,column,code,message", lines[1]] and lines[1].startswith(
            "9,id_number"
        )

        out.truncate(0)
        assert await run_personnel_import(http, path, "junan_admin", "wrong", console=console) == 2
        assert "cannot log in" in out.getvalue()

        bad = tmp_path / "bad.csv"
        bad.write_bytes(b"name,region\nx,y\n")
        out.truncate(0)
        assert await run_personnel_import(http, bad, "junan_admin", "secret", console=console) == 2
        assert "invalid_import_file" in out.getvalue() and "missing columns" in out.getvalue()


def _words(output: str) -> str:
    """The text of a (rich) usage error, without its box and line wrapping, which
    depend on the terminal's width."""
    return " ".join(output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def test_command_line_arguments(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(import_app, ["personnel", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2 and "missing.csv" in result.output
    assert "does not exist" in _words(result.output)
    result = runner.invoke(import_app, ["personnel", "--help"])
    assert result.exit_code == 0 and "--username" in result.output and "--url" in result.output


def test_many_refused_rows_are_summarised() -> None:
    from services.roster.cli import _errors_table, _summary_table

    errors = [
        {"line": n, "column": "region", "code": "quota_exceeded", "message": "no seat"}
        for n in range(2, 80)
    ] + [{"line": 90, "column": "id_number", "code": "invalid_id_number", "message": "bad"}]
    out = io.StringIO()
    console = Console(file=out, width=160)
    console.print(_errors_table(errors))
    console.print(_summary_table(errors))
    text = out.getvalue()
    assert "79 row(s) refused (the first 50" in text
    assert "quota_exceeded" in text and "78" in text and "invalid_id_number" in text
