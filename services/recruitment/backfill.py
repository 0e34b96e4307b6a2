"""Backfill (递补): when a place is lost, the next-ranked reserve of the post moves up.

A post's list is a `PostList`: its headcount, each candidate's `Standing` and the record
of every move. `decide_backfill` is pure and returns a `BackfillDecision`;
`apply_decision` turns it into the new list with the moves recorded. Together they keep:
- at most `places` candidates hold a place, whatever the sequence of losses;
- the reserve promoted is the best-ranked one not yet called; nobody is skipped;
- nobody is promoted for a cause outside `policy.on` (so never after a political-review
  failure when "political" is left out), for a loss dated after `policy.until`
  (inclusive), or beyond `policy.max_rounds` promotions on the post (None: unlimited).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import date

from services.recruitment.ranking import AppId, RankedEntry, Status
from services.recruitment.rules import BackfillPolicy, LossCause
from services.recruitment.stages import STAGE_ORDER

# Decision reasons (stable codes).
BACKFILLED = "backfilled"
NOT_HOLDING_PLACE = "not_holding_place"
CAUSE_NOT_BACKFILLED = "cause_not_backfilled"
DEADLINE_PASSED = "deadline_passed"
MAX_ROUNDS_REACHED = "max_rounds_reached"
NO_RESERVE_LEFT = "no_reserve_left"

_LOSABLE = frozenset({Status.PLACE, Status.RESERVE})


@dataclass(frozen=True, slots=True)
class Standing:
    """One candidate on a post's list. `called`: has ever been called up to a place."""

    application_id: AppId
    rank: int | None
    status: Status
    called: bool = False
    gates_passed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Move:
    """A recorded change of status, with a human-readable reason."""

    application_id: AppId
    from_status: Status
    to_status: Status
    reason: str
    on: date
    round: int | None = None
    """The backfill round (1, 2, …) for a promotion, None otherwise."""


@dataclass(frozen=True, slots=True)
class LossEvent:
    """`application_id` lost (or gave up) their standing for `cause` on day `on`."""

    application_id: AppId
    cause: LossCause
    on: date


@dataclass(frozen=True, slots=True)
class BackfillDecision:
    lost: AppId
    promoted: AppId | None
    reason: str
    """BACKFILLED or why nobody was promoted (a stable code)."""
    owed_gates: tuple[str, ...]
    """Gates the place had passed that the promoted candidate has not, in stage order."""
    cause: LossCause
    on: date


@dataclass(frozen=True, slots=True)
class PostList:
    """A post's list. `moves` is its record so far; it must hold at least every earlier
    promotion, which `rounds_used` counts against `max_rounds`."""

    post: str
    places: int
    standings: tuple[Standing, ...]
    moves: tuple[Move, ...] = ()

    @classmethod
    def from_ranking(cls, post: str, places: int, entries: Iterable[RankedEntry]) -> PostList:
        """The list as `rank_post` left it; holders of a place count as called."""
        standings = tuple(
            Standing(e.application_id, e.rank, e.status, called=e.status is Status.PLACE)
            for e in entries
        )
        if sum(s.status is Status.PLACE for s in standings) > places:
            raise ValueError("more candidates hold a place than the post has places")
        return cls(post, places, standings)

    @property
    def rounds_used(self) -> int:
        """Backfill promotions made on this post so far."""
        return sum(m.round is not None for m in self.moves)

    def standing(self, application_id: AppId) -> Standing:
        for s in self.standings:
            if s.application_id == application_id:
                return s
        raise KeyError(application_id)

    def holders(self) -> list[AppId]:
        return [s.application_id for s in self.standings if s.status is Status.PLACE]

    def with_gate_passed(self, application_id: AppId, gate: str) -> PostList:
        """A copy in which `application_id` has passed `gate`."""
        self.standing(application_id)
        standings = tuple(
            replace(s, gates_passed=s.gates_passed | {gate})
            if s.application_id == application_id
            else s
            for s in self.standings
        )
        return replace(self, standings=standings)


def next_reserve(post_list: PostList) -> Standing | None:
    """The best-ranked reserve not yet called, or None."""
    best: Standing | None = None
    best_rank = 0
    for s in post_list.standings:
        if (
            s.status is Status.RESERVE
            and not s.called
            and s.rank is not None
            and (best is None or s.rank < best_rank)
        ):
            best, best_rank = s, s.rank
    return best


def decide_backfill(
    post_list: PostList,
    policy: BackfillPolicy,
    event: LossEvent,
    place_gates: Collection[str] = (),
) -> BackfillDecision:
    """Who, if anyone, takes the place `event` loses. `place_gates`: gates the place passed.

    ValueError when the candidate is not on the list or holds neither a place nor a
    reserve rank (already out, withdrawn or hired).
    """
    try:
        lost = post_list.standing(event.application_id)
    except KeyError:
        raise ValueError(f"{event.application_id!r} is not on the list of this post") from None
    if lost.status not in _LOSABLE:
        raise ValueError(f"{event.application_id!r} is {lost.status.value} and cannot lose more")

    def nobody(reason: str) -> BackfillDecision:
        return BackfillDecision(lost.application_id, None, reason, (), event.cause, event.on)

    if lost.status is not Status.PLACE:
        return nobody(NOT_HOLDING_PLACE)
    if event.cause not in policy.on:
        return nobody(CAUSE_NOT_BACKFILLED)
    if policy.until is not None and event.on > policy.until:
        return nobody(DEADLINE_PASSED)
    if policy.max_rounds is not None and post_list.rounds_used >= policy.max_rounds:
        return nobody(MAX_ROUNDS_REACHED)
    reserve = next_reserve(post_list)
    if reserve is None:
        return nobody(NO_RESERVE_LEFT)
    owed = tuple(g for g in STAGE_ORDER if g in place_gates and g not in reserve.gates_passed)
    return BackfillDecision(
        lost.application_id, reserve.application_id, BACKFILLED, owed, event.cause, event.on
    )


def apply_decision(post_list: PostList, decision: BackfillDecision) -> PostList:
    """The list after `decision`: the loser is withdrawn (withdrawal) or out, the promoted
    candidate holds a place and is marked called; both moves are recorded."""
    lost = post_list.standing(decision.lost)
    if lost.status not in _LOSABLE:
        raise ValueError(f"{decision.lost!r} is {lost.status.value}; the decision is stale")
    lost_to = Status.WITHDRAWN if decision.cause is LossCause.WITHDRAWAL else Status.OUT
    moves = [
        Move(
            lost.application_id,
            lost.status,
            lost_to,
            f"lost {lost.status.value}: {decision.cause.value}",
            decision.on,
        )
    ]
    updated = {lost.application_id: replace(lost, status=lost_to)}
    if decision.promoted is not None:
        promoted = post_list.standing(decision.promoted)
        if promoted.status is not Status.RESERVE or promoted.called:
            raise ValueError(f"{decision.promoted!r} is not an uncalled reserve")
        round_ = post_list.rounds_used + 1
        owed = f"; owes {', '.join(decision.owed_gates)}" if decision.owed_gates else ""
        moves.append(
            Move(
                promoted.application_id,
                Status.RESERVE,
                Status.PLACE,
                f"backfill round {round_}: rank {promoted.rank} replaces "
                f"{lost.application_id} ({decision.cause.value}){owed}",
                decision.on,
                round_,
            )
        )
        updated[promoted.application_id] = replace(promoted, status=Status.PLACE, called=True)
    standings = tuple(updated.get(s.application_id, s) for s in post_list.standings)
    result = replace(post_list, standings=standings, moves=post_list.moves + tuple(moves))
    if sum(s.status is Status.PLACE for s in standings) > post_list.places:
        raise ValueError("the decision would give more places than the post has")
    return result
