"""The `auxpol` operator command, in process with typer's CliRunner, on a scratch data
directory: SQLite files there, or fresh PostgreSQL databases when
AUXPOL_TEST_DATABASE_URL names a server (tests/stack.py process_databases).

migrate (idempotent, data kept), users create (argon2 hash, roles, region, and a token
from the gateway built on the same database), clients create (its secret gets a
client_credentials token), and bad input refused with a clear message, no traceback."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from auxpol.cli import app
from auxpol.processes import PROCESSES
from gateway.config import GatewaySettings
from gateway.main import Gateway
from kernel.db import Database
from tests.stack import process_databases

ADMIN_PASSWORD = "cli-test-admin-pw"
PASSWORD = "a-long-enough-password"


class Operator:
    """Runs `auxpol ...` with one scratch data directory and its databases."""

    def __init__(self, data_dir: Path, urls: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.urls = urls
        self.env = {
            "AUXPOL_DATA_DIR": str(data_dir),
            "AUXPOL_PROFILE": "dev",
            **{f"AUXPOL_{name.upper()}_DATABASE_URL": url for name, url in urls.items()},
        }
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, list(args), env=self.env)

    def gateway_url(self) -> str:
        url = self.urls.get("gateway")
        if url:
            return url
        return str(PROCESSES["gateway"].load_settings(data_dir=self.data_dir).database_url)


@pytest.fixture
def auxpol(tmp_path: Path) -> Iterator[Operator]:
    with process_databases("auxpol_cli") as urls:
        yield Operator(tmp_path / "data", urls)


def words(output: str) -> str:
    """The text of a (rich) usage error without its box and line wrapping."""
    return " ".join(output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def refused(result: Result, code: int) -> str:
    """A refusal: the exit code, and a message rather than a Python traceback."""
    assert result.exit_code == code, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return words(result.output)


async def _gateway_rows(url: str, sql: str, **params: Any) -> list[Any]:
    db = Database(url)
    try:
        async with db.transaction() as session:
            return list((await session.execute(text(sql), params)).all())
    finally:
        await db.dispose()


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    return asyncio.run(_gateway_rows(url, sql, **params))


async def _tokens(data_dir: Path, url: str, forms: list[dict[str, str]]) -> list[httpx.Response]:
    """The real gateway app on the CLI's database answers /auth/token and /auth/me."""
    settings = GatewaySettings(
        profile="dev", data_dir=data_dir, database_url=url, admin_password=ADMIN_PASSWORD
    )
    gw = Gateway(settings)
    answers = []
    async with gw.api.router.lifespan_context(gw.api):
        transport = httpx.ASGITransport(app=gw)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            for form in forms:
                answer = await http.post("/auth/token", data=form)
                answers.append(answer)
                if answer.status_code == 200:
                    token = answer.json()["access_token"]
                    me = await http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
                    answer.extensions["me"] = me.json()
    return answers


def tokens(operator: Operator, *forms: dict[str, str]) -> list[httpx.Response]:
    return asyncio.run(_tokens(operator.data_dir, operator.gateway_url(), list(forms)))


def test_migrate_is_idempotent_and_keeps_data(auxpol: Operator) -> None:
    out = ok(auxpol("migrate", "all"))
    assert out.splitlines() == [f"{name}: migrated" for name in PROCESSES]
    if not auxpol.urls:  # SQLite: one file per process in the data directory
        for name in PROCESSES:
            assert (auxpol.data_dir / f"{name}.db").is_file()
    url = auxpol.gateway_url()
    tables = {
        r[0]
        for r in rows(
            url,
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if url.startswith("sqlite")
            else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
        )
    }
    version_tables = {t for t in tables if "version" in t}
    assert version_tables, tables
    versions = {t: rows(url, f"SELECT * FROM {t}") for t in version_tables}

    ok(auxpol("users", "create", "keeper", "--roles", "auditor", "--password", PASSWORD))
    # a second and a third run change nothing and lose nothing
    assert ok(auxpol("migrate", "all")) == out
    assert ok(auxpol("migrate", "gateway")) == "gateway: migrated\n"
    assert {t: rows(url, f"SELECT * FROM {t}") for t in version_tables} == versions
    assert rows(url, "SELECT username FROM users WHERE username = :u", u="keeper") == [("keeper",)]

    message = refused(auxpol("migrate", "payroll"), 2)
    assert "unknown process 'payroll'" in message and "gateway, roster" in message


def test_users_create_stores_an_argon2_hash_and_the_user_gets_a_token(
    auxpol: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(auxpol("migrate", "gateway"))
    out = ok(
        auxpol(
            "users",
            "create",
            "junan_clerk",
            "--roles",
            "recruiter, county_admin",
            "--region",
            "371327",
            "--password",
            PASSWORD,
        )
    )
    assert out == "user junan_clerk created with recruiter,county_admin in '371327'\n"
    [(password_hash, roles, region, created_by)] = rows(
        auxpol.gateway_url(),
        "SELECT password_hash, roles, region, created_by FROM users WHERE username = :u",
        u="junan_clerk",
    )
    assert password_hash.startswith("$argon2id$") and PASSWORD not in password_hash
    assert (region, created_by) == ("371327", "cli")
    assert "county_admin" in str(roles) and "recruiter" in str(roles)

    # the password is prompted for (without echo) when --password is omitted
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr("auxpol.cli.getpass.getpass", getpass)
    ok(auxpol("users", "create", "prompted", "--roles", "auditor", "--region", "37"))
    assert prompts == ["password: "]

    good, wrong, prompted = tokens(
        auxpol,
        {"grant_type": "password", "username": "junan_clerk", "password": PASSWORD},
        {"grant_type": "password", "username": "junan_clerk", "password": PASSWORD + "x"},
        {"grant_type": "password", "username": "prompted", "password": PASSWORD},
    )
    assert good.status_code == 200, good.text
    assert good.extensions["me"] == {
        "sub": "junan_clerk",
        "roles": ["county_admin", "recruiter"],
        "region": "371327",
    }
    assert wrong.status_code in (400, 401) and "access_token" not in wrong.text
    assert prompted.status_code == 200 and prompted.extensions["me"]["region"] == "37"


def test_clients_create_prints_a_secret_that_gets_a_token(auxpol: Operator) -> None:
    ok(auxpol("migrate", "gateway"))
    out = ok(
        auxpol("clients", "create", "provincial-reports", "--roles", "auditor", "--region", "37")
    )
    match = re.fullmatch(r"client_id=(cli_[0-9a-f]{24})\nclient_secret=(\S{32,})\n", out)
    assert match, out
    client_id, secret = match.groups()
    [(secret_hash, name, region)] = rows(
        auxpol.gateway_url(),
        "SELECT secret_hash, name, region FROM clients WHERE client_id = :c",
        c=client_id,
    )
    assert secret_hash.startswith("$argon2id$") and secret not in secret_hash
    assert (name, region) == ("provincial-reports", "37")
    # a second client gets another id and another secret
    other = ok(auxpol("clients", "create", "provincial-reports", "--roles", "auditor"))
    assert client_id not in other and secret not in other

    good, wrong = tokens(
        auxpol,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "guess"},
    )
    assert good.status_code == 200, good.text
    assert good.extensions["me"] == {"sub": client_id, "roles": ["auditor"], "region": "37"}
    assert wrong.status_code in (400, 401) and "access_token" not in wrong.text


def test_bad_input_is_refused_with_a_clear_message(auxpol: Operator) -> None:
    ok(auxpol("migrate", "gateway"))
    create = ("users", "create", "bob", "--password", PASSWORD)

    message = refused(auxpol(*create, "--roles", "county_admin,sheriff"), 2)
    assert "Invalid value for --roles: unknown role 'sheriff'" in message
    assert "county_admin" in message and "auditor" in message
    message = refused(auxpol("clients", "create", "x", "--roles", "root"), 2)
    assert "Invalid value for --roles: unknown role 'root'" in message
    assert "name at least one role" in refused(auxpol(*create, "--roles", " , "), 2)

    message = refused(auxpol(*create, "--roles", "county_admin", "--region", "3713x"), 2)
    assert "Invalid value for --region: '3713x': a region code has 2, 4, 6 or 9 digits" in message
    message = refused(auxpol("clients", "create", "x", "--roles", "auditor", "--region", "00"), 2)
    assert "Invalid value for --region" in message and "cannot be 00" in message

    short = ("users", "create", "bob", "--roles", "auditor", "--password", "too-short")
    assert "passwords have at least 10 characters" in refused(auxpol(*short), 2)
    assert "Missing option '--roles'" in refused(auxpol("users", "create", "bob"), 2)

    # nothing was stored by the refused commands; a taken username is refused too
    assert rows(auxpol.gateway_url(), "SELECT username FROM users WHERE username = 'bob'") == []
    ok(auxpol(*create, "--roles", "auditor"))
    message = refused(auxpol(*create, "--roles", "county_admin"), 1)
    assert "user 'bob' not created: a user with this name exists" in message
    assert rows(auxpol.gateway_url(), "SELECT roles FROM users WHERE username = 'bob'") != []
