"""Principals, roles and jurisdiction.

Every service verifies the bearer token again (the gateway already did) and scopes
every query to the caller's region prefix. Permissions are typed dependencies:

    Caller = Annotated[Principal, Depends(require(Role.COUNTY_ADMIN))]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, literal
from sqlalchemy.orm import InstrumentedAttribute

from kernel.errors import Forbidden, NotFound, Unauthorized
from kernel.jwt import TokenInvalid, TokenVerifier


class Role(StrEnum):
    SYSTEM_ADMIN = "system_admin"
    PROVINCE_ADMIN = "province_admin"
    AUDITOR = "auditor"
    COUNTY_ADMIN = "county_admin"
    RECRUITER = "recruiter"
    FINANCE_OFFICER = "finance_officer"
    UNIT_MANAGER = "unit_manager"
    # Other auxpol services calling with their own client credentials.
    SERVICE = "service"


HUMAN_ROLES = frozenset(Role) - {Role.SERVICE}
# Roles that may see full resident ID numbers (api.md).
ID_NUMBER_READERS = frozenset({Role.COUNTY_ADMIN, Role.AUDITOR, Role.SYSTEM_ADMIN, Role.SERVICE})


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    roles: frozenset[str]
    region: str
    token_id: str | None = None
    issuer: str | None = None

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        roles = claims.get("roles") or []
        region = claims.get("region")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenInvalid("roles claim must be a list of strings")
        if not isinstance(region, str) or not (region == "" or region.isdigit()):
            raise TokenInvalid("region claim must be a region code or empty")
        return cls(
            sub=str(claims["sub"]),
            roles=frozenset(roles),
            region=region,
            token_id=claims.get("jti"),
            issuer=claims.get("iss"),
        )

    def has(self, *roles: str) -> bool:
        return Role.SYSTEM_ADMIN in self.roles or any(r in self.roles for r in roles)

    @property
    def is_national(self) -> bool:
        return self.region == ""

    def sees(self, region_code: str) -> bool:
        return region_code.startswith(self.region)

    def ensure_sees(self, region_code: str, what: str = "resource") -> None:
        """Outside the jurisdiction answers 404, as if it did not exist."""
        if not self.sees(region_code):
            raise NotFound(f"{what} not found")

    def region_filter(self, column: InstrumentedAttribute[str] | Any) -> ColumnElement[bool]:
        """A WHERE clause restricting `column` (a region code) to the jurisdiction."""
        if self.is_national:
            return literal(True)
        return column.startswith(self.region, autoescape=True)

    @property
    def may_read_id_numbers(self) -> bool:
        return bool(self.roles & ID_NUMBER_READERS)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "a bearer token is required", headers={"WWW-Authenticate": 'Bearer realm="auxpol"'}
        )
    return token.strip()


async def authenticate(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    verifier: TokenVerifier = request.app.state.token_verifier
    token = bearer_token(request)
    try:
        principal = Principal.from_claims(await verifier.verify(token))
    except TokenInvalid as exc:
        raise Unauthorized(
            f"invalid token: {exc}",
            code="invalid_token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from exc
    request.state.principal = principal
    return principal


class RoleRequirement:
    """A dependency that authenticates and checks roles. `roles` is kept so that
    tests can compare every route with the gateway's policy table."""

    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles

    async def __call__(self, request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.has(*self.roles):
            raise Forbidden("your roles do not allow this operation", code="role_not_allowed")
        return principal

    def __repr__(self) -> str:
        return f"require({', '.join(sorted(self.roles))})"


def require(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    return RoleRequirement(frozenset(str(r) for r in roles))


async def optional_principal(request: Request) -> Principal | None:
    if not request.headers.get("authorization"):
        return None
    return await authenticate(request)
