"""Compensation settings: env prefix AUXPOL_COMPENSATION_ (shared ones unprefixed)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class CompensationSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUXPOL_COMPENSATION_", extra="ignore", populate_by_name=True
    )

    service_name: str = "compensation"
    port: int = 8003
    # The personnel snapshot of a large region streams for a while (100,000 people).
    roster_snapshot_timeout_seconds: float = 120.0
    # Rows fetched per query while streaming a bank file.
    export_chunk_rows: int = 5000
