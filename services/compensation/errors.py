"""The compensation service's problems, each with a stable code."""

from __future__ import annotations

from kernel.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Unprocessable,
    UpstreamUnavailable,
)


class InvalidScheduleProblem(Unprocessable):
    code, title = "invalid_schedule", "The pay schedule is invalid"


class ScheduleNotFound(NotFound):
    code, title = "schedule_not_found", "No such pay schedule"


class ScheduleInUse(Conflict):
    code, title = "schedule_in_use", "The schedule was used by an approved payroll run"


class NoScheduleInForce(Unprocessable):
    code, title = "no_schedule_in_force", "No pay schedule is in force"


class NoPayForPost(Unprocessable):
    code, title = "no_pay_for_post", "The schedule has no position pay for some posts"


class NoPayForLevel(Unprocessable):
    code, title = "no_pay_for_level", "The schedule has no level pay for some levels"


class UnknownGrade(Unprocessable):
    code, title = "unknown_assessment_grade", "The roster reports an unknown assessment grade"


class InvalidStep(Unprocessable):
    code, title = "invalid_step", "The roster reports a step below 1"


class UnknownPersonnel(Unprocessable):
    code, title = "unknown_personnel", "No such person in the roster"


class PayrollRunNotFound(NotFound):
    code, title = "payroll_run_not_found", "No such payroll run"


class PayrollRunOverlaps(Conflict):
    code, title = "payroll_run_overlaps", "A payroll run already covers this region and period"


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "The payroll run is not in a state that allows this"


class ConcurrentTransition(Conflict):
    code, title = "concurrent_transition", "Someone else changed the payroll run at the same time"


class RunStale(Conflict):
    code, title = "payroll_run_stale", "Inputs or schedules changed after the calculation"


class NegativeNetPay(Conflict):
    code, title = "negative_net_pay", "Some payslips have a negative net pay"


class PeriodClosed(Conflict):
    code, title = "payroll_period_closed", "The period is approved or paid for this person"


class SeparationOfDuties(Forbidden):
    code, title = "separation_of_duties", "The approver must not be the one who calculated"


class RosterUnavailable(UpstreamUnavailable):
    code, title = "roster_unavailable", "The roster service is unavailable"


class RosterBadResponse(DomainError):
    status, code, title = 502, "roster_bad_response", "The roster answered something unusable"


class RegionNotVisible(NotFound):
    code, title = "region_not_found", "No such region in your jurisdiction"
