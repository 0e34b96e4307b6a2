"""Identity: token grants, /auth/me, account creation with the grant rules, JWKS,
brute-force throttling, and the admin bootstrap."""

from __future__ import annotations

import httpx
import pytest

from gateway.config import DEMO_ADMIN_PASSWORD, GatewaySettings
from gateway.main import Gateway
from kernel.jwt import unverified_claims

from .conftest import bearer, token


async def test_password_grant_and_me(client: httpx.AsyncClient) -> None:
    tok = await token(client)
    claims = unverified_claims(tok)
    assert {"iss", "aud", "sub", "exp", "iat", "jti", "roles", "region"} <= set(claims)
    me = await client.get("/auth/me", headers=bearer(tok))
    assert me.json() == {"sub": "admin", "roles": ["system_admin"], "region": ""}


async def test_bad_credentials(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/auth/token", data={"grant_type": "password", "username": "admin", "password": "nope"}
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_grant"
    r = await client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.post("/auth/token", data={"grant_type": "implicit"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


async def test_clients_and_grant_rules(client: httpx.AsyncClient) -> None:
    admin = bearer(await token(client))
    r = await client.post(
        "/auth/users",
        headers=admin,
        json={
            "username": "sd-admin",
            "password": "province-pass-1",
            "roles": ["province_admin"],
            "region": "37",
        },
    )
    assert r.status_code == 201
    prov = bearer(await token(client, "sd-admin", "province-pass-1"))
    # within its province: fine
    r = await client.post(
        "/auth/users",
        headers=prov,
        json={
            "username": "junan-admin",
            "password": "county-pass-01",
            "roles": ["county_admin"],
            "region": "371327",
        },
    )
    assert r.status_code == 201
    # outside its province, a role it may not grant, a peer province_admin: refused
    for body in (
        {
            "username": "hebei",
            "password": "0123456789a",
            "roles": ["county_admin"],
            "region": "130102",
        },
        {"username": "root2", "password": "0123456789a", "roles": ["system_admin"], "region": "37"},
        {
            "username": "peer",
            "password": "0123456789a",
            "roles": ["province_admin"],
            "region": "37",
        },
        {"username": "svc", "password": "0123456789a", "roles": ["service"], "region": "37"},
    ):
        r = await client.post("/auth/users", headers=prov, json=body)
        assert r.status_code == 403, body
        assert r.json()["code"] == "grant_not_allowed"
    county = bearer(await token(client, "junan-admin", "county-pass-01"))
    r = await client.post(
        "/auth/users",
        headers=county,
        json={
            "username": "x1",
            "password": "0123456789a",
            "roles": ["recruiter"],
            "region": "371327",
        },
    )
    assert r.status_code == 403
    # a machine client for the province, secret shown once, usable at once
    r = await client.post(
        "/auth/clients",
        headers=prov,
        json={"name": "shandong reporting", "roles": ["auditor"], "region": "37"},
    )
    assert r.status_code == 201
    created = r.json()
    r = await client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created["client_id"],
            "client_secret": created["client_secret"],
        },
    )
    assert r.status_code == 200
    me = (await client.get("/auth/me", headers=bearer(r.json()["access_token"]))).json()
    assert me == {"sub": created["client_id"], "roles": ["auditor"], "region": "37"}
    # duplicate username
    r = await client.post(
        "/auth/users",
        headers=admin,
        json={
            "username": "sd-admin",
            "password": "province-pass-1",
            "roles": ["auditor"],
            "region": "37",
        },
    )
    assert r.status_code == 409 and r.json()["code"] == "username_taken"


async def test_service_client_bootstrapped(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "svc-recruitment",
            "client_secret": "svc-secret-recruitment",
        },
    )
    assert r.status_code == 200
    assert unverified_claims(r.json()["access_token"])["roles"] == ["service"]


async def test_brute_force_gets_429(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        r = await client.post(
            "/auth/token",
            data={"grant_type": "password", "username": "victim", "password": "guess"},
        )
        assert r.status_code == 401
    r = await client.post(
        "/auth/token", data={"grant_type": "password", "username": "victim", "password": "guess"}
    )
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0


async def test_jwks_publishes_the_signing_key(client: httpx.AsyncClient, gateway: Gateway) -> None:
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in keys] == [gateway.state.keyring.active.kid]
    assert all("d" not in k for k in keys)  # never the private part


def test_default_admin_password_refused_outside_demo(tmp_path) -> None:
    with pytest.raises(ValueError):
        GatewaySettings(profile="dev", data_dir=tmp_path).effective_admin_password()
    with pytest.raises(ValueError):
        GatewaySettings(
            profile="dev", data_dir=tmp_path, admin_password=DEMO_ADMIN_PASSWORD
        ).effective_admin_password()
    demo = GatewaySettings(profile="demo", data_dir=tmp_path)
    assert demo.effective_admin_password() == DEMO_ADMIN_PASSWORD


def test_production_refuses_unsafe_settings(tmp_path) -> None:
    with pytest.raises(ValueError, match="SQLite"):
        GatewaySettings(
            profile="production",
            data_dir=tmp_path,
            admin_password="s3cret-enough",
            signing_key_files="k.pem",
        )
    with pytest.raises(ValueError, match="CORS"):
        GatewaySettings(
            profile="production",
            database_url="postgresql+asyncpg://db/gw",
            admin_password="s3cret-enough",
            cors_origins="*",
            signing_key_files="k.pem",
        )
    with pytest.raises(ValueError, match="ADMIN_PASSWORD"):
        GatewaySettings(
            profile="production",
            database_url="postgresql+asyncpg://db/gw",
            admin_password=DEMO_ADMIN_PASSWORD,
            signing_key_files="k.pem",
        )
    ok = GatewaySettings(
        profile="production",
        database_url="postgresql+asyncpg://db/gw",
        admin_password="s3cret-enough",
        signing_key_files="k.pem",
        cors_origins="https://bureau.example",
    )
    assert ok.cors_origins == ["https://bureau.example"]


async def test_unstorable_text_is_refused_not_a_500(client: httpx.AsyncClient) -> None:
    """PostgreSQL text cannot hold NUL (found by the API fuzz on PostgreSQL)."""
    r = await client.post(
        "/auth/token", data={"grant_type": "password", "username": "ad\x00min", "password": "x"}
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_grant"
    admin = bearer(await token(client))
    body = {"username": "nul\x00user", "password": "a-long-password-1", "roles": [], "region": ""}
    r = await client.post("/auth/users", json=body, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "string_unstorable"
    r = await client.get("/api/v1/webhooks", params={"cursor": "\x00"}, headers=admin)
    assert r.status_code == 400 and r.json()["code"] == "nul_character"
