"""Roster settings: env prefix AUXPOL_ROSTER_ (shared ones unprefixed).

`level_policies` configures the level scheme (see `levels.LevelPolicy.from_dict`) per
region prefix and effective date, as JSON, e.g.

    AUXPOL_ROSTER_LEVEL_POLICIES='[{"region_prefix": "15", "effective_from": "2022-01-01",
                                    "policy": {"levels": 6}}]'

The most specific prefix wins, then the latest `effective_from` not after the day asked
about; without any entry the defaults of domain.md apply (7 levels, Henan).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings
from services.common import region_code as rc
from services.roster.levels import LevelPolicy


class LevelPolicyEntry(BaseModel):
    region_prefix: str = ""
    effective_from: date = date(2000, 1, 1)
    policy: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> LevelPolicyEntry:
        rc.validate_scope(self.region_prefix)
        LevelPolicy.from_dict(self.policy)  # fail at start-up, not at the first request
        return self


class RosterSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUXPOL_ROSTER_", extra="ignore", populate_by_name=True
    )

    service_name: str = "roster"
    port: int = 8001
    level_policies: list[LevelPolicyEntry] = Field(default_factory=list)
    # Rows landed per transaction by a bulk import; progress is reported per batch.
    # Fewer, larger batches cost less per row (bench/RESULTS.md, 2026-12-07: 20,000 took
    # 100,000 rows in 0.75 of the time 5,000 did); a batch holds its seat regions'
    # counters locked while it lands.
    import_batch_size: int = Field(default=20_000, ge=1, le=100_000)
    # Largest accepted import upload (the gateway has its own, lower, limit).
    import_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Rows fetched per round trip by the streamed personnel snapshot.
    snapshot_batch_size: int = Field(default=2000, ge=10, le=50_000)

    @field_validator("level_policies", mode="before")
    @classmethod
    def _parse_policies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value
