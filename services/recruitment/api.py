"""Recruitment routers, each carrying the service's full prefix."""

from __future__ import annotations

from services.recruitment.api_applications import router as applications
from services.recruitment.api_campaigns import router as campaigns
from services.recruitment.api_plans import router as plans
from services.recruitment.api_public import router as public

ROUTERS = (plans, campaigns, applications, public)
