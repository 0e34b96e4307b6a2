"""The roster's domain errors, each with a stable machine code."""

from __future__ import annotations

from typing import Any

from kernel.errors import Conflict, NotFound, Unprocessable


class QuotaExceeded(Conflict):
    code, title = "quota_exceeded", "No free quota seat"


class ReservationExhausted(Conflict):
    code, title = "reservation_exhausted", "The reservation has no seat left"


class ReferenceConflict(Conflict):
    code, title = "reference_conflict", "The reference is already used for something else"


class DuplicateIdNumber(Conflict):
    code, title = "duplicate_id_number", "Already on the staff"


class DuplicateQuotaRule(Conflict):
    code, title = "duplicate_quota_rule", "Such a rule already exists"


class OverlappingPostCategories(Conflict):
    code, title = "overlapping_post_categories", "Rule groups overlap"


class InvalidStatusTransition(Conflict):
    code, title = "invalid_status_transition", "Status change not allowed"


class AssessmentExists(Conflict):
    code, title = "assessment_exists", "That year is already assessed"


class LevelCapExceeded(Conflict):
    code, title = "level_cap_exceeded", "The level cap has no free seat"


class PostCategoryMismatch(Unprocessable):
    code, title = "post_category_mismatch", "The post belongs to another category"


class InvalidRegionCode(Unprocessable):
    code, title = "invalid_region_code", "Invalid region code"


class RegionNotFound(NotFound):
    code, title = "region_not_found", "Region not found"


class PersonnelNotFound(NotFound):
    code, title = "personnel_not_found", "Personnel file not found"


class ReservationNotFound(NotFound):
    code, title = "reservation_not_found", "Reservation not found"


class ImportNotFound(NotFound):
    code, title = "import_not_found", "Import not found"


def field_error(field: str, message: str) -> dict[str, Any]:
    """One entry of a problem's `errors` list, pointing at a body field."""
    return {"loc": ["body", *field.split(".")], "msg": message}


def invalid(field: str, message: str, code: str = "validation_error") -> Unprocessable:
    """A 422 about one body field, shaped like the framework's validation errors."""
    return Unprocessable(f"{field}: {message}", code=code, errors=[field_error(field, message)])
