import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.recruitment.ranking import (
    ABSENT_FITNESS,
    ABSENT_INTERVIEW,
    ABSENT_WRITTEN,
    BELOW_ENTRY_CUT,
    BELOW_FITNESS_PASS_LINE,
    BELOW_INTERVIEW_PASS_LINE,
    BELOW_WRITTEN_PASS_LINE,
    RankedEntry,
    RankingCandidate,
    Status,
    WrittenCandidate,
    composite,
    interview_score,
    rank_post,
    written_cut,
)
from services.recruitment.rules import CampaignRules, Weights, entry_count


def d(x: str | int) -> Decimal:
    return Decimal(x)


def ds(*xs: str | int) -> list[Decimal]:
    return [Decimal(x) for x in xs]


# ------------------------------------------------------------------------ interview score


@pytest.mark.parametrize(
    ("scores", "drop", "expected"),
    [
        (ds(80), False, "80.00"),
        (ds(80, 90), True, "85.00"),  # two scores: nothing dropped
        (ds(80, 90, 70), False, "80.00"),
        (ds(60, 90, 70, 100), True, "80.00"),  # drops 100 and 60
        (ds(90, 90, 70, 70), True, "80.00"),  # drops one of each
        (ds(80, 80, 81), False, "80.33"),
        (ds("80.00", "80.01"), False, "80.01"),  # 80.005 rounds half up
        (ds("79.99", "80.00"), False, "80.00"),  # 79.995
        (ds(50, 85, 86, 87, 99), True, "86.00"),
        (ds("85.5", "85.5", "85.5"), True, "85.50"),
    ],
)
def test_interview_score(scores: list[Decimal], drop: bool, expected: str) -> None:
    result = interview_score(scores, drop)
    assert result == d(expected)
    assert str(result) == expected


def test_interview_score_needs_scores() -> None:
    with pytest.raises(ValueError):
        interview_score([], True)


@given(
    st.lists(st.decimals(min_value=0, max_value=100, places=2), min_size=1, max_size=9),
    st.booleans(),
)
def test_interview_score_lies_within_the_scores(scores: list[Decimal], drop: bool) -> None:
    result = interview_score(scores, drop)
    assert min(scores) <= result <= max(scores)
    assert result.as_tuple().exponent == -2
    kept = sorted(scores)[1:-1] if drop and len(scores) >= 3 else scores
    assert abs(result - sum(kept, Decimal(0)) / len(kept)) <= d("0.005")


# ------------------------------------------------------------------------------ composite

W_50_50 = Weights(written=d("0.5"), interview=d("0.5"))
W_40_60 = Weights(written=d("0.4"), interview=d("0.6"))
W_60_20_20 = Weights(written=d("0.6"), interview=d("0.2"), fitness=d("0.2"))


def test_composite_weights_written_and_interview() -> None:
    assert composite(d("80.5"), d(90), W_50_50) == d("85.25")
    assert composite(d(80), d(90), W_40_60) == d("86.00")


def test_written_bonus_is_weighted_and_composite_bonus_is_not() -> None:
    assert composite(d(80), d(90), W_40_60, bonus_written=d(5)) == d("88.00")
    assert composite(d(80), d(90), W_40_60, bonus_composite=d(2)) == d("88.00")
    both = composite(d(80), d(90), W_40_60, bonus_written=d("2.5"), bonus_composite=d(1))
    assert both == d("88.00")


def test_scored_fitness_counts_in_the_composite() -> None:
    assert composite(d(80), d(90), W_60_20_20, fitness=d(70)) == d("80.00")
    with pytest.raises(ValueError):
        composite(d(80), d(90), W_60_20_20)
    # ignored when fitness is pass/fail
    assert composite(d(80), d(90), W_50_50, fitness=d(0)) == d("85.00")


def test_composite_rounds_once_half_up() -> None:
    w = Weights(written=d("0.3"), interview=d("0.7"))
    # 0.3 × 80.05 + 0.7 × 80.00 = 80.015 exactly
    assert composite(d("80.05"), d(80), w) == d("80.02")
    w2 = Weights(written=d("0.35"), interview=d("0.65"))
    # 0.35 × 70.01 + 0.65 × 70 = 70.0035 → 70.00
    assert composite(d("70.01"), d(70), w2) == d("70.00")


# ---------------------------------------------------------------------------- written cut


def wc(app_id: int, score: str | None, bonus: str = "0") -> WrittenCandidate:
    return WrittenCandidate(app_id, None if score is None else d(score), d(bonus))


def test_top_k_advance() -> None:
    cands = [wc(i, str(90 - i)) for i in range(1, 11)]
    result = written_cut(cands, 2, d(3))
    assert result.k == 6
    assert result.advancing == (1, 2, 3, 4, 5, 6)
    assert result.boundary == d(84)
    assert result.out == {
        7: BELOW_ENTRY_CUT,
        8: BELOW_ENTRY_CUT,
        9: BELOW_ENTRY_CUT,
        10: BELOW_ENTRY_CUT,
    }


def test_everyone_tied_at_the_boundary_goes_through() -> None:
    cands = [wc(1, "90"), wc(2, "85"), wc(3, "80"), wc(4, "80"), wc(5, "80"), wc(6, "79.99")]
    result = written_cut(cands, 1, d(2))
    assert result.k == 2
    assert result.advancing == (1, 2)
    result = written_cut(cands, 1, d(3))
    assert result.advancing == (1, 2, 3, 4, 5)
    assert result.boundary == d(80)
    assert result.out == {6: BELOW_ENTRY_CUT}


def test_the_bonus_counts_in_the_cut() -> None:
    cands = [wc(1, "85"), wc(2, "83", bonus="2.5"), wc(3, "84")]
    result = written_cut(cands, 1, d(2))
    assert result.advancing == (2, 1)
    assert result.boundary == d(85)
    assert result.out == {3: BELOW_ENTRY_CUT}


def test_k_rounds_up() -> None:
    cands = [wc(i, str(100 - i)) for i in range(1, 20)]
    result = written_cut(cands, 3, d("2.5"))
    assert result.k == 8
    assert len(result.advancing) == 8


def test_absent_and_below_pass_line_are_out() -> None:
    cands = [wc(1, None), wc(2, "59.99", bonus="5"), wc(3, "60"), wc(4, "75"), wc(5, "0")]
    result = written_cut(cands, 5, d(3), pass_line=d(60))
    assert result.advancing == (4, 3)
    assert result.out == {1: ABSENT_WRITTEN, 2: BELOW_WRITTEN_PASS_LINE, 5: BELOW_WRITTEN_PASS_LINE}


def test_the_bonus_can_be_made_to_count_toward_the_pass_line() -> None:
    cands = [wc(1, "58", bonus="2"), wc(2, "57", bonus="2")]
    result = written_cut(cands, 5, d(3), d(60), bonus_counts_toward_pass_line=True)
    assert result.advancing == (1,)
    assert result.out == {2: BELOW_WRITTEN_PASS_LINE}


def test_fewer_candidates_than_k_all_advance() -> None:
    result = written_cut([wc(1, "50"), wc(2, "40")], 5, d(3))
    assert result.advancing == (1, 2)
    assert result.boundary == d(40)


def test_nobody_present() -> None:
    result = written_cut([wc(1, None)], 1, d(3))
    assert result.advancing == ()
    assert result.boundary is None
    assert written_cut([], 1, d(3)).advancing == ()


def test_no_places_no_interview() -> None:
    result = written_cut([wc(1, "99")], 0, d(3))
    assert result.advancing == ()
    assert result.out == {1: BELOW_ENTRY_CUT}


def test_ties_are_listed_by_application_id() -> None:
    cands = [wc(9, "80"), wc(3, "80"), wc(5, "80"), wc(1, "70")]
    assert written_cut(cands, 1, d(2)).advancing == (3, 5, 9)


def test_string_ids_work() -> None:
    cands = [WrittenCandidate("b", d(80)), WrittenCandidate("a", d(80))]
    assert written_cut(cands, 1, d(1)).advancing == ("a", "b")


@pytest.mark.parametrize(
    "cands",
    [[wc(1, "80"), wc(1, "70")], [wc(1, None), wc(1, "70")], [wc(1, None), wc(1, None)]],
)
def test_duplicate_ids_are_refused(cands: list[WrittenCandidate]) -> None:
    with pytest.raises(ValueError, match="twice"):
        written_cut(cands, 1, d(3))


scores_2dp = st.decimals(min_value=0, max_value=100, places=2)
# Coarse scores so that ties are common.
coarse = st.integers(0, 20).map(lambda n: Decimal(n * 5))


@st.composite
def written_pools(draw: st.DrawFn) -> list[WrittenCandidate]:
    n = draw(st.integers(0, 40))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    return [
        WrittenCandidate(
            i,
            draw(st.one_of(st.none(), coarse)),
            draw(st.sampled_from(ds(0, 0, 0, "2.5", 5))),
        )
        for i in ids
    ]


@given(
    written_pools(),
    st.integers(0, 8),
    st.sampled_from(ds(1, "1.5", 2, "2.5", 3)),
    st.one_of(st.none(), coarse),
    st.randoms(use_true_random=False),
)
def test_written_cut_properties(
    cands: list[WrittenCandidate],
    places: int,
    ratio: Decimal,
    line: Decimal | None,
    rnd: random.Random,
) -> None:
    result = written_cut(cands, places, ratio, line)
    k = entry_count(places, ratio)
    total = {c.application_id: c.score + c.bonus for c in cands if c.score is not None}
    qualified = [
        c.application_id for c in cands if c.score is not None and (line is None or c.score >= line)
    ]
    # everyone is accounted for exactly once
    assert set(result.advancing) | set(result.out) == {c.application_id for c in cands}
    assert not set(result.advancing) & set(result.out)
    assert set(result.advancing) <= set(qualified)
    # at least k advance when there are enough, and more only because of boundary ties
    assert len(result.advancing) >= min(k, len(qualified))
    if len(result.advancing) > k:
        assert total[result.advancing[k]] == total[result.advancing[k - 1]] == result.boundary
    # nobody cut scores as high as the lowest who advanced
    cut = [a for a, why in result.out.items() if why == BELOW_ENTRY_CUT]
    if result.advancing:
        assert all(total[a] < min(total[x] for x in result.advancing) for a in cut)
    assert [total[a] for a in result.advancing] == sorted(
        (total[a] for a in result.advancing), reverse=True
    )
    # the input order does not matter
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    assert written_cut(shuffled, places, ratio, line) == result


# -------------------------------------------------------------------------------- ranking


def make_rules(**changes: Any) -> CampaignRules:
    data: dict[str, Any] = {
        "weights": {"written": "0.5", "interview": "0.5"},
        "tie_break": ["interview", "written"],
        "posts": {"patrol": {}},
    }
    post = changes.pop("post", {})
    data.update(changes)
    data["posts"]["patrol"].update(post)
    return CampaignRules.model_validate(data)


RULES = make_rules()
T0 = datetime(2026, 3, 1, 9, 0)


def rc(
    app_id: int,
    written: str | None,
    interview: str | None,
    *,
    fitness: str | None = None,
    bonus: str = "0",
    bonus_c: str = "0",
    priority: bool = False,
    minute: int | None = None,
) -> RankingCandidate:
    return RankingCandidate(
        app_id,
        None if written is None else d(written),
        None if interview is None else d(interview),
        fitness=None if fitness is None else d(fitness),
        bonus_written=d(bonus),
        bonus_composite=d(bonus_c),
        priority=priority,
        registered_at=None if minute is None else T0 + timedelta(minutes=minute),
    )


def order(entries: list[RankedEntry]) -> list[int | str]:
    return [e.application_id for e in entries]


def test_ranked_by_composite_with_places_and_reserves() -> None:
    cands = [rc(1, "70", "70"), rc(2, "90", "90"), rc(3, "80", "80"), rc(4, "60", "95")]
    entries = rank_post(cands, 2, RULES, "patrol")
    assert order(entries) == [2, 3, 4, 1]
    assert [e.rank for e in entries] == [1, 2, 3, 4]
    assert [e.status for e in entries] == [
        Status.PLACE,
        Status.PLACE,
        Status.RESERVE,
        Status.RESERVE,
    ]
    assert [e.composite for e in entries] == ds("90.00", "80.00", "77.50", "70.00")
    assert all(e.reason is None for e in entries)


def test_tie_break_interview_then_written() -> None:
    cands = [rc(1, "80", "70"), rc(2, "70", "80"), rc(3, "75", "75")]
    assert order(rank_post(cands, 1, RULES, "patrol")) == [2, 3, 1]
    rules = make_rules(tie_break=["written", "interview"])
    assert order(rank_post(cands, 1, rules, "patrol")) == [1, 3, 2]


def test_tie_break_falls_through_to_the_next_key_then_the_id() -> None:
    w = make_rules(weights={"written": "0.4", "interview": "0.6"})
    # Same composite 76 and same interview: written decides, then the id.
    cands = [rc(5, "70", "80"), rc(4, "70", "80"), rc(3, "85", "70")]
    assert [e.composite for e in rank_post(cands, 1, w, "patrol")] == ds(76, 76, 76)
    assert order(rank_post(cands, 1, w, "patrol")) == [4, 5, 3]
    none = make_rules(weights={"written": "0.4", "interview": "0.6"}, tie_break=[])
    assert order(rank_post(cands, 1, none, "patrol")) == [3, 4, 5]


def test_priority_tie_break_puts_bonus_categories_first() -> None:
    rules = make_rules(tie_break=["priority", "interview"])
    cands = [rc(1, "80", "80"), rc(2, "90", "70", priority=True), rc(3, "70", "90")]
    assert order(rank_post(cands, 1, rules, "patrol")) == [2, 3, 1]


def test_registration_tie_break_prefers_earlier_and_unknown_last() -> None:
    rules = make_rules(tie_break=["registration"])
    cands = [rc(1, "80", "80", minute=30), rc(2, "80", "80"), rc(3, "80", "80", minute=5)]
    assert order(rank_post(cands, 1, rules, "patrol")) == [3, 1, 2]
    mixed = make_rules(tie_break=["priority", "registration", "interview"])
    cands = [
        rc(1, "70", "90", minute=10),
        rc(2, "90", "70", minute=10),
        rc(3, "80", "80", minute=20, priority=True),
        rc(4, "85", "75", minute=1),
    ]
    assert order(rank_post(cands, 1, mixed, "patrol")) == [3, 4, 1, 2]


def test_fitness_tie_break_when_scored() -> None:
    rules = make_rules(
        weights={"written": "0.5", "interview": "0.3", "fitness": "0.2"},
        tie_break=["fitness", "written"],
    )
    cands = [rc(1, "80", "70", fitness="75"), rc(2, "70", "80", fitness="85")]
    entries = rank_post(cands, 1, rules, "patrol")
    assert [e.composite for e in entries] == ds("76.00", "76.00")
    assert order(entries) == [2, 1]
    assert entries[0].fitness == d(85)


def test_bonus_in_composite_and_reported() -> None:
    cands = [rc(1, "80", "80"), rc(2, "78", "80", bonus="5"), rc(3, "79", "80", bonus_c="1")]
    entries = rank_post(cands, 1, RULES, "patrol")
    assert order(entries) == [2, 3, 1]
    assert [e.composite for e in entries] == ds("81.50", "80.50", "80.00")
    assert [e.bonus for e in entries] == ds(5, 1, 0)
    assert entries[0].written == d(78)


def test_pass_lines_and_absence_put_candidates_out() -> None:
    rules = make_rules(post={"written_pass_line": "60", "interview_pass_line": "70"})
    cands = [
        rc(1, "90", "90"),
        rc(2, "59", "95", bonus="5"),
        rc(3, "95", "69.99"),
        rc(4, None, None),
        rc(5, "88", None),
        rc(6, "60", "70"),
    ]
    entries = rank_post(cands, 3, rules, "patrol")
    assert order(entries) == [1, 6, 3, 2, 4, 5]
    assert [(e.status, e.rank, e.reason) for e in entries] == [
        (Status.PLACE, 1, None),
        (Status.PLACE, 2, None),
        (Status.OUT, None, BELOW_INTERVIEW_PASS_LINE),
        (Status.OUT, None, BELOW_WRITTEN_PASS_LINE),
        (Status.OUT, None, ABSENT_WRITTEN),
        (Status.OUT, None, ABSENT_INTERVIEW),
    ]
    assert entries[2].composite == d("82.50")  # shown, but out
    assert entries[4].composite is None


def test_bonus_toward_the_written_pass_line() -> None:
    rules = make_rules(post={"written_pass_line": "60"}, bonus_counts_toward_pass_line=True)
    entries = rank_post([rc(1, "58", "80", bonus="2")], 1, rules, "patrol")
    assert entries[0].status is Status.PLACE


def test_scored_fitness_absent_or_below_its_line() -> None:
    rules = make_rules(
        weights={"written": "0.6", "interview": "0.2", "fitness": "0.2"},
        post={"fitness_pass_line": "60"},
    )
    cands = [rc(1, "80", "80", fitness="80"), rc(2, "90", "90"), rc(3, "90", "90", fitness="59")]
    entries = rank_post(cands, 1, rules, "patrol")
    assert [(e.application_id, e.status, e.reason) for e in entries] == [
        (1, Status.PLACE, None),
        (3, Status.OUT, BELOW_FITNESS_PASS_LINE),
        (2, Status.OUT, ABSENT_FITNESS),
    ]


def test_pass_fail_fitness_is_not_in_the_ranking() -> None:
    entries = rank_post([rc(1, "80", "80", fitness="10")], 1, RULES, "patrol")
    assert entries[0].fitness is None
    assert entries[0].composite == d(80)


def test_fewer_ranked_than_places() -> None:
    entries = rank_post([rc(1, "80", "80"), rc(2, None, None)], 3, RULES, "patrol")
    assert [e.status for e in entries] == [Status.PLACE, Status.OUT]


def test_rank_post_errors() -> None:
    with pytest.raises(KeyError):
        rank_post([], 1, RULES, "traffic")
    with pytest.raises(ValueError):
        rank_post([], -1, RULES, "patrol")
    with pytest.raises(ValueError, match="twice"):
        rank_post([rc(1, "80", "80"), rc(1, None, None)], 1, RULES, "patrol")


TIE_KEYS = ["interview", "written", "priority", "registration"]


@st.composite
def ranking_pools(draw: st.DrawFn) -> list[RankingCandidate]:
    n = draw(st.integers(0, 30))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    maybe = st.one_of(st.none(), coarse, coarse, coarse)
    return [
        RankingCandidate(
            i,
            draw(maybe),
            draw(maybe),
            bonus_written=draw(st.sampled_from(ds(0, 0, 5))),
            bonus_composite=draw(st.sampled_from(ds(0, 0, 1))),
            priority=draw(st.booleans()),
            registered_at=draw(st.one_of(st.none(), st.sampled_from([T0, T0 + timedelta(1)]))),
        )
        for i in ids
    ]


@given(
    ranking_pools(),
    st.integers(0, 10),
    st.permutations(TIE_KEYS).flatmap(lambda p: st.integers(0, 4).map(lambda n: p[:n])),
    st.sampled_from([("0.5", "0.5"), ("0.4", "0.6"), ("0.7", "0.3")]),
    st.one_of(st.none(), coarse),
    st.randoms(use_true_random=False),
)
def test_rank_post_properties(
    cands: list[RankingCandidate],
    places: int,
    tie_break: list[str],
    weights: tuple[str, str],
    line: Decimal | None,
    rnd: random.Random,
) -> None:
    rules = make_rules(
        weights={"written": weights[0], "interview": weights[1]},
        tie_break=tie_break,
        post={"interview_pass_line": None if line is None else str(line)},
    )
    entries = rank_post(cands, places, rules, "patrol")
    assert sorted(order(entries)) == sorted(c.application_id for c in cands)
    ranked = [e for e in entries if e.status is not Status.OUT]
    out = entries[len(ranked) :]
    assert all(e.status is Status.OUT and e.rank is None and e.reason for e in out)
    assert [e.rank for e in ranked] == list(range(1, len(ranked) + 1))
    assert sum(e.status is Status.PLACE for e in entries) == min(places, len(ranked))
    assert all(e.status is Status.PLACE for e in ranked[:places])
    composites = [e.composite for e in ranked]
    assert composites == sorted(composites, reverse=True)  # type: ignore[type-var]
    by_id = {c.application_id: c for c in cands}
    for e in ranked:
        c = by_id[e.application_id]
        assert c.written is not None and c.interview is not None
        assert e.composite == composite(
            c.written,
            c.interview,
            rules.weights,
            bonus_written=c.bonus_written,
            bonus_composite=c.bonus_composite,
        )
        assert line is None or c.interview >= line
    # fully deterministic: the input order does not matter
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    assert rank_post(shuffled, places, rules, "patrol") == entries
