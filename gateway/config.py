"""Gateway settings (env prefix AUXPOL_GATEWAY_; shared ones unprefixed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from kernel.settings import ProcessSettings, Profile, shared

DEMO_ADMIN_PASSWORD = "auxpol-demo"


class GatewaySettings(ProcessSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUXPOL_GATEWAY_", extra="ignore", populate_by_name=True
    )

    service_name: str = "gateway"
    port: int = Field(default=8000, validation_alias=shared("gateway_port"))
    public_url: str = Field(default="", validation_alias=shared("gateway_url"))
    roster_url: str = Field(default="http://127.0.0.1:8001", validation_alias=shared("roster_url"))
    recruitment_url: str = Field(
        default="http://127.0.0.1:8002", validation_alias=shared("recruitment_url")
    )
    compensation_url: str = Field(
        default="http://127.0.0.1:8003", validation_alias=shared("compensation_url")
    )
    upstream_timeout_seconds: float = 30.0
    upstream_connect_timeout_seconds: float = 2.0

    admin_password: str = Field(default="", validation_alias=shared("admin_password"))
    signing_key_files: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    # The PEM text of one or more private keys, concatenated (AUXPOL_GATEWAY_SIGNING_KEYS_PEM),
    # used after the keys of signing_key_files. A secret: never in a repr or a log line.
    signing_keys_pem: SecretStr | None = None
    signing_keys_dir: Path | None = None
    token_ttl_seconds: int = 3600

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=shared("cors_origins")
    )
    max_body_bytes: int = 20 * 1024 * 1024
    login_max_failures: int = 5
    login_window_seconds: int = 300
    login_ip_max_failures: int = 50
    public_rate_per_minute: int = 30

    # Internal client credentials for service-to-service calls (client id svc-<name>).
    roster_client_secret: str = Field(default="", validation_alias=shared("roster_client_secret"))
    recruitment_client_secret: str = Field(
        default="", validation_alias=shared("recruitment_client_secret")
    )
    compensation_client_secret: str = Field(
        default="", validation_alias=shared("compensation_client_secret")
    )

    webhook_timeout_seconds: float = 10.0
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_max_attempts: int = 15
    webhook_disable_after_failures: int = 50
    webhook_delivery_concurrency: int = 16
    webhook_secret_grace_hours: int = 24

    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=shared("webhook_allowed_hosts")
    )

    @field_validator("cors_origins", "webhook_allowed_hosts", "signing_key_files", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [v.strip() for v in text.split(",") if v.strip()]
        return value

    @property
    def keys_dir(self) -> Path:
        return self.signing_keys_dir or (self.data_dir / "keys")

    @property
    def has_signing_keys_pem(self) -> bool:
        return bool(self.signing_keys_pem and self.signing_keys_pem.get_secret_value().strip())

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not self.admin_password or self.admin_password == DEMO_ADMIN_PASSWORD:
            problems.append("AUXPOL_ADMIN_PASSWORD must be set to a non-default secret")
        if "*" in self.cors_origins:
            problems.append("CORS origin '*' is not allowed in production")
        if not self.signing_key_files and not self.has_signing_keys_pem:
            problems.append(
                "AUXPOL_GATEWAY_SIGNING_KEY_FILES (or AUXPOL_GATEWAY_SIGNING_KEYS_PEM) "
                "must provide the JWT signing keys"
            )
        return problems

    def effective_admin_password(self) -> str:
        if self.admin_password:
            if self.profile is not Profile.DEMO and self.admin_password == DEMO_ADMIN_PASSWORD:
                raise ValueError("the demo admin password is accepted only in the demo profile")
            return self.admin_password
        if self.profile is Profile.DEMO:
            return DEMO_ADMIN_PASSWORD
        raise ValueError("AUXPOL_ADMIN_PASSWORD is required outside the demo profile")

    def service_clients(self) -> dict[str, str]:
        secrets = {
            "svc-roster": self.roster_client_secret,
            "svc-recruitment": self.recruitment_client_secret,
            "svc-compensation": self.compensation_client_secret,
        }
        return {k: v for k, v in secrets.items() if v}

    def service_urls(self) -> dict[str, str]:
        return {
            "roster": self.roster_url.rstrip("/"),
            "recruitment": self.recruitment_url.rstrip("/"),
            "compensation": self.compensation_url.rstrip("/"),
        }
