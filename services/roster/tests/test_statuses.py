import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.roster.statuses import (
    CURRENT_STATUSES,
    HEADCOUNT_STATUSES,
    DepartureReason,
    InvalidTransition,
    Status,
    allowed,
    counts_toward_headcount,
    initial_status,
    is_current,
    transition,
)

ALLOWED = {
    ("probation", "active"),
    ("probation", "left"),
    ("active", "suspended"),
    ("active", "left"),
    ("suspended", "active"),
    ("suspended", "left"),
}


@pytest.mark.parametrize("source", [s.value for s in Status])
@pytest.mark.parametrize("target", [s.value for s in Status])
def test_transition_table(source: str, target: str) -> None:
    assert allowed(source, target) == ((source, target) in ALLOWED)


def test_left_is_final_and_nothing_moves_to_itself() -> None:
    assert not any(allowed(Status.LEFT, s) for s in Status)
    assert not any(allowed(s, s) for s in Status)


def test_probation_cannot_be_suspended_nor_return() -> None:
    assert not allowed("probation", "suspended")
    assert not allowed("active", "probation")


def test_unknown_statuses_are_not_allowed() -> None:
    assert not allowed("retired", "active")
    assert not allowed("active", "fired")
    with pytest.raises(InvalidTransition) as err:
        transition("fired", "active")
    assert err.value.code == "unknown_status"


def test_transition_returns_the_new_status() -> None:
    assert transition("probation", "active") is Status.ACTIVE
    assert transition(Status.SUSPENDED, Status.LEFT, DepartureReason.DISMISSED) is Status.LEFT
    assert transition("probation", "left", "contract_ended") is Status.LEFT


def test_invalid_transition_has_a_code() -> None:
    with pytest.raises(InvalidTransition) as err:
        transition("left", "active")
    assert err.value.code == "invalid_status_transition"
    assert "left" in err.value.message
    assert isinstance(err.value, ValueError)


def test_departure_reasons() -> None:
    with pytest.raises(InvalidTransition) as err:
        transition("active", "left")
    assert err.value.code == "departure_reason_required"
    with pytest.raises(InvalidTransition) as err:
        transition("active", "left", "ran_away")
    assert err.value.code == "invalid_departure_reason"
    with pytest.raises(InvalidTransition) as err:
        transition("active", "suspended", "resigned")
    assert err.value.code == "unexpected_departure_reason"
    assert {r.value for r in DepartureReason} == {
        "resigned",
        "dismissed",
        "contract_ended",
        "retired",
        "deceased",
    }


def test_headcount_counts_probation_and_active_only() -> None:
    assert {Status.PROBATION, Status.ACTIVE} == HEADCOUNT_STATUSES
    assert counts_toward_headcount("probation")
    assert counts_toward_headcount("active")
    assert not counts_toward_headcount("suspended")
    assert not counts_toward_headcount("left")


def test_current_staff_is_everyone_who_has_not_left() -> None:
    assert {Status.PROBATION, Status.ACTIVE, Status.SUSPENDED} == CURRENT_STATUSES
    assert is_current("suspended")
    assert not is_current("left")


def test_initial_status() -> None:
    assert initial_status(3) is Status.PROBATION
    assert initial_status(0) is Status.ACTIVE


@given(st.lists(st.sampled_from(list(Status)), max_size=20))
def test_any_accepted_path_from_probation_never_leaves_left(path: list[Status]) -> None:
    current = Status.PROBATION
    has_left = False
    for target in path:
        if not allowed(current, target):
            continue
        reason = DepartureReason.RESIGNED if target is Status.LEFT else None
        current = transition(current, target, reason)
        assert not has_left
        has_left = current is Status.LEFT
        if current is not Status.PROBATION:
            assert not allowed(current, Status.PROBATION)
