"""Identity rules and workflows: who may grant what, token issuance, bootstrap."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from gateway import repository
from gateway.keys import KeyRing
from gateway.models import Client, User
from gateway.passwords import hash_secret, verify_secret
from kernel.auth import Principal, Role
from kernel.errors import Conflict, Forbidden
from kernel.jwt import issue_token

# What a province_admin may hand out (system_admin may grant anything).
PROVINCE_GRANTABLE = frozenset(
    {
        Role.PROVINCE_ADMIN,
        Role.AUDITOR,
        Role.COUNTY_ADMIN,
        Role.RECRUITER,
        Role.FINANCE_OFFICER,
        Role.UNIT_MANAGER,
    }
)


def check_grant(granter: Principal, roles: list[Role], region: str) -> None:
    """Nobody can grant a role they may not grant, or a region outside their own."""
    if Role.SYSTEM_ADMIN in granter.roles:
        return
    if Role.PROVINCE_ADMIN not in granter.roles:
        raise Forbidden("only administrators create accounts", code="grant_not_allowed")
    if not granter.sees(region):
        raise Forbidden("the region is outside your own", code="grant_not_allowed")
    for role in roles:
        if role not in PROVINCE_GRANTABLE:
            raise Forbidden(f"you may not grant the role {role}", code="grant_not_allowed")
        if role is Role.PROVINCE_ADMIN and len(region) <= len(granter.region):
            raise Forbidden(
                "a province_admin may only create administrators strictly below its region",
                code="grant_not_allowed",
            )


async def authenticate_user(session: AsyncSession, username: str, password: str) -> User | None:
    user = await repository.user_by_name(session, username)
    ok = verify_secret(user.password_hash if user else None, password)
    return user if ok and user is not None and user.active else None


async def authenticate_client(session: AsyncSession, client_id: str, secret: str) -> Client | None:
    client = await repository.client_by_id(session, client_id)
    ok = verify_secret(client.secret_hash if client else None, secret)
    return client if ok and client is not None and client.active else None


def token_for(
    keys: KeyRing,
    *,
    issuer: str,
    audience: str,
    subject: str,
    roles: list[str],
    region: str,
    ttl: int,
) -> str:
    return issue_token(
        keys.active,
        issuer=issuer,
        audience=audience,
        subject=subject,
        roles=roles,
        region=region,
        ttl_seconds=ttl,
    )


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    roles: list[str],
    region: str,
    created_by: str | None,
) -> User:
    if await repository.user_by_name(session, username) is not None:
        raise Conflict("a user with this name exists", code="username_taken")
    user = User(
        username=username,
        password_hash=hash_secret(password),
        roles=sorted(set(roles)),
        region=region,
        active=True,
        created_by=created_by,
    )
    await repository.add(session, user)
    return user


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    roles: list[str],
    region: str,
    created_by: str | None,
    client_id: str | None = None,
    secret: str | None = None,
) -> tuple[Client, str]:
    secret = secret or secrets.token_urlsafe(32)
    client = Client(
        client_id=client_id or "cli_" + secrets.token_hex(12),
        name=name,
        secret_hash=hash_secret(secret),
        roles=sorted(set(roles)),
        region=region,
        active=True,
        created_by=created_by,
    )
    await repository.add(session, client)
    return client, secret


async def ensure_admin(session: AsyncSession, password: str) -> bool:
    """First start: a system_admin named `admin` with the national region."""
    if await repository.user_by_name(session, "admin") is not None:
        return False
    await create_user(
        session,
        username="admin",
        password=password,
        roles=[Role.SYSTEM_ADMIN],
        region="",
        created_by="bootstrap",
    )
    return True


async def ensure_service_client(session: AsyncSession, client_id: str, secret: str) -> None:
    """Internal credentials for one service calling another (role `service`)."""
    existing = await repository.client_by_id(session, client_id)
    if existing is None:
        await create_client(
            session,
            name=client_id,
            roles=[Role.SERVICE],
            region="",
            created_by="bootstrap",
            client_id=client_id,
            secret=secret,
        )
    elif not verify_secret(existing.secret_hash, secret):
        existing.secret_hash = hash_secret(secret)
        await session.flush()
