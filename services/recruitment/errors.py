"""Recruitment's domain errors, each with its HTTP status and stable machine code."""

from __future__ import annotations

from kernel.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    UpstreamUnavailable,
)


class PlanNotFound(NotFound):
    code, title = "plan_not_found", "Plan not found"


class CampaignNotFound(NotFound):
    code, title = "campaign_not_found", "Campaign not found"


class ApplicationNotFound(NotFound):
    code, title = "application_not_found", "Application not found"


class ObjectionNotFound(NotFound):
    code, title = "objection_not_found", "Objection not found"


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "The resource is not in a state that allows this"


class QuotaExceeded(Conflict):
    code, title = "quota_exceeded", "No free quota seat"


class RosterUnavailable(UpstreamUnavailable):
    code, title = "roster_unavailable", "The roster service is unavailable"


class RosterRefused(Conflict):
    code, title = "roster_refused", "The roster refused the request"


class ApprovalOutsideAuthority(Forbidden):
    code, title = "approval_outside_authority", "Approval is outside your authority"


class RegionOutsideJurisdiction(Forbidden):
    code, title = "region_outside_jurisdiction", "The region is outside your jurisdiction"


class RoleNotAllowed(Forbidden):
    code, title = "role_not_allowed", "Not allowed"


class StageNotOpen(Conflict):
    code, title = "stage_not_open", "The stage is not open"


class ResultsMissing(Conflict):
    code, title = "results_missing", "Some candidates of the stage have no result"


class ResultExists(Conflict):
    code, title = "result_exists", "A result is already recorded; correct it with a reason"


class NotInStage(Conflict):
    code, title = "not_in_stage", "The candidate is not taking this stage"


class RegistrationNotOpen(Conflict):
    code, title = "registration_not_open", "Registration is not open"


class DuplicateApplication(Conflict):
    code, title = "duplicate_application", "This person has already applied to the campaign"


class CampaignExists(Conflict):
    code, title = "campaign_exists", "The plan already has a campaign"


class PlanNotApproved(Conflict):
    code, title = "plan_not_approved", "The plan is not approved"


class CampaignClosed(Conflict):
    code, title = "campaign_closed", "The campaign is closed"


class HiresPending(Conflict):
    code, title = "hires_pending", "Hires are still on their way to the roster"


class NobodyToHire(Conflict):
    code, title = "nobody_to_hire", "Nobody has cleared publicity and awaits hiring"


class NobodyToPublicise(Conflict):
    code, title = "nobody_to_publicise", "Nobody is waiting for a publicity notice"


class RankingNotAvailable(Conflict):
    code, title = "ranking_not_available", "The ranking is computed when the interview closes"


class ObjectionDecided(Conflict):
    code, title = "objection_decided", "The objection has already been decided"


class ValidationProblem(Unprocessable):
    """422 with a specific code (score_out_of_range, unknown_application, ...)."""

    code, title = "validation_error", "Validation failed"
