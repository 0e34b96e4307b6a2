"""Request and response models of the identity endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from kernel.auth import Role
from kernel.schemas import StrictModel
from services.common import region_code


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int


class OAuthError(BaseModel):
    error: str
    error_description: str | None = None


class Me(BaseModel):
    sub: str
    roles: list[str]
    region: str


def _scope(value: str) -> str:
    try:
        return region_code.validate_scope(value)
    except region_code.InvalidRegionCode as exc:
        raise ValueError(str(exc)) from exc


class UserCreate(StrictModel):
    username: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=10, max_length=200)
    roles: list[Role] = Field(min_length=1, max_length=8)
    region: str = Field(max_length=9)

    _region = field_validator("region")(lambda cls, v: _scope(v))


class UserOut(BaseModel):
    id: int
    username: str
    roles: list[str]
    region: str
    active: bool


class ClientCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1, max_length=8)
    region: str = Field(max_length=9)

    _region = field_validator("region")(lambda cls, v: _scope(v))


class ClientCreated(BaseModel):
    client_id: str
    client_secret: str = Field(description="shown once; store it now")
    name: str
    roles: list[str]
    region: str
