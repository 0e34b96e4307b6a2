"""The stages of a campaign, what each one records, and what a backfilled candidate owes."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Literal


class Stage(StrEnum):
    REGISTRATION = "registration"
    WRITTEN = "written"
    INTERVIEW = "interview"
    FITNESS = "fitness"
    MEDICAL = "medical"
    POLITICAL = "political"
    PUBLICITY = "publicity"


class StageState(StrEnum):
    PENDING = "pending"
    OPEN = "open"
    CLOSED = "closed"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)
"""Closing a stage opens the next one."""

RESULT_STAGES: tuple[Stage, ...] = (
    Stage.WRITTEN,
    Stage.INTERVIEW,
    Stage.FITNESS,
    Stage.MEDICAL,
    Stage.POLITICAL,
)
"""Stages that take results (POST /campaigns/{id}/results/{stage})."""

PLACE_GATES: tuple[Stage, ...] = (Stage.FITNESS, Stage.MEDICAL, Stage.POLITICAL, Stage.PUBLICITY)
"""Gates each holder of a place clears in person after the ranking. Scored fitness is part
of the ranking instead (see `ranking_stage`)."""

_INDEX = {stage: i for i, stage in enumerate(STAGE_ORDER)}


def next_stage(stage: Stage | str) -> Stage | None:
    """The stage after `stage`, or None after publicity. ValueError for an unknown stage."""
    i = _INDEX[Stage(stage)] + 1
    return STAGE_ORDER[i] if i < len(STAGE_ORDER) else None


def result_kind(stage: Stage | str, fitness_scored: bool) -> Literal["score", "pass_fail"] | None:
    """How results of `stage` are given: a 0–100 score, pass/fail, or None (no results).

    Written and interview are scored; fitness is scored when its weight is above 0 and
    pass/fail otherwise; medical and political are pass/fail.
    """
    stage = Stage(stage)
    if stage in (Stage.WRITTEN, Stage.INTERVIEW):
        return "score"
    if stage is Stage.FITNESS:
        return "score" if fitness_scored else "pass_fail"
    if stage in (Stage.MEDICAL, Stage.POLITICAL):
        return "pass_fail"
    return None


def is_scored(stage: Stage | str, fitness_scored: bool) -> bool:
    return result_kind(stage, fitness_scored) == "score"


def ranking_stage(fitness_scored: bool) -> Stage:
    """The stage whose close produces the post's ranked list (rank_post).

    Interview, or fitness when fitness is scored: then every interviewee takes it, since
    the composite needs it.
    """
    return Stage.FITNESS if fitness_scored else Stage.INTERVIEW


def owed_gates(
    stage_states: Mapping[Stage, StageState] | Mapping[str, str],
    promoted_at_stage: Stage | str,
    already_passed: Collection[str] = (),
    *,
    fitness_scored: bool = False,
) -> tuple[Stage, ...]:
    """Gates a candidate backfilled into a place must still clear on their own.

    They are the place gates (fitness, medical, political, publicity) up to and including
    `promoted_at_stage` that are already closed for everyone, minus `already_passed`.
    A gate still open is not owed: the candidate simply takes it with the others. Results
    for owed gates are accepted for this candidate after the stage has closed. Publicity,
    when owed, means a notice of their own.
    """
    last = _INDEX[Stage(promoted_at_stage)]
    owed: list[Stage] = []
    for gate in PLACE_GATES:
        if gate is Stage.FITNESS and fitness_scored:
            continue
        if (
            _INDEX[gate] <= last
            and stage_states.get(gate) == StageState.CLOSED
            and gate not in already_passed
        ):
            owed.append(gate)
    return tuple(owed)


class MedicalOutcome(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    RECHECK_PENDING = "recheck_pending"
    FAILED = "failed"


def medical_outcome(
    first: bool | None, recheck: bool | None, recheck_requested: bool
) -> MedicalOutcome:
    """The medical examination allows one re-examination, on request, after a failure.

    The re-examination decides. A first failure without a request is FAILED; a request
    made later (within the window the service enforces) turns it into RECHECK_PENDING.
    ValueError for a re-examination without a first failure or without a request.
    """
    if recheck is not None and not recheck_requested:
        raise ValueError("a re-examination result needs a re-examination request")
    if first is None:
        if recheck_requested or recheck is not None:
            raise ValueError("a re-examination comes after the first examination")
        return MedicalOutcome.PENDING
    if first:
        if recheck_requested:
            raise ValueError("only a failed examination can be re-examined")
        return MedicalOutcome.PASSED
    if not recheck_requested:
        return MedicalOutcome.FAILED
    if recheck is None:
        return MedicalOutcome.RECHECK_PENDING
    return MedicalOutcome.PASSED if recheck else MedicalOutcome.FAILED
