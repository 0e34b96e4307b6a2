"""Token verification probes: every malformed or foreign token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from jose import jwt

from kernel.jwt import (
    Issuer,
    RemoteKeySet,
    TokenInvalid,
    TokenVerifier,
    generate_private_key_pem,
    issue_token,
    jwks_document,
    load_signing_key,
    sign,
)
from kernel.testing import TEST_AUDIENCE, TEST_ISSUER, TestIssuer


def _claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": TEST_ISSUER,
        "aud": TEST_AUDIENCE,
        "sub": "u1",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "j1",
        "roles": ["county_admin"],
        "region": "371327",
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_valid_token(issuer: TestIssuer) -> None:
    claims = await issuer.verifier().verify(issuer.token("county_admin", region="371327"))
    assert claims["roles"] == ["county_admin"]


async def test_es256_keys_work() -> None:
    es = TestIssuer("ES256")
    assert es.key.alg == "ES256"
    assert (await es.verifier().verify(es.token("auditor")))["sub"]


def _hs256(claims: dict[str, object], secret: str, kid: str) -> str:
    """The classic key-confusion forgery (jose refuses to make it, so build it by hand)."""
    signing_input = _b64({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + _b64(claims)
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _probes(issuer: TestIssuer) -> dict[str, str]:
    good = issuer.token("county_admin")
    header, _payload, signature = good.split(".")
    public_pem = issuer.key.public.key.to_pem().decode()
    other = load_signing_key(generate_private_key_pem())
    return {
        "alg none": _b64({"alg": "none", "typ": "JWT", "kid": issuer.key.kid})
        + "."
        + _b64(_claims())
        + ".",
        "hs256 with public key": _hs256(_claims(), public_pem, issuer.key.kid),
        "tampered payload": header
        + "."
        + _b64(_claims(roles=["system_admin"], region=""))
        + "."
        + signature,
        "expired": sign(
            _claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), issuer.key
        ),
        "not yet valid": sign(_claims(nbf=int(time.time()) + 3600), issuer.key),
        "wrong iss": sign(_claims(iss="someone-else"), issuer.key),
        "wrong aud": sign(_claims(aud="other-api"), issuer.key),
        "unknown kid": sign(_claims(), other),
        "missing exp": sign(_claims(exp=None), issuer.key),
        "missing sub": sign(_claims(sub=None), issuer.key),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize("probe", list(_probes(TestIssuer()).keys()))
async def test_bad_tokens_are_refused(issuer: TestIssuer, probe: str) -> None:
    token = _probes(issuer)[probe]
    with pytest.raises(TokenInvalid):
        await issuer.verifier().verify(token)


@pytest.mark.parametrize(
    "kid_header",
    [pytest.param({}, id="no kid"), pytest.param({"kid": ""}, id="empty kid")],
)
async def test_a_token_without_kid_is_refused(
    issuer: TestIssuer, kid_header: dict[str, str]
) -> None:
    """Signed by a published key, valid in every other way, but naming no key."""
    verifier = issuer.verifier()
    with_kid = sign(_claims(), issuer.key)
    assert (await verifier.verify(with_kid))["sub"] == "u1"  # the same token with its kid passes
    token = jwt.encode(_claims(), issuer.key.key, algorithm=issuer.key.alg, headers=kid_header)
    assert jwt.get_unverified_header(token).get("kid") in (None, "")
    with pytest.raises(TokenInvalid, match="no kid"):
        await verifier.verify(token)


async def test_leeway_is_capped() -> None:
    with pytest.raises(ValueError):
        TokenVerifier([], leeway=61)


async def test_remote_keys_refetch_at_most_once_per_interval() -> None:
    key = load_signing_key(generate_private_key_pem("ES256"))
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(200, json=jwks_document([key.public]))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        remote = RemoteKeySet("http://issuer/jwks", client, min_refresh_seconds=60)
        verifier = TokenVerifier([Issuer("ext", "auxpol-api", remote=remote)])
        token = issue_token(
            key,
            issuer="ext",
            audience="auxpol-api",
            subject="s",
            roles=["auditor"],
            region="37",
            ttl_seconds=60,
        )
        assert (await verifier.verify(token))["sub"] == "s"
        stranger = load_signing_key(generate_private_key_pem("ES256"))
        bad = issue_token(
            stranger,
            issuer="ext",
            audience="auxpol-api",
            subject="s",
            roles=[],
            region="",
            ttl_seconds=60,
        )
        for _ in range(5):
            with pytest.raises(TokenInvalid):
                await verifier.verify(bad)
        assert calls["n"] == 1  # the unknown kid did not trigger a refetch storm
