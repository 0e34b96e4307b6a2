"""Typed dependencies shared by the roster's routers: one per role set of `policy.py`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from kernel.auth import Principal, require
from kernel.policy import AUDIT_READ, PROVINCE
from services.roster import policy
from services.roster.level_config import LevelPolicies

RosterReader = Annotated[Principal, Depends(require(*policy.ROSTER_READ))]
ProvinceAdmin = Annotated[Principal, Depends(require(*PROVINCE))]
PersonnelReader = Annotated[Principal, Depends(require(*policy.PERSONNEL_READ))]
PersonnelWriter = Annotated[Principal, Depends(require(*policy.PERSONNEL_WRITE))]
PersonnelCreator = Annotated[Principal, Depends(require(*policy.PERSONNEL_CREATE))]
UnitEvents = Annotated[Principal, Depends(require(*policy.UNIT_EVENTS))]
ReservationWriter = Annotated[Principal, Depends(require(*policy.RESERVATIONS))]
ReservationReader = Annotated[Principal, Depends(require(*(policy.RESERVATIONS | AUDIT_READ)))]
ReportReader = Annotated[Principal, Depends(require(*policy.REPORTS))]
ImportReader = Annotated[Principal, Depends(require(*policy.IMPORT_READ))]

ResourceId = Annotated[int, Path(alias="id", ge=1, le=2**62, description="resource id")]
RegionPath = Annotated[str, Path(max_length=9, description="GB/T 2260 region code")]


def level_policies(request: Request) -> LevelPolicies:
    policies: LevelPolicies = request.app.state.level_policies
    return policies


Policies = Annotated[LevelPolicies, Depends(level_policies)]
