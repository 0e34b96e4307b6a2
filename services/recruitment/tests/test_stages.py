import pytest

from services.recruitment.stages import (
    RESULT_STAGES,
    STAGE_ORDER,
    MedicalOutcome,
    Stage,
    StageState,
    is_scored,
    medical_outcome,
    next_stage,
    owed_gates,
    ranking_stage,
    result_kind,
)

CLOSED, OPEN, PENDING = StageState.CLOSED, StageState.OPEN, StageState.PENDING


def test_stage_order_matches_the_api() -> None:
    assert list(STAGE_ORDER) == [
        "registration",
        "written",
        "interview",
        "fitness",
        "medical",
        "political",
        "publicity",
    ]
    assert list(RESULT_STAGES) == ["written", "interview", "fitness", "medical", "political"]


def test_next_stage() -> None:
    assert next_stage(Stage.REGISTRATION) is Stage.WRITTEN
    assert next_stage("political") is Stage.PUBLICITY
    assert next_stage("publicity") is None
    with pytest.raises(ValueError):
        next_stage("hire")


@pytest.mark.parametrize(
    ("stage", "fitness_scored", "kind"),
    [
        ("registration", False, None),
        ("written", False, "score"),
        ("interview", True, "score"),
        ("fitness", False, "pass_fail"),
        ("fitness", True, "score"),
        ("medical", True, "pass_fail"),
        ("political", False, "pass_fail"),
        ("publicity", False, None),
    ],
)
def test_result_kind(stage: str, fitness_scored: bool, kind: str | None) -> None:
    assert result_kind(stage, fitness_scored) == kind
    assert is_scored(stage, fitness_scored) is (kind == "score")


def test_ranking_stage() -> None:
    assert ranking_stage(False) is Stage.INTERVIEW
    assert ranking_stage(True) is Stage.FITNESS


def states(*values: StageState) -> dict[Stage, StageState]:
    return dict(zip(STAGE_ORDER, values, strict=True))


def test_owed_gates_are_the_closed_place_gates() -> None:
    at_political = states(CLOSED, CLOSED, CLOSED, CLOSED, CLOSED, OPEN, PENDING)
    assert owed_gates(at_political, Stage.POLITICAL) == (Stage.FITNESS, Stage.MEDICAL)
    at_medical = states(CLOSED, CLOSED, CLOSED, CLOSED, OPEN, PENDING, PENDING)
    assert owed_gates(at_medical, "medical") == (Stage.FITNESS,)
    at_fitness = states(CLOSED, CLOSED, CLOSED, OPEN, PENDING, PENDING, PENDING)
    assert owed_gates(at_fitness, "fitness") == ()


def test_owed_gates_at_the_end_include_publicity() -> None:
    done = states(CLOSED, CLOSED, CLOSED, CLOSED, CLOSED, CLOSED, CLOSED)
    assert owed_gates(done, "publicity") == ("fitness", "medical", "political", "publicity")
    assert owed_gates(done, "publicity", already_passed={"fitness"}) == (
        "medical",
        "political",
        "publicity",
    )


def test_scored_fitness_is_never_owed() -> None:
    at_political = states(CLOSED, CLOSED, CLOSED, CLOSED, CLOSED, OPEN, PENDING)
    assert owed_gates(at_political, "political", fitness_scored=True) == (Stage.MEDICAL,)


def test_owed_gates_stop_at_the_promotion_stage_and_accept_plain_strings() -> None:
    plain = {
        "registration": "closed",
        "written": "closed",
        "interview": "closed",
        "fitness": "closed",
        "medical": "closed",
        "political": "closed",
    }
    assert owed_gates(plain, "fitness") == ("fitness",)
    assert owed_gates(plain, "political") == ("fitness", "medical", "political")
    assert owed_gates({}, "political") == ()
    with pytest.raises(ValueError):
        owed_gates(plain, "hire")


@pytest.mark.parametrize(
    ("first", "recheck", "requested", "outcome"),
    [
        (None, None, False, MedicalOutcome.PENDING),
        (True, None, False, MedicalOutcome.PASSED),
        (False, None, False, MedicalOutcome.FAILED),
        (False, None, True, MedicalOutcome.RECHECK_PENDING),
        (False, True, True, MedicalOutcome.PASSED),
        (False, False, True, MedicalOutcome.FAILED),
    ],
)
def test_medical_outcome(
    first: bool | None, recheck: bool | None, requested: bool, outcome: MedicalOutcome
) -> None:
    assert medical_outcome(first, recheck, requested) is outcome


@pytest.mark.parametrize(
    ("first", "recheck", "requested"),
    [
        (True, None, True),  # a pass cannot be re-examined
        (True, False, True),
        (False, True, False),  # a re-examination needs a request
        (None, None, True),  # nothing to re-examine yet
        (None, True, True),
    ],
)
def test_medical_outcome_refuses_impossible_combinations(
    first: bool | None, recheck: bool | None, requested: bool
) -> None:
    with pytest.raises(ValueError):
        medical_outcome(first, recheck, requested)
