"""The four processes, their app factories, settings and migrations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ProcessDef:
    name: str
    factory: str  # "module:function" for uvicorn --factory
    settings: str  # "module:Class"
    migrations: Path

    def load_settings(self, **overrides: Any) -> Any:
        module, cls = self.settings.split(":")
        settings_cls = getattr(__import__(module, fromlist=[cls]), cls)
        return settings_cls(**overrides)


PROCESSES: dict[str, ProcessDef] = {
    "gateway": ProcessDef(
        "gateway",
        "gateway.main:create_app",
        "gateway.config:GatewaySettings",
        ROOT / "gateway" / "migrations",
    ),
    "roster": ProcessDef(
        "roster",
        "services.roster.main:create_app",
        "services.roster.config:RosterSettings",
        ROOT / "services" / "roster" / "migrations",
    ),
    "recruitment": ProcessDef(
        "recruitment",
        "services.recruitment.main:create_app",
        "services.recruitment.config:RecruitmentSettings",
        ROOT / "services" / "recruitment" / "migrations",
    ),
    "compensation": ProcessDef(
        "compensation",
        "services.compensation.main:create_app",
        "services.compensation.config:CompensationSettings",
        ROOT / "services" / "compensation" / "migrations",
    ),
}
