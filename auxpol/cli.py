"""The `auxpol` command for operators."""

from __future__ import annotations

import asyncio
import getpass
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from auxpol.processes import PROCESSES, ProcessDef

app = typer.Typer(
    help="auxpol: operate the recruitment, roster and compensation services.", no_args_is_help=True
)
users_app = typer.Typer(help="Accounts in the gateway's identity database.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth2 machine clients.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo dataset.", no_args_is_help=True)
keys_app = typer.Typer(help="JWT signing keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")

ProcessName = Annotated[str, typer.Argument(help="gateway, roster, recruitment or compensation")]


def _process(name: str) -> ProcessDef:
    if name not in PROCESSES:
        raise typer.BadParameter(f"unknown process {name!r}; one of {', '.join(PROCESSES)}")
    return PROCESSES[name]


def _roles(text: str) -> list[str]:
    """The comma-separated roles of --roles, each a known role, at least one."""
    from kernel.auth import Role

    names = [r.strip() for r in text.split(",") if r.strip()]
    known = [str(r) for r in Role]
    unknown = [r for r in names if r not in known]
    if unknown:
        raise typer.BadParameter(
            f"unknown role {', '.join(map(repr, unknown))}; one of {', '.join(known)}",
            param_hint="--roles",
        )
    if not names:
        raise typer.BadParameter("name at least one role", param_hint="--roles")
    return names


def _region(text: str) -> str:
    """A jurisdiction prefix: a GB/T 2260 region code, or '' for national."""
    from services.common.region_code import InvalidRegionCode, validate_scope

    try:
        return validate_scope(text)
    except InvalidRegionCode as exc:
        raise typer.BadParameter(f"{text!r}: {exc}", param_hint="--region") from exc


@app.command()
def migrate(name: Annotated[str, typer.Argument(help="a process name, or all")] = "all") -> None:
    """Apply the Alembic migrations of one process's database (or all four)."""
    from kernel.migrations import upgrade

    names = list(PROCESSES) if name == "all" else [name]
    for each in names:
        proc = _process(each)
        settings = proc.load_settings()
        upgrade(proc.migrations, settings.database_url)
        typer.echo(f"{each}: migrated")


@app.command()
def serve(
    name: ProcessName,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="default: the process's *_PORT")] = None,
) -> None:
    """Serve one process with uvicorn."""
    import uvicorn

    proc = _process(name)
    settings = proc.load_settings()
    uvicorn.run(
        proc.factory,
        factory=True,
        host=host,
        port=port or settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )


@app.command()
def run() -> None:
    """Start the gateway and the three services (what `make run` does)."""
    from auxpol.stack import run as run_stack

    raise typer.Exit(run_stack())


async def _with_gateway_session(fn: Any) -> Any:
    from kernel.db import Database

    settings = PROCESSES["gateway"].load_settings()
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            return await fn(session)
    finally:
        await db.dispose()


@users_app.command("create")
def users_create(
    username: str,
    roles: Annotated[str, typer.Option(help="comma-separated roles")],
    region: Annotated[str, typer.Option(help="jurisdiction prefix, '' for national")] = "",
    password: Annotated[str | None, typer.Option(help="prompted when omitted")] = None,
) -> None:
    """Create a user directly in the gateway database (operators only)."""
    from gateway import identity
    from kernel.errors import Conflict

    role_list = _roles(roles)
    region = _region(region)
    secret = password or getpass.getpass("password: ")
    if len(secret) < 10:
        raise typer.BadParameter("passwords have at least 10 characters")

    async def create(session: Any) -> Any:
        return await identity.create_user(
            session,
            username=username,
            password=secret,
            roles=role_list,
            region=region,
            created_by="cli",
        )

    try:
        asyncio.run(_with_gateway_session(create))
    except Conflict as exc:
        typer.echo(f"error: user {username!r} not created: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"user {username} created with {','.join(role_list)} in '{region}'")


@clients_app.command("create")
def clients_create(
    name: str,
    roles: Annotated[str, typer.Option(help="comma-separated roles, e.g. auditor")],
    region: Annotated[str, typer.Option(help="jurisdiction prefix")] = "",
) -> None:
    """Create an OAuth2 client; its secret is printed once."""
    from gateway import identity

    role_list = _roles(roles)
    region = _region(region)

    async def create(session: Any) -> Any:
        return await identity.create_client(
            session, name=name, roles=role_list, region=region, created_by="cli"
        )

    client, secret = asyncio.run(_with_gateway_session(create))
    typer.echo(f"client_id={client.client_id}\nclient_secret={secret}")


@demo_app.command("load")
def demo_load(
    url: Annotated[str, typer.Option(help="gateway URL")] = "http://127.0.0.1:8000",
    admin_password: Annotated[str | None, typer.Option(envvar="AUXPOL_ADMIN_PASSWORD")] = None,
) -> None:
    """Load the demo dataset through a running gateway."""
    from auxpol.demo import load_all
    from gateway.config import DEMO_ADMIN_PASSWORD

    asyncio.run(load_all(url.rstrip("/"), admin_password or DEMO_ADMIN_PASSWORD, echo=typer.echo))


@keys_app.command("generate")
def keys_generate(
    directory: Annotated[Path, typer.Argument(help="where to write the PEM file")],
    alg: Annotated[str, typer.Option(help="RS256 or ES256")] = "RS256",
) -> None:
    """Write a new signing key (for rotation: list it first in SIGNING_KEY_FILES)."""
    import time

    from kernel.jwt import generate_private_key_pem, load_signing_key

    directory.mkdir(parents=True, exist_ok=True)
    pem = generate_private_key_pem(alg)
    path = directory / f"jwt-{int(time.time())}.pem"
    path.write_bytes(pem)
    os.chmod(path, 0o600)
    typer.echo(f"{path} kid={load_signing_key(pem).kid}")


def _register_service_commands() -> None:
    try:
        from services.roster.cli import import_app
    except ImportError:
        return
    app.add_typer(import_app, name="import", help="Bulk imports through the gateway.")


_register_service_commands()

if __name__ == "__main__":
    app()
