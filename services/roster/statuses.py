"""The status machine of a personnel file.

    probation ──► active ◄──► suspended
        │           │             │
        └───────────┴─────────────┴──► left (with a departure reason)

`left` is final. A suspended auxiliary may leave directly (e.g. dismissed after an
investigation) without being reinstated first.

Headcount (for quotas) counts `probation` and `active` only; a suspended auxiliary does
not count. "Current staff" (for the duplicate-ID check) is everyone who has not left.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PROBATION = "probation"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    LEFT = "left"


class DepartureReason(StrEnum):
    RESIGNED = "resigned"
    DISMISSED = "dismissed"
    CONTRACT_ENDED = "contract_ended"
    RETIRED = "retired"
    DECEASED = "deceased"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PROBATION: frozenset({Status.ACTIVE, Status.LEFT}),
    Status.ACTIVE: frozenset({Status.SUSPENDED, Status.LEFT}),
    Status.SUSPENDED: frozenset({Status.ACTIVE, Status.LEFT}),
    Status.LEFT: frozenset(),
}
HEADCOUNT_STATUSES: frozenset[Status] = frozenset({Status.PROBATION, Status.ACTIVE})
CURRENT_STATUSES: frozenset[Status] = frozenset({Status.PROBATION, Status.ACTIVE, Status.SUSPENDED})


class InvalidTransition(ValueError):
    """A refused status change. `code` is the stable machine code for the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _status(value: Status | str) -> Status:
    try:
        return Status(value)
    except ValueError as exc:
        raise InvalidTransition("unknown_status", f"unknown status {value!r}") from exc


def allowed(from_status: Status | str, to_status: Status | str) -> bool:
    """True when the file may move from one status to the other (never to itself)."""
    try:
        return Status(to_status) in TRANSITIONS[Status(from_status)]
    except ValueError:
        return False


def transition(
    from_status: Status | str,
    to_status: Status | str,
    reason: DepartureReason | str | None = None,
) -> Status:
    """Validate a status change and return the new status; raises InvalidTransition.

    Moving to `left` needs a departure reason; no other move takes one.
    """
    source, target = _status(from_status), _status(to_status)
    if target not in TRANSITIONS[source]:
        raise InvalidTransition(
            "invalid_status_transition", f"cannot move from {source} to {target}"
        )
    if target is Status.LEFT:
        if reason is None:
            raise InvalidTransition("departure_reason_required", "leaving needs a reason")
        try:
            DepartureReason(reason)
        except ValueError as exc:
            raise InvalidTransition(
                "invalid_departure_reason",
                f"reason must be one of {[r.value for r in DepartureReason]}",
            ) from exc
    elif reason is not None:
        raise InvalidTransition(
            "unexpected_departure_reason", "a departure reason is only given when leaving"
        )
    return target


def initial_status(probation_months: int) -> Status:
    """A new file starts on probation when it has one, otherwise active."""
    return Status.PROBATION if probation_months > 0 else Status.ACTIVE


def counts_toward_headcount(status: Status | str) -> bool:
    """Probation and active count toward the quota headcount; suspended and left do not."""
    return Status(status) in HEADCOUNT_STATUSES


def is_current(status: Status | str) -> bool:
    """Still on the staff (not left): used for the duplicate-ID check."""
    return Status(status) in CURRENT_STATUSES
