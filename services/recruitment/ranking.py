"""Scores, the written-test entry cut and a post's ranked list.

Conventions (all arithmetic is exact `Decimal`, rounded once at the end):
- An interview score is the mean of the examiners' scores, rounded half-up to 2 places.
- The composite is w_written·(written + written bonus) + w_interview·interview
  (+ w_fitness·fitness when fitness is scored) + composite bonus, rounded half-up to
  2 places. Ranking compares the rounded composite, the figure that is published.
- The entry cut admits k = ⌈places × ratio⌉ (see `rules.entry_count`) and everyone tied
  with the k-th at the boundary.
- The "written" tie-break and the cut use written + written bonus; pass lines compare the
  raw score unless `bonus_counts_toward_pass_line` is set.
- After the configured tie-breaks, ties fall back to the application id, ascending, so
  the order never depends on input order. Ids of one call must be all int or all str.

Candidates and ranked entries are slotted dataclasses but not frozen: on 100,000 rows a
frozen one costs about five times as much to build. Treat them as values all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from operator import attrgetter, itemgetter
from typing import Any, Final, TypeAlias

from services.recruitment.rules import CampaignRules, TieBreakKey, Weights, entry_count

AppId: TypeAlias = int | str

_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_NEG_INF = Decimal("-Infinity")
# Enough digits that no product or sum of scores, weights and bonuses is ever rounded.
_CTX = Context(prec=50, rounding=ROUND_HALF_UP)

# Out reasons (stable codes).
ABSENT_WRITTEN = "absent_written"
ABSENT_INTERVIEW = "absent_interview"
ABSENT_FITNESS = "absent_fitness"
BELOW_WRITTEN_PASS_LINE = "below_written_pass_line"
BELOW_INTERVIEW_PASS_LINE = "below_interview_pass_line"
BELOW_FITNESS_PASS_LINE = "below_fitness_pass_line"
BELOW_ENTRY_CUT = "below_entry_cut"


class Status(StrEnum):
    """A candidate's standing on a post's list (api.md ranking `status`)."""

    PLACE = "place"
    RESERVE = "reserve"
    OUT = "out"
    WITHDRAWN = "withdrawn"
    HIRED = "hired"


def interview_score(examiner_scores: Sequence[Decimal], drop_extremes: bool) -> Decimal:
    """Mean of the examiners' scores, rounded half-up to 2 places.

    With `drop_extremes` and at least 3 scores, one highest and one lowest are dropped
    first. Raises ValueError for no scores.
    """
    if not examiner_scores:
        raise ValueError("an interview score needs at least one examiner's score")
    with localcontext(_CTX):
        total = sum(examiner_scores, _ZERO)
        count = len(examiner_scores)
        if drop_extremes and count >= 3:
            total -= max(examiner_scores) + min(examiner_scores)
            count -= 2
        return (total / count).quantize(_CENT, rounding=ROUND_HALF_UP)


def composite(
    written: Decimal,
    interview: Decimal,
    weights: Weights,
    *,
    fitness: Decimal | None = None,
    bonus_written: Decimal = _ZERO,
    bonus_composite: Decimal = _ZERO,
) -> Decimal:
    """The composite score, rounded half-up to 2 places (see the module docstring).

    `fitness` is required when the fitness weight is above 0 and ignored otherwise.
    """
    if weights.fitness > 0 and fitness is None:
        raise ValueError("fitness is scored in this campaign and has no score")
    with localcontext(_CTX):
        value = weights.written * (written + bonus_written) + weights.interview * interview
        if fitness is not None and weights.fitness:
            value += weights.fitness * fitness
        return (value + bonus_composite).quantize(_CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------- written cut


@dataclass(slots=True)
class WrittenCandidate:
    """`score` None means absent. `bonus` is the written-test bonus (BonusPoints.written)."""

    application_id: AppId
    score: Decimal | None
    bonus: Decimal = _ZERO


@dataclass(frozen=True, slots=True)
class WrittenCutResult:
    k: int
    """⌈places × ratio⌉, before ties at the boundary are added."""
    boundary: Decimal | None
    """The lowest written + bonus that advances; None when nobody does."""
    advancing: tuple[AppId, ...]
    """In order: written + bonus descending, then application id."""
    out: dict[AppId, str]
    """Everyone else: absent_written, below_written_pass_line or below_entry_cut."""


def written_cut(
    candidates: Iterable[WrittenCandidate],
    places: int,
    entry_ratio: Decimal,
    pass_line: Decimal | None = None,
    *,
    bonus_counts_toward_pass_line: bool = False,
) -> WrittenCutResult:
    """Who of one post's candidates enters the interview.

    Absent candidates and those below the pass line are out. The rest are ranked by
    written + bonus; the top k advance, plus everyone tied with the k-th.
    """
    k = entry_count(places, entry_ratio)
    out: dict[AppId, str] = {}
    present: list[tuple[Decimal, AppId]] = []
    seen = 0
    with localcontext(_CTX):
        for c in candidates:
            seen += 1
            score = c.score
            if score is None:
                out[c.application_id] = ABSENT_WRITTEN
                continue
            total = score + c.bonus
            if (
                pass_line is not None
                and (total if bonus_counts_toward_pass_line else score) < pass_line
            ):
                out[c.application_id] = BELOW_WRITTEN_PASS_LINE
                continue
            present.append((total, c.application_id))
    if len(out.keys() | {app_id for _, app_id in present}) != seen:
        raise ValueError("an application id appears twice")
    present.sort(key=itemgetter(1))
    present.sort(key=itemgetter(0), reverse=True)
    if len(present) <= k:
        cut = len(present)
    elif k == 0:
        cut = 0
    else:
        boundary_total = present[k - 1][0]
        cut = k
        while cut < len(present) and present[cut][0] == boundary_total:
            cut += 1
    for _, app_id in present[cut:]:
        out[app_id] = BELOW_ENTRY_CUT
    return WrittenCutResult(
        k=k,
        boundary=present[cut - 1][0] if cut else None,
        advancing=tuple(app_id for _, app_id in present[:cut]),
        out=out,
    )


# -------------------------------------------------------------------------------- ranking


@dataclass(slots=True)
class RankingCandidate:
    """One interviewee of a post. Bonuses and priority come from `CampaignRules.bonus_for`.

    `fitness` is the fitness score, used only when fitness is scored. `registered_at`
    orders the "registration" tie-break (earlier first, unknown last).
    """

    application_id: AppId
    written: Decimal | None
    interview: Decimal | None
    fitness: Decimal | None = None
    bonus_written: Decimal = _ZERO
    bonus_composite: Decimal = _ZERO
    priority: bool = False
    registered_at: datetime | None = None


@dataclass(slots=True)
class RankedEntry:
    """A row of the ranking (api.md): `rank` is 1..n over place and reserve, None if out.

    `bonus` is the written plus the composite bonus; `reason` is set for "out" only.
    """

    application_id: AppId
    written: Decimal | None
    bonus: Decimal
    interview: Decimal | None
    fitness: Decimal | None
    composite: Decimal | None
    rank: int | None
    status: Status
    reason: str | None


# A row while sorting: composite, interview, written + bonus, fitness, priority,
# registration key, application id, candidate. Sort keys are itemgetters on these.
_Row: TypeAlias = tuple[
    Decimal, Decimal, Decimal, Decimal | None, bool, Any, AppId, RankingCandidate
]
_FIELD = {
    "composite": 0,
    "interview": 1,
    "written": 2,
    "fitness": 3,
    "priority": 4,
    "registration": 5,
}
_ASCENDING = frozenset({"registration"})
_ID: Final = 6
_CANDIDATE: Final = 7


def _sort_passes(tie_break: Sequence[TieBreakKey]) -> list[tuple[Callable[[_Row], Any], bool]]:
    """Stable-sort passes, least significant first: composite, then the tie-breaks.

    Neighbouring keys of the same direction share one pass with a tuple key.
    """
    groups: list[tuple[list[int], bool]] = []
    for name in ("composite", *tie_break):
        descending = name not in _ASCENDING
        if groups and groups[-1][1] == descending:
            groups[-1][0].append(_FIELD[name])
        else:
            groups.append(([_FIELD[name]], descending))
    return [(itemgetter(*fields), descending) for fields, descending in reversed(groups)]


def _registration_key(at: datetime | None) -> tuple[bool, Any]:
    """Earlier first, unknown last."""
    return (at is None, at if at is not None else 0)


def rank_post(
    candidates: Iterable[RankingCandidate],
    places: int,
    rules: CampaignRules,
    post: str,
) -> list[RankedEntry]:
    """The ordered list of one post: ranked (place, then reserve), then the out ones.

    Out: absent at the written test, interview or (scored) fitness, or below a pass line.
    The rest are ordered by composite, then `rules.tie_break`, then application id; the
    first `places` hold a place. Out rows follow, by composite descending, then id.
    """
    if places < 0:
        raise ValueError("places cannot be negative")
    post_rules = rules.post(post)
    weights = rules.weights
    fitness_scored = weights.fitness_scored
    written_line = post_rules.written_pass_line
    interview_line = post_rules.interview_pass_line
    fitness_line = post_rules.fitness_pass_line if fitness_scored else None
    line_with_bonus = rules.bonus_counts_toward_pass_line

    w_written, w_interview, w_fitness = weights.written, weights.interview, weights.fitness
    by_registration = "registration" in rules.tie_break

    rows: list[_Row] = []
    out: list[RankedEntry] = []
    with localcontext(_CTX):
        for c in candidates:
            written, interview = c.written, c.interview
            fitness = c.fitness if fitness_scored else None
            score: Decimal | None = None
            if written is None:
                reason = ABSENT_WRITTEN
            elif interview is None:
                reason = ABSENT_INTERVIEW
            elif fitness_scored and fitness is None:
                reason = ABSENT_FITNESS
            else:
                written_total = written + c.bonus_written
                score = w_written * written_total + w_interview * interview + c.bonus_composite
                if fitness is not None:
                    score += w_fitness * fitness
                score = score.quantize(_CENT, rounding=ROUND_HALF_UP)
                if (
                    written_line is not None
                    and (written_total if line_with_bonus else written) < written_line
                ):
                    reason = BELOW_WRITTEN_PASS_LINE
                elif interview_line is not None and interview < interview_line:
                    reason = BELOW_INTERVIEW_PASS_LINE
                elif fitness_line is not None and fitness is not None and fitness < fitness_line:
                    reason = BELOW_FITNESS_PASS_LINE
                else:
                    rows.append(
                        (
                            score,
                            interview,
                            written_total,
                            fitness,
                            c.priority,
                            _registration_key(c.registered_at) if by_registration else None,
                            c.application_id,
                            c,
                        )
                    )
                    continue
            out.append(
                RankedEntry(
                    c.application_id,
                    written,
                    c.bonus_written + c.bonus_composite,
                    interview,
                    fitness,
                    score,
                    None,
                    Status.OUT,
                    reason,
                )
            )

        rows.sort(key=itemgetter(_ID))
        for key, descending in _sort_passes(rules.tie_break):
            rows.sort(key=key, reverse=descending)

        place, reserve = Status.PLACE, Status.RESERVE
        ranked = [
            RankedEntry(
                row[_ID],
                row[_CANDIDATE].written,
                row[_CANDIDATE].bonus_written + row[_CANDIDATE].bonus_composite,
                row[1],
                row[3],
                row[0],
                position,
                place if position <= places else reserve,
                None,
            )
            for position, row in enumerate(rows, start=1)
        ]

    out.sort(key=attrgetter("application_id"))
    out.sort(key=lambda e: _NEG_INF if e.composite is None else e.composite, reverse=True)
    ids = [e.application_id for e in ranked]
    ids.extend(e.application_id for e in out)
    if len(set(ids)) != len(ids):
        raise ValueError("an application id appears twice")
    ranked.extend(out)
    return ranked
