"""Roster service: app factory."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi import FastAPI

from kernel.app import ServiceSpec, create_service_app
from kernel.settings import ServiceSettings
from services.roster import events, models
from services.roster.api import ROUTERS
from services.roster.config import RosterSettings
from services.roster.level_config import LevelPolicies

MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = """The system of record for who is employed where, and how many may be:
regions with population and police establishment, quota rules and reservations, one
file per auxiliary with its life events, levels and promotions, provincial reports and
bulk imports."""


async def freeze_startup_heap(app: FastAPI) -> None:
    """Move everything alive after start-up (modules, classes, the app) out of the cyclic
    garbage collector's sight: it is never garbage, and without this every full
    collection walks it again. A bulk import of 100,000 rows spent a fifth of its time
    there."""
    gc.collect()
    gc.freeze()


def create_app(settings: RosterSettings | ServiceSettings | None = None) -> FastAPI:
    settings = settings or RosterSettings()
    app = create_service_app(
        ServiceSpec(
            name="roster",
            title="auxpol roster",
            version="1.0.0",
            description=DESCRIPTION,
            settings=settings,
            routers=list(ROUTERS),
            kernel_tables=models.KERNEL_TABLES,
            api_prefix="/api/v1/roster",
            on_startup=[freeze_startup_heap],
            # announced to provincial webhook subscribers through the gateway's intake
            published_events=(events.PERSONNEL_CREATED, events.PERSONNEL_DEPARTED),
            bundled_events={events.PERSONNEL_CREATED_BUNDLE: events.created_bundle_events},
        )
    )
    app.state.level_policies = LevelPolicies(list(getattr(settings, "level_policies", [])))
    return app
