"""Queries on users and clients."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Client, User


async def user_by_name(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def client_by_id(session: AsyncSession, client_id: str) -> Client | None:
    return (
        await session.execute(select(Client).where(Client.client_id == client_id))
    ).scalar_one_or_none()


async def add(session: AsyncSession, obj: User | Client) -> None:
    session.add(obj)
    await session.flush()
