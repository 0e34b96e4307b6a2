"""The one module that touches python-jose (with its cryptography backend).

Signing keys and verification keys are jose `Key` objects built once and cached,
never PEM bytes parsed per call. Every key has a pinned algorithm (RS256 or ES256)
and a `kid`; a token's header must name a known `kid` and that key's algorithm.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jwt
from jose.backends.base import Key
from jose.exceptions import JOSEError

ALLOWED_ALGORITHMS = ("RS256", "ES256")


class TokenInvalid(Exception):
    """The token is missing, malformed, badly signed, expired or not for us."""


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    alg: str
    key: Key
    public_jwk: dict[str, Any]


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    key: Key
    public: VerificationKey


def _public_jwk(public_key: Key, kid: str, alg: str) -> dict[str, Any]:
    data = public_key.to_dict()
    data.update({"kid": kid, "alg": alg, "use": "sig"})
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in data.items()}


def load_signing_key(pem: str | bytes, *, kid: str | None = None) -> SigningKey:
    """A private key in PEM; the algorithm follows from the key type."""
    raw = pem.encode() if isinstance(pem, str) else pem
    private = serialization.load_pem_private_key(raw, password=None)
    if isinstance(private, rsa.RSAPrivateKey):
        alg = "RS256"
    elif isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp256r1":
        alg = "ES256"
    else:
        raise ValueError("signing keys must be RSA (RS256) or EC P-256 (ES256)")
    key = jwk.construct(raw.decode(), alg)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_key = jwk.construct(public_pem.decode(), alg)
    kid = kid or key_fingerprint(public_pem)
    public = VerificationKey(kid, alg, public_key, _public_jwk(public_key, kid, alg))
    return SigningKey(kid, alg, key, public)


def key_fingerprint(public_pem: bytes) -> str:
    import hashlib

    return hashlib.sha256(public_pem).hexdigest()[:16]


def generate_private_key_pem(alg: str = "RS256") -> bytes:
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unsupported algorithm {alg}")
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_key_file(directory: Path, alg: str = "RS256") -> Path:
    """Generate a signing key into `directory` on first start; reuse it after."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(directory.glob("jwt-*.pem"))
    if existing:
        return existing[0]
    pem = generate_private_key_pem(alg)
    path = directory / f"jwt-{int(time.time())}.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def verification_key_from_jwk(data: dict[str, Any]) -> VerificationKey | None:
    kid, alg = data.get("kid"), data.get("alg")
    if not kid or alg not in ALLOWED_ALGORITHMS:
        return None
    if (alg == "RS256" and data.get("kty") != "RSA") or (
        alg == "ES256" and data.get("kty") != "EC"
    ):
        return None
    try:
        key = jwk.construct(data, alg)
    except JOSEError:
        return None
    return VerificationKey(kid, alg, key, data)


def sign(claims: dict[str, Any], key: SigningKey) -> str:
    return jwt.encode(claims, key.key, algorithm=key.alg, headers={"kid": key.kid})


def issue_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    roles: list[str],
    region: str,
    ttl_seconds: int,
    extra: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "roles": roles,
        "region": region,
    }
    if extra:
        claims.update(extra)
    return sign(claims, key)


class RemoteKeySet:
    """Keys published at a JWKS URL, cached per process (per replica).

    An unknown `kid` triggers at most one refetch per `min_refresh_seconds`.
    """

    def __init__(self, url: str, client: httpx.AsyncClient, *, min_refresh_seconds: float = 30):
        self.url = url
        self.client = client
        self.min_refresh = min_refresh_seconds
        self.keys: dict[str, VerificationKey] = {}
        self.fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> VerificationKey | None:
        key = self.keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self.keys.get(kid)
            if key is None and time.monotonic() - self.fetched_at >= self.min_refresh:
                await self._refresh()
                key = self.keys.get(kid)
        return key

    async def _refresh(self) -> None:
        self.fetched_at = time.monotonic()
        try:
            response = await self.client.get(self.url, timeout=5.0)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            return
        keys: dict[str, VerificationKey] = {}
        for item in document.get("keys", []):
            if isinstance(item, dict):
                parsed = verification_key_from_jwk(item)
                if parsed:
                    keys[parsed.kid] = parsed
        self.keys = keys


@dataclass
class Issuer:
    issuer: str
    audience: str
    local_keys: dict[str, VerificationKey] = field(default_factory=dict)
    remote: RemoteKeySet | None = None

    async def key(self, kid: str) -> VerificationKey | None:
        key = self.local_keys.get(kid)
        if key is None and self.remote is not None:
            key = await self.remote.get(kid)
        return key


class TokenVerifier:
    """Verifies bearer tokens from the trusted issuers and caches verified claims
    (keyed by the exact token text, dropped at expiry)."""

    REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp")

    def __init__(self, issuers: list[Issuer], *, leeway: int = 30, cache_size: int = 4096):
        if leeway > 60:
            raise ValueError("leeway must be at most 60 seconds")
        self.issuers = {i.issuer: i for i in issuers}
        self.leeway = leeway
        self.cache_size = cache_size
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def verify(self, token: str) -> dict[str, Any]:
        cached = self._cache.get(token)
        if cached is not None:
            if cached["exp"] + self.leeway > time.time():
                self._cache.move_to_end(token)
                return cached
            self._cache.pop(token, None)
        claims = await self._verify(token)
        self._cache[token] = claims
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return claims

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.get_unverified_claims(token)
        except JOSEError as exc:
            raise TokenInvalid("malformed token") from exc
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenInvalid("token has no kid")
        issuer = self.issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise TokenInvalid("unknown issuer")
        key = await issuer.key(kid)
        if key is None:
            raise TokenInvalid("unknown key id")
        if header.get("alg") != key.alg:
            raise TokenInvalid("algorithm does not match the key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.alg],
                audience=issuer.audience,
                issuer=issuer.issuer,
                options={
                    "require_exp": True,
                    "require_sub": True,
                    "require_iss": True,
                    "require_aud": True,
                    "leeway": self.leeway,
                },
            )
        except JOSEError as exc:
            raise TokenInvalid(str(exc)) from exc
        for name in self.REQUIRED_CLAIMS:
            if name not in claims:
                raise TokenInvalid(f"missing claim {name}")
        return claims


def jwks_document(keys: list[VerificationKey]) -> dict[str, Any]:
    return {"keys": [k.public_jwk for k in keys]}


def unverified_claims(token: str) -> dict[str, Any]:
    """Only for tests and diagnostics; never for decisions."""
    claims: dict[str, Any] = json.loads(json.dumps(jwt.get_unverified_claims(token)))
    return claims
