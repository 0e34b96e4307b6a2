"""The roster's routers, in the order they appear in the API documentation."""

from __future__ import annotations

from fastapi import APIRouter

from services.roster.api_imports import router as imports_router
from services.roster.api_personnel import router as personnel_router
from services.roster.api_regions import router as regions_router
from services.roster.api_reports import router as reports_router

ROUTERS: tuple[APIRouter, ...] = (
    regions_router,
    personnel_router,
    reports_router,
    imports_router,
)
