from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.recruitment.backfill import (
    BACKFILLED,
    CAUSE_NOT_BACKFILLED,
    DEADLINE_PASSED,
    MAX_ROUNDS_REACHED,
    NO_RESERVE_LEFT,
    NOT_HOLDING_PLACE,
    LossEvent,
    PostList,
    Standing,
    apply_decision,
    decide_backfill,
    next_reserve,
)
from services.recruitment.ranking import RankedEntry, Status
from services.recruitment.rules import BackfillPolicy, LossCause

DAY = date(2026, 7, 1)
ALL = BackfillPolicy()


def post_list(n: int = 6, places: int = 2, out: tuple[int, ...] = ()) -> PostList:
    """Candidates 1..n ranked in id order; `out` ones failed a pass line."""
    standings = []
    rank = 0
    for i in range(1, n + 1):
        if i in out:
            standings.append(Standing(i, None, Status.OUT))
            continue
        rank += 1
        status = Status.PLACE if rank <= places else Status.RESERVE
        standings.append(Standing(i, rank, status, called=status is Status.PLACE))
    return PostList("patrol", places, tuple(standings))


def lose(
    pl: PostList,
    app_id: int,
    cause: LossCause = LossCause.FITNESS,
    policy: BackfillPolicy = ALL,
    on: date = DAY,
    gates: tuple[str, ...] = (),
) -> tuple[PostList, Any]:
    decision = decide_backfill(pl, policy, LossEvent(app_id, cause, on), gates)
    return apply_decision(pl, decision), decision


def statuses(pl: PostList) -> dict[int | str, Status]:
    return {s.application_id: s.status for s in pl.standings}


def test_the_next_ranked_reserve_moves_up() -> None:
    pl = post_list()
    after, decision = lose(pl, 1, gates=("fitness",))
    assert (decision.lost, decision.promoted, decision.reason) == (1, 3, BACKFILLED)
    assert decision.owed_gates == ("fitness",)
    assert statuses(after) == {
        1: Status.OUT,
        2: Status.PLACE,
        3: Status.PLACE,
        4: Status.RESERVE,
        5: Status.RESERVE,
        6: Status.RESERVE,
    }
    assert after.standing(3).called
    assert after.rounds_used == 1
    assert [(m.application_id, m.from_status, m.to_status) for m in after.moves] == [
        (1, Status.PLACE, Status.OUT),
        (3, Status.RESERVE, Status.PLACE),
    ]
    assert after.moves[0].reason == "lost place: fitness"
    assert after.moves[1].reason == "backfill round 1: rank 3 replaces 1 (fitness); owes fitness"
    assert after.moves[1].round == 1
    assert after.moves[1].on == DAY
    assert pl.standing(1).status is Status.PLACE  # the input is untouched


def test_withdrawal_marks_withdrawn() -> None:
    after, decision = lose(post_list(), 2, LossCause.WITHDRAWAL)
    assert decision.promoted == 3
    assert after.standing(2).status is Status.WITHDRAWN


def test_owed_gates_are_the_place_gates_the_reserve_has_not_passed() -> None:
    pl = post_list()
    pl = pl.with_gate_passed(3, "fitness")
    _, decision = lose(pl, 1, LossCause.POLITICAL, gates=("political", "medical", "fitness"))
    assert decision.owed_gates == ("medical", "political")


def test_only_causes_in_the_policy_are_backfilled() -> None:
    no_political = BackfillPolicy(on=[LossCause.FITNESS, LossCause.MEDICAL, LossCause.WITHDRAWAL])
    after, decision = lose(post_list(), 1, LossCause.POLITICAL, no_political)
    assert (decision.promoted, decision.reason) == (None, CAUSE_NOT_BACKFILLED)
    assert statuses(after)[1] is Status.OUT
    assert after.holders() == [2]
    assert after.moves[-1].reason == "lost place: political"
    _, decision = lose(post_list(), 1, LossCause.OBJECTION, no_political)
    assert decision.reason == CAUSE_NOT_BACKFILLED
    _, decision = lose(post_list(), 1, LossCause.MEDICAL, no_political)
    assert decision.promoted == 3


def test_not_after_the_deadline() -> None:
    policy = BackfillPolicy(until=DAY)
    _, decision = lose(post_list(), 1, policy=policy, on=DAY)
    assert decision.promoted == 3
    _, decision = lose(post_list(), 1, policy=policy, on=DAY + timedelta(days=1))
    assert (decision.promoted, decision.reason) == (None, DEADLINE_PASSED)


def test_once_only() -> None:
    policy = BackfillPolicy(max_rounds=1)
    pl, first = lose(post_list(), 1, policy=policy)
    assert first.promoted == 3
    pl, second = lose(pl, 2, policy=policy)
    assert (second.promoted, second.reason) == (None, MAX_ROUNDS_REACHED)
    assert pl.holders() == [3]


def test_max_rounds_zero_never_promotes() -> None:
    _, decision = lose(post_list(), 1, policy=BackfillPolicy(max_rounds=0))
    assert decision.reason == MAX_ROUNDS_REACHED


def test_a_backfilled_candidate_can_be_lost_and_backfilled_in_turn() -> None:
    pl, _ = lose(post_list(), 1)
    pl, decision = lose(pl, 3, LossCause.MEDICAL)
    assert decision.promoted == 4
    assert pl.holders() == [2, 4]
    assert pl.rounds_used == 2
    assert pl.moves[-1].reason.startswith("backfill round 2: rank 4 replaces 3 (medical)")


def test_a_reserve_who_withdraws_is_passed_over_later() -> None:
    pl, decision = lose(post_list(), 3, LossCause.WITHDRAWAL)
    assert (decision.promoted, decision.reason) == (None, NOT_HOLDING_PLACE)
    assert pl.standing(3).status is Status.WITHDRAWN
    pl, decision = lose(pl, 1)
    assert decision.promoted == 4


def test_called_reserves_and_out_candidates_are_skipped() -> None:
    pl = PostList(
        "patrol",
        1,
        (
            Standing(1, 1, Status.PLACE, called=True),
            Standing(2, 2, Status.RESERVE, called=True),
            Standing(3, None, Status.OUT),
            Standing(4, 3, Status.RESERVE),
        ),
    )
    assert next_reserve(pl) == pl.standing(4)
    _, decision = lose(pl, 1)
    assert decision.promoted == 4


def test_nobody_left() -> None:
    pl, _ = lose(post_list(n=3, places=2), 1)
    pl, decision = lose(pl, 2)
    assert (decision.promoted, decision.reason) == (None, NO_RESERVE_LEFT)
    assert pl.holders() == [3]


def test_losing_twice_or_an_unknown_candidate_is_an_error() -> None:
    pl, decision = lose(post_list(), 1)
    with pytest.raises(ValueError, match="cannot lose"):
        decide_backfill(pl, ALL, LossEvent(1, LossCause.MEDICAL, DAY))
    with pytest.raises(ValueError, match="not on the list"):
        decide_backfill(pl, ALL, LossEvent(99, LossCause.MEDICAL, DAY))
    with pytest.raises(ValueError, match="stale"):
        apply_decision(pl, decision)
    with pytest.raises(KeyError):
        pl.with_gate_passed(99, "fitness")


def test_from_ranking() -> None:
    def entry(i: int, rank: int | None, status: Status) -> RankedEntry:
        c = Decimal(90 - i)
        return RankedEntry(i, c, Decimal(0), c, None, c, rank, status, None)

    entries = [
        entry(1, 1, Status.PLACE),
        entry(2, 2, Status.RESERVE),
        entry(3, None, Status.OUT),
    ]
    pl = PostList.from_ranking("patrol", 1, entries)
    assert pl.holders() == [1]
    assert pl.standing(1).called and not pl.standing(2).called
    assert pl.rounds_used == 0
    assert pl.moves == ()
    pl, decision = lose(pl, 1)
    assert decision.promoted == 2
    with pytest.raises(ValueError):
        PostList.from_ranking("patrol", 0, entries)


# ------------------------------------------------------------------------- properties

causes = st.sampled_from(list(LossCause))
policies = st.builds(
    BackfillPolicy,
    on=st.one_of(st.just(list(LossCause)), st.lists(causes, unique=True)),
    max_rounds=st.one_of(st.none(), st.integers(0, 4)),
    until=st.one_of(st.none(), st.dates(DAY + timedelta(days=10), DAY + timedelta(days=40))),
)


def pick_loser(pl: PostList, pick: int, place_first: bool) -> Standing | None:
    """Mostly a holder of a place (the interesting case), sometimes any reserve."""
    holders = [s for s in pl.standings if s.status is Status.PLACE]
    losable = [s for s in pl.standings if s.status in (Status.PLACE, Status.RESERVE)]
    pool = holders if place_first and holders else losable
    return pool[pick % len(pool)] if pool else None


@given(
    n=st.integers(1, 15),
    places=st.integers(1, 6),
    out=st.sets(st.integers(1, 15), max_size=4),
    policy=policies,
    events=st.lists(
        st.tuples(st.integers(0, 1000), causes, st.integers(0, 30), st.booleans()),
        min_size=1,
        max_size=20,
    ),
)
def test_backfill_properties(
    n: int,
    places: int,
    out: set[int],
    policy: BackfillPolicy,
    events: list[tuple[int, LossCause, int, bool]],
) -> None:
    pl = post_list(n, places, tuple(out))
    promotions = 0
    for pick, cause, offset, place_first in events:
        lost = pick_loser(pl, pick, place_first)
        if lost is None:
            break
        on = DAY + timedelta(days=offset)
        before = pl
        decision = decide_backfill(pl, policy, LossEvent(lost.application_id, cause, on))
        pl = apply_decision(pl, decision)

        # never more holders than places
        assert len(pl.holders()) <= pl.places
        # holders only ever go down by the one lost place, never up
        assert len(pl.holders()) >= len(before.holders()) - 1
        if decision.promoted is None:
            continue
        promotions += 1
        promoted = before.standing(decision.promoted)
        # only for a lost place, for a listed cause, in time, within the rounds
        assert lost.status is Status.PLACE
        assert cause in policy.on
        assert policy.until is None or on <= policy.until
        assert policy.max_rounds is None or promotions <= policy.max_rounds
        # the best-ranked eligible reserve, nobody skipped
        assert promoted.status is Status.RESERVE and not promoted.called
        assert promoted.rank is not None
        assert not [
            s
            for s in before.standings
            if s.status is Status.RESERVE
            and not s.called
            and s.rank is not None
            and s.rank < promoted.rank
        ]
        assert pl.standing(decision.promoted).status is Status.PLACE
    assert pl.rounds_used == promotions
    assert len(pl.moves) >= promotions


@given(
    n=st.integers(2, 12),
    places=st.integers(1, 5),
    events=st.lists(st.tuples(st.integers(0, 1000), causes), min_size=1, max_size=12),
)
def test_max_rounds_zero_promotes_nobody(
    n: int, places: int, events: list[tuple[int, LossCause]]
) -> None:
    policy = BackfillPolicy(max_rounds=0)
    pl = post_list(n, places)
    for pick, cause in events:
        lost = pick_loser(pl, pick, place_first=True)
        if lost is None:
            break
        decision = decide_backfill(pl, policy, LossEvent(lost.application_id, cause, DAY))
        assert decision.promoted is None
        pl = apply_decision(pl, decision)
    assert pl.rounds_used == 0


@given(
    n=st.integers(2, 12),
    places=st.integers(1, 5),
    until=st.dates(DAY - timedelta(days=30), DAY + timedelta(days=30)),
    events=st.lists(
        st.tuples(st.integers(0, 1000), causes, st.integers(1, 60)), min_size=1, max_size=12
    ),
)
def test_nobody_is_promoted_after_until(
    n: int, places: int, until: date, events: list[tuple[int, LossCause, int]]
) -> None:
    policy = BackfillPolicy(until=until)
    pl = post_list(n, places)
    for pick, cause, days_late in events:
        lost = pick_loser(pl, pick, place_first=True)
        if lost is None:
            break
        on = until + timedelta(days=days_late)
        decision = decide_backfill(pl, policy, LossEvent(lost.application_id, cause, on))
        assert decision.promoted is None
        pl = apply_decision(pl, decision)
