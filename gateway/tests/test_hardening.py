"""The gateway's protections that issue 2 lists beyond the probes: one access-log line per
request without secrets, the CORS allow-list, login throttling per client address,
argon2 hashes at rest, and several signing keys published at once (from files or from
the environment)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from jose import jwt
from sqlalchemy import select

from gateway.config import GatewaySettings
from gateway.keys import split_private_keys
from gateway.main import MIGRATIONS, Gateway
from gateway.models import Client, User
from kernel.jwt import generate_private_key_pem, issue_token, load_signing_key
from kernel.observability import JsonFormatter
from kernel.testing import scratch_database
from services.common.resident_id import make_id_number

from .conftest import bearer, stub_upstream, token

ADMIN_PASSWORD = "admin-test-pw-1"
ALLOWED_ORIGIN = "https://bureau.example"


@asynccontextmanager
async def running_gateway(data_dir: Path, **overrides: Any) -> AsyncIterator[Gateway]:
    """A gateway of its own (own database, own throttles), forwarding to the stub."""
    async with scratch_database("gateway", MIGRATIONS) as url:
        fields: dict[str, Any] = {
            "profile": "dev",
            "data_dir": data_dir,
            "database_url": url,
            "admin_password": ADMIN_PASSWORD,
            **overrides,
        }
        gw = Gateway(GatewaySettings(**fields))
        async with gw.api.router.lifespan_context(gw.api):
            gw.state.forwarder.transport = httpx.ASGITransport(app=stub_upstream())
            yield gw


def client_of(gw: Gateway, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=gw, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gw")


@contextmanager
def access_lines() -> Iterator[io.StringIO]:
    """What the JSON formatter writes for the `auxpol.access` logger (tests run at WARNING)."""
    logger = logging.getLogger("auxpol.access")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


# --------------------------------------------------------------------- access log


async def test_one_access_line_per_request_without_token_or_id_number(
    client: httpx.AsyncClient,
) -> None:
    tok = await token(client)
    id_number = make_id_number("371327", date(1990, 5, 17), 123)
    with access_lines() as stream:
        r = await client.get(
            "/api/v1/roster/personnel/raw-path-id-93",
            params={"id_number": id_number},
            headers={**bearer(tok), "X-Request-ID": "req-access-1"},
        )
    assert r.status_code == 200 and r.json()["path"] == "/api/v1/roster/personnel/raw-path-id-93"
    output = stream.getvalue()
    lines = output.splitlines()
    assert len(lines) == 1, output
    entry = json.loads(lines[0])
    assert entry["logger"] == "auxpol.access"
    assert entry["request_id"] == "req-access-1"
    assert entry["route"] == "/api/v1/roster/personnel/{id}"  # the template, not the path
    assert entry["status"] == 200
    assert isinstance(entry["duration_ms"], int | float) and entry["duration_ms"] >= 0
    assert entry["subject"] == "admin"
    assert tok not in output and tok.split(".")[2] not in output
    assert id_number not in output and "raw-path-id-93" not in output


async def test_access_line_of_a_refused_request_has_no_subject(client: httpx.AsyncClient) -> None:
    with access_lines() as stream:
        r = await client.get("/api/v1/roster/personnel", headers=bearer("not.a.token"))
    assert r.status_code == 401
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["status"] == 401 and entry["subject"] is None
    assert entry["route"] == "/api/v1/roster/personnel"
    assert "not.a.token" not in line


# --------------------------------------------------------------------- CORS


async def test_cors_echoes_allowed_origins_only(tmp_path: Path) -> None:
    async with (
        running_gateway(tmp_path, cors_origins=ALLOWED_ORIGIN) as gw,
        client_of(gw) as c,
    ):
        r = await c.get("/livez", headers={"Origin": ALLOWED_ORIGIN})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert r.headers["access-control-allow-credentials"] == "true"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()

        r = await c.get("/livez", headers={"Origin": "https://evil.example"})
        assert r.status_code == 200
        # without an allowed origin the browser hides the answer from the page (Starlette
        # still sends its fixed Allow-Credentials header, which means nothing on its own)
        assert "access-control-allow-origin" not in r.headers

        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        r = await c.options("/auth/token", headers={"Origin": ALLOWED_ORIGIN, **preflight})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert r.headers["access-control-allow-credentials"] == "true"
        assert "authorization" in r.headers["access-control-allow-headers"].lower()

        r = await c.options("/auth/token", headers={"Origin": "https://evil.example", **preflight})
        assert r.status_code == 400
        assert "access-control-allow-origin" not in r.headers

        # a proxied route is covered as well: the allow-list wraps the forwarder
        tok = await token(c, "admin", ADMIN_PASSWORD)
        r = await c.get(
            "/api/v1/roster/personnel", headers={**bearer(tok), "Origin": ALLOWED_ORIGIN}
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_cors_wildcard_never_allows_credentials(tmp_path: Path) -> None:
    async with running_gateway(tmp_path, cors_origins="*") as gw, client_of(gw) as c:
        r = await c.get("/livez", headers={"Origin": "https://anyone.example"})
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers


async def test_no_cors_headers_without_an_allow_list(client: httpx.AsyncClient) -> None:
    r = await client.get("/livez", headers={"Origin": ALLOWED_ORIGIN})
    assert r.status_code == 200
    assert not [h for h in r.headers if h.startswith("access-control-")]


# --------------------------------------------------------------------- throttling per address


async def test_failures_over_many_usernames_from_one_address_get_429(tmp_path: Path) -> None:
    async with (
        running_gateway(
            tmp_path, login_max_failures=100, login_ip_max_failures=4, login_window_seconds=60
        ) as gw,
        client_of(gw, "203.0.113.7") as attacker,
        client_of(gw, "198.51.100.9") as other,
    ):
        for i in range(4):
            r = await attacker.post(
                "/auth/token",
                data={"grant_type": "password", "username": f"user{i}", "password": "guess"},
            )
            assert r.status_code == 401, (i, r.text)
        # a username never tried before, and even the right password: the address is blocked
        for data in (
            {"grant_type": "password", "username": "user-new", "password": "guess"},
            {"grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD},
            {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"},
        ):
            r = await attacker.post("/auth/token", data=data)
            assert r.status_code == 429, r.text
            assert r.json()["error"] == "too_many_requests"
            assert 0 < int(r.headers["retry-after"]) <= 60
        # another address is not affected
        assert await token(other, "admin", ADMIN_PASSWORD)


# --------------------------------------------------------------------- hashes at rest


async def test_passwords_and_client_secrets_are_stored_as_argon2_hashes(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    admin = bearer(await token(client))
    password = "plain-text-pass-77"
    r = await client.post(
        "/auth/users",
        headers=admin,
        json={
            "username": "hash-check",
            "password": password,
            "roles": ["county_admin"],
            "region": "371327",
        },
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/auth/clients",
        headers=admin,
        json={"name": "hash-check client", "roles": ["auditor"], "region": "37"},
    )
    assert r.status_code == 201, r.text
    client_id, secret = r.json()["client_id"], r.json()["client_secret"]

    async with gateway.state.db.session() as session:
        users = dict((await session.execute(select(User.username, User.password_hash))).all())
        clients = dict((await session.execute(select(Client.client_id, Client.secret_hash))).all())
    stored = {
        "hash-check": (users["hash-check"], password),
        "admin": (users["admin"], ADMIN_PASSWORD),
        client_id: (clients[client_id], secret),
        "svc-recruitment": (clients["svc-recruitment"], "svc-secret-recruitment"),
    }
    for name, (stored_hash, plain) in stored.items():
        assert stored_hash.startswith("$argon2"), name
        assert plain not in stored_hash, name
    # the stored hashes still verify: both log in
    assert await token(client, "hash-check", password)
    r = await client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert r.status_code == 200


# --------------------------------------------------------------------- signing keys


def _pem_file(directory: Path, name: str, alg: str) -> Path:
    path = directory / name
    path.write_bytes(generate_private_key_pem(alg))
    return path


def _token_signed_by(pem: bytes | str, settings: GatewaySettings) -> str:
    return issue_token(
        load_signing_key(pem),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        subject="rotated-admin",
        roles=["system_admin"],
        region="",
        ttl_seconds=300,
    )


async def _published_kids(c: httpx.AsyncClient) -> list[str]:
    r = await c.get("/.well-known/jwks.json")
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert all("d" not in k for k in keys)  # never a private part
    return [k["kid"] for k in keys]


async def test_two_key_files_are_published_and_the_first_signs(tmp_path: Path) -> None:
    keys_dir = tmp_path / "secrets"
    keys_dir.mkdir()
    first = _pem_file(keys_dir, "jwt-1.pem", "RS256")
    second = _pem_file(keys_dir, "jwt-2.pem", "ES256")
    kid1 = load_signing_key(first.read_bytes()).kid
    kid2 = load_signing_key(second.read_bytes()).kid
    async with (
        running_gateway(tmp_path / "data", signing_key_files=f"{first},{second}") as gw,
        client_of(gw) as c,
    ):
        assert await _published_kids(c) == [kid1, kid2]
        issued = await token(c, "admin", ADMIN_PASSWORD)
        assert jwt.get_unverified_header(issued) == {"alg": "RS256", "kid": kid1, "typ": "JWT"}

        old = _token_signed_by(second.read_bytes(), gw.settings)
        assert jwt.get_unverified_header(old)["kid"] == kid2
        me = await c.get("/auth/me", headers=bearer(old))
        assert me.status_code == 200 and me.json()["sub"] == "rotated-admin"
        r = await c.get("/api/v1/roster/personnel", headers=bearer(old))
        assert r.status_code == 200 and r.json()["authorization"] == f"Bearer {old}"

        stranger = _token_signed_by(generate_private_key_pem(), gw.settings)
        assert (await c.get("/api/v1/roster/personnel", headers=bearer(stranger))).status_code == (
            401
        )
    assert not list((tmp_path / "data").glob("keys/*.pem"))  # nothing generated


async def test_signing_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem1 = generate_private_key_pem("ES256").decode()
    pem2 = generate_private_key_pem("RS256").decode()
    kid1, kid2 = load_signing_key(pem1).kid, load_signing_key(pem2).kid
    monkeypatch.delenv("AUXPOL_GATEWAY_SIGNING_KEY_FILES", raising=False)
    monkeypatch.setenv("AUXPOL_GATEWAY_SIGNING_KEYS_PEM", pem1 + pem2)
    async with running_gateway(tmp_path) as gw, client_of(gw) as c:
        settings = gw.settings
        assert settings.signing_key_files == []
        # a secret: never in a repr, a str or a dump of the settings
        for shown in (repr(settings), str(settings), str(settings.model_dump())):
            assert "PRIVATE KEY" not in shown and pem1 not in shown
        assert await _published_kids(c) == [kid1, kid2]
        issued = await token(c, "admin", ADMIN_PASSWORD)
        assert jwt.get_unverified_header(issued)["kid"] == kid1
        assert jwt.get_unverified_header(issued)["alg"] == "ES256"
        for tok in (issued, _token_signed_by(pem2, settings)):
            assert (await c.get("/api/v1/roster/personnel", headers=bearer(tok))).status_code == (
                200
            )
    assert not list(tmp_path.glob("keys/*.pem"))  # no key generated beside them


async def test_key_files_come_before_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys_dir = tmp_path / "secrets"
    keys_dir.mkdir()
    file_key = _pem_file(keys_dir, "jwt-1.pem", "RS256")
    env_pem = generate_private_key_pem("RS256").decode()
    monkeypatch.setenv("AUXPOL_GATEWAY_SIGNING_KEYS_PEM", env_pem)
    async with (
        running_gateway(tmp_path / "data", signing_key_files=str(file_key)) as gw,
        client_of(gw) as c,
    ):
        file_kid = load_signing_key(file_key.read_bytes()).kid
        assert await _published_kids(c) == [file_kid, load_signing_key(env_pem).kid]
        issued = await token(c, "admin", ADMIN_PASSWORD)
        assert jwt.get_unverified_header(issued)["kid"] == file_kid


def test_pem_text_is_split_into_private_keys() -> None:
    rsa, ec = generate_private_key_pem("RS256").decode(), generate_private_key_pem("ES256").decode()
    params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    assert split_private_keys(rsa + params + ec) == [rsa.strip(), ec.strip()]
    one_line = rsa.replace("\n", "\\n")  # an environment that cannot hold line breaks
    assert load_signing_key(split_private_keys(one_line)[0]).kid == load_signing_key(rsa).kid
    assert split_private_keys("  \n") == []
    with pytest.raises(ValueError, match="no PEM private key") as refused:
        split_private_keys("not-a-key-but-a-secret")
    assert "not-a-key-but-a-secret" not in str(refused.value)


def test_production_accepts_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUXPOL_GATEWAY_SIGNING_KEY_FILES", raising=False)
    monkeypatch.delenv("AUXPOL_GATEWAY_SIGNING_KEYS_PEM", raising=False)
    safe: dict[str, Any] = {
        "profile": "production",
        "data_dir": tmp_path,
        "database_url": "postgresql+asyncpg://db/gw",
        "admin_password": "s3cret-enough",
    }
    with pytest.raises(ValueError, match=r"SIGNING_KEY_FILES.*SIGNING_KEYS_PEM"):
        GatewaySettings(**safe)
    with pytest.raises(ValueError, match="SIGNING_KEYS_PEM"):
        GatewaySettings(**safe, signing_keys_pem="  ")
    pem = generate_private_key_pem().decode()
    ok = GatewaySettings(**safe, signing_keys_pem=pem)
    assert ok.signing_keys_pem is not None and ok.signing_keys_pem.get_secret_value() == pem
    monkeypatch.setenv("AUXPOL_GATEWAY_SIGNING_KEYS_PEM", pem)
    assert GatewaySettings(**safe).has_signing_keys_pem
