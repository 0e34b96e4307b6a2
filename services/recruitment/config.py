"""Recruitment settings: env prefix AUXPOL_RECRUITMENT_ (shared ones unprefixed)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class RecruitmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUXPOL_RECRUITMENT_", extra="ignore", populate_by_name=True
    )

    service_name: str = "recruitment"
    port: int = 8002
