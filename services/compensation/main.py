"""Compensation service: app factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from kernel.app import ServiceSpec, create_service_app
from services.compensation import models
from services.compensation.api import router
from services.compensation.config import CompensationSettings
from services.compensation.payroll_service import APPROVED_TOPIC

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CompensationSettings | None = None) -> FastAPI:
    settings = settings or CompensationSettings()
    return create_service_app(
        ServiceSpec(
            name="compensation",
            title="auxpol compensation",
            version="1.0.0",
            settings=settings,
            routers=[router],
            kernel_tables=models.KERNEL_TABLES,
            api_prefix="/api/v1/compensation",
            description="Pay schedules, payroll inputs and runs, payslips, bank files, "
            "budget and pay check. `payroll_run.approved` is published through the outbox.",
            published_events=(APPROVED_TOPIC,),
        )
    )
