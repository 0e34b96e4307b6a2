"""Settings base shared by the gateway and the services.

Each process subclasses `ProcessSettings` with its own env prefix
(`AUXPOL_ROSTER_`, `AUXPOL_GATEWAY_`, ...). Settings that every process shares
(profile, data directory, JWT issuer and audience) are read from unprefixed
`AUXPOL_*` variables.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# What deploy/.env.example puts where a secret goes; production refuses to start with it.
PLACEHOLDER = "CHANGE-ME"


class Profile(StrEnum):
    DEMO = "demo"  # `make run`: demo data, generated keys, default admin password allowed
    DEV = "dev"  # local work and tests
    PRODUCTION = "production"  # refuses unsafe defaults


def shared(name: str) -> Any:
    """A field read from the unprefixed `AUXPOL_<NAME>` variable (or its field name)."""
    return AliasChoices(f"AUXPOL_{name.upper()}", name)


class ExternalIssuer(BaseModel):
    issuer: str
    jwks_url: str
    audience: str | None = None


class ProcessSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUXPOL_",
        extra="ignore",
        populate_by_name=True,
        frozen=False,
        # a refused setting must not echo the others (secrets among them) in the error
        hide_input_in_errors=True,
    )

    service_name: str = "auxpol"
    profile: Profile = Field(default=Profile.DEV, validation_alias=shared("profile"))
    data_dir: Path = Field(default=Path("data"), validation_alias=shared("data_dir"))
    database_url: str = ""
    log_level: str = Field(default="INFO", validation_alias=shared("log_level"))
    log_json: bool = Field(default=True, validation_alias=shared("log_json"))

    jwt_issuer: str = Field(default="auxpol", validation_alias=shared("jwt_issuer"))
    jwt_audience: str = Field(default="auxpol-api", validation_alias=shared("jwt_audience"))
    jwt_leeway_seconds: int = Field(default=30, validation_alias=shared("jwt_leeway_seconds"))
    jwks_url: str = Field(default="", validation_alias=shared("jwks_url"))
    jwks_refresh_min_seconds: int = Field(
        default=30, validation_alias=shared("jwks_refresh_min_seconds")
    )
    external_issuers: Annotated[list[ExternalIssuer], NoDecode] = Field(
        default_factory=list, validation_alias=shared("jwt_external_issuers")
    )

    db_pool_size: int = Field(default=10, validation_alias=shared("db_pool_size"))
    http_timeout_seconds: float = Field(default=10.0, validation_alias=shared("http_timeout"))
    outbox_enabled: bool = True
    outbox_poll_seconds: float = 1.0

    @field_validator("external_issuers", mode="before")
    @classmethod
    def _parse_issuers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    def default_sqlite_url(self, filename: str) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / filename).resolve()}"

    @model_validator(mode="after")
    def _fill_database_url(self) -> ProcessSettings:
        if not self.database_url:
            self.database_url = self.default_sqlite_url(f"{self.service_name}.db")
        return self

    @model_validator(mode="after")
    def _production_guard(self) -> ProcessSettings:
        if self.profile is Profile.PRODUCTION:
            problems = self.production_problems()
            if problems:
                raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    def production_problems(self) -> list[str]:
        """What a production deployment must not run with. Subclasses add their own."""
        problems: list[str] = []
        if self.database_url.startswith("sqlite"):
            problems.append("SQLite is not a production database; set a PostgreSQL URL")
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, str) and PLACEHOLDER in value:
                problems.append(f"{name} still holds the {PLACEHOLDER} placeholder of .env.example")
        return problems


class ServiceSettings(ProcessSettings):
    """What every domain service needs to find the gateway and its peers."""

    port: int = 8001
    gateway_url: str = Field(
        default="http://127.0.0.1:8000", validation_alias=shared("gateway_url")
    )
    roster_url: str = Field(default="http://127.0.0.1:8001", validation_alias=shared("roster_url"))
    recruitment_url: str = Field(
        default="http://127.0.0.1:8002", validation_alias=shared("recruitment_url")
    )
    compensation_url: str = Field(
        default="http://127.0.0.1:8003", validation_alias=shared("compensation_url")
    )
    client_secret: str = ""  # AUXPOL_<SERVICE>_CLIENT_SECRET, client id svc-<service>
    # Announced events the outbox relay sends to the gateway's intake in one call
    # (AUXPOL_<SERVICE>_OUTBOX_BATCH_SIZE); the intake takes up to 1000 at a time.
    outbox_batch_size: int = Field(default=500, ge=1, le=1000)

    @model_validator(mode="after")
    def _default_jwks(self) -> ServiceSettings:
        if not self.jwks_url:
            self.jwks_url = self.gateway_url.rstrip("/") + "/.well-known/jwks.json"
        return self

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not self.client_secret:
            problems.append(
                f"AUXPOL_{self.service_name.upper()}_CLIENT_SECRET must be set in production"
            )
        return problems

    @property
    def client_id(self) -> str:
        return f"svc-{self.service_name}"

    @property
    def token_url(self) -> str:
        return self.gateway_url.rstrip("/") + "/auth/token"
