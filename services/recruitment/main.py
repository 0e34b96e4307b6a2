"""Recruitment service: app factory.

The outbox relay delivers hires (`roster.hire`) and seat releases
(`roster.release_reservation`) to the roster with this service's own credentials, and
hands the announced events (`plan.approved`, `plan.filed`, `campaign.hired`) to the
gateway's event intake, which delivers them to webhook subscribers (kernel).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from kernel.app import ServiceSpec, create_service_app
from kernel.outbox import Handler
from services.recruitment import events, models
from services.recruitment.api import ROUTERS
from services.recruitment.config import RecruitmentSettings
from services.recruitment.roster_client import RosterDelivery

MIGRATIONS = Path(__file__).parent / "migrations"


def relay_handlers(app: FastAPI) -> dict[str, Handler]:
    delivery = RosterDelivery(app)
    app.state.roster_delivery = delivery
    return delivery.handlers()


def create_app(settings: RecruitmentSettings | None = None) -> FastAPI:
    settings = settings or RecruitmentSettings()
    return create_service_app(
        ServiceSpec(
            name="recruitment",
            title="auxpol recruitment",
            version="1.0.0",
            description="Plans, campaigns, the staged exam pipeline with ranked backfill, "
            "publicity, hires and filings.",
            settings=settings,
            routers=list(ROUTERS),
            kernel_tables=models.KERNEL_TABLES,
            api_prefix="/api/v1/recruitment",
            relay_handlers=relay_handlers,
            published_events=(events.PLAN_APPROVED, events.PLAN_FILED, events.CAMPAIGN_HIRED),
        )
    )
