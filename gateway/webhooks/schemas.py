from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from kernel.schemas import StrictModel
from services.common import region_code


class EventType(StrEnum):
    PLAN_APPROVED = "plan.approved"
    PLAN_FILED = "plan.filed"
    CAMPAIGN_HIRED = "campaign.hired"
    PERSONNEL_CREATED = "personnel.created"
    PERSONNEL_DEPARTED = "personnel.departed"
    PAYROLL_RUN_APPROVED = "payroll_run.approved"


class SubscriptionCreate(StrictModel):
    url: str = Field(min_length=8, max_length=2000, examples=["https://province.example/hooks"])
    events: list[EventType] = Field(min_length=1, max_length=len(EventType))
    region: str = Field(max_length=9, examples=["37"])

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        try:
            return region_code.validate_scope(value)
        except region_code.InvalidRegionCode as exc:
            raise ValueError(str(exc)) from exc


class Subscription(BaseModel):
    id: int
    url: str
    events: list[str]
    region: str
    active: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime


class SubscriptionCreated(Subscription):
    secret: str = Field(description="whsec_… signing secret; shown once")


class SecretRotated(BaseModel):
    id: int
    secret: str = Field(description="the new whsec_… secret; shown once")
    previous_valid_until: datetime


class Attempt(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[Attempt]


class EventIn(StrictModel):
    event_id: str = Field(min_length=1, max_length=64)
    type: EventType
    occurred_at: AwareDatetime  # an instant: a time without an offset is refused
    region: str = Field(max_length=9)
    data: dict[str, Any]


class EventAccepted(BaseModel):
    event_id: str
    deliveries: int
    duplicate: bool


MAX_EVENT_BATCH = 1000


class EventBatchIn(BaseModel):
    """Up to `MAX_EVENT_BATCH` events; each one is checked on its own (`EventIn`, whose
    keys and text are checked there), so that one bad event is refused without refusing
    the others. Not a `StrictModel`: that would check every key of every event a
    second time, a third of the intake's validation."""

    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_EVENT_BATCH)


class EventResult(BaseModel):
    event_id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    deliveries: int = 0
    errors: list[dict[str, Any]] | None = None


class BatchAccepted(BaseModel):
    """One result per event, in the order they were sent."""

    accepted: int
    duplicates: int
    rejected: int
    deliveries: int
    results: list[EventResult]
