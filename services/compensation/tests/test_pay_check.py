from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.compensation.pay_check import PayLine, analyse_pay

Y = 100
LAW = 5000 * Y  # local average wage
MIN = 1980 * Y  # minimum wage


def line(
    pid, level, step, post, *, level_pay, position_pay, performance, allowances=None, grade=None
):
    components = {
        "level_pay": level_pay,
        "position_pay": position_pay,
        "performance_pay": performance,
    }
    components.update(allowances or {})
    return PayLine(pid, level, step, post, sum(components.values()), components, grade)


def test_averages_and_percentages():
    lines = [
        line(1, 7, 1, "patrol", level_pay=3000 * Y, position_pay=2000 * Y, performance=500 * Y),
        line(2, 6, 1, "clerk", level_pay=3400 * Y, position_pay=1500 * Y, performance=0),
        line(3, 7, 1, "clerk", level_pay=1000 * Y, position_pay=500 * Y, performance=0),
    ]
    # total 5,500 + 4,900 + 1,500 = 11,900; average 3,966.666… → 3,966.67
    # vs local average 5,000: 79.333…% → 79.33; vs minimum 1,980: 200.336…% → 200.34
    c = analyse_pay(lines, LAW, MIN)
    assert c.headcount == 3
    assert c.average_pay == 396667
    assert c.pct_of_local_average == Decimal("79.33")
    assert c.pct_of_minimum_wage == Decimal("200.34")
    assert str(c.pct_of_local_average) == "79.33"
    # below the minimum: person 3 at 1,500, short by 480
    assert [(b.personnel_id, b.shortfall) for b in c.below_minimum] == [(3, 480 * Y)]
    assert c.unequal_pay == []


def test_percentage_rounds_half_up_once():
    # average 2,500.25 / 5,000 = 50.005% → 50.01 (half up)
    c = analyse_pay([PayLine("a", 7, 1, "p", 250025)], LAW, MIN)
    assert c.pct_of_local_average == Decimal("50.01")


def test_empty():
    c = analyse_pay([], LAW, MIN)
    assert c.headcount == 0
    assert c.average_pay is None
    assert c.pct_of_local_average is None
    assert c.pct_of_minimum_wage is None
    assert c.below_minimum == c.unequal_pay == c.below_peg == []


def test_exactly_minimum_is_not_below():
    c = analyse_pay([PayLine(1, 7, 1, "p", MIN)], LAW, MIN)
    assert c.below_minimum == []


def test_unequal_pay_explained_by_grade_is_justified():
    lines = [
        line(
            1,
            7,
            1,
            "patrol",
            level_pay=300000,
            position_pay=200000,
            performance=80000,
            grade="excellent",
        ),
        line(
            2,
            7,
            1,
            "patrol",
            level_pay=300000,
            position_pay=200000,
            performance=50000,
            grade="competent",
        ),
        line(
            3,
            7,
            1,
            "patrol",
            level_pay=300000,
            position_pay=200000,
            performance=50000,
            grade="competent",
        ),
    ]
    [u] = analyse_pay(lines, LAW, MIN).unequal_pay
    assert (u.level, u.step, u.post) == (7, 1, "patrol")
    assert (u.lowest, u.highest, u.spread) == (550000, 580000, 30000)
    assert u.members == [(1, 580000), (2, 550000), (3, 550000)]
    [cause] = u.causes
    assert cause.component == "performance_pay"
    assert cause.values == {80000: 1, 50000: 2}
    assert "assessment grade" in cause.reason
    assert "excellent 800.00" in cause.reason
    assert u.justified


def test_unequal_performance_pay_for_the_same_grade_is_not_justified():
    lines = [
        line(
            1,
            7,
            1,
            "patrol",
            level_pay=300000,
            position_pay=200000,
            performance=80000,
            grade="competent",
        ),
        line(
            2,
            7,
            1,
            "patrol",
            level_pay=300000,
            position_pay=200000,
            performance=50000,
            grade="competent",
        ),
    ]
    [u] = analyse_pay(lines, LAW, MIN).unequal_pay
    assert not u.justified
    assert "same assessment grade (competent)" in u.causes[0].reason


def test_unequal_allowances_and_level_pay():
    lines = [
        line(
            "a",
            7,
            2,
            "clerk",
            level_pay=315000,
            position_pay=150000,
            performance=0,
            allowances={"work_allowance": 35000},
        ),
        line("b", 7, 2, "clerk", level_pay=300000, position_pay=150000, performance=0),
        line(
            "c",
            7,
            2,
            "clerk",
            level_pay=315000,
            position_pay=150000,
            performance=0,
            allowances={"work_allowance": 35000},
        ),
    ]
    [u] = analyse_pay(lines, LAW, MIN).unequal_pay
    assert not u.justified
    causes = {c.component: c for c in u.causes}
    assert set(causes) == {"level_pay", "work_allowance"}
    assert "level and step are the same" in causes["level_pay"].reason
    assert "paid to 2 of 3 people" in causes["work_allowance"].reason
    assert causes["work_allowance"].values == {35000: 2, 0: 1}


def test_unexplained_difference():
    lines = [PayLine(1, 7, 1, "p", 500000, {"x": 1}), PayLine(2, 7, 1, "p", 510000, {"x": 1})]
    [u] = analyse_pay(lines, LAW, MIN).unequal_pay
    assert u.causes[0].component == "unexplained"
    assert not u.justified


def test_groups_are_by_level_step_and_post():
    lines = [
        PayLine(1, 7, 1, "patrol", 500000),
        PayLine(2, 7, 2, "patrol", 520000),  # different step: not unequal
        PayLine(3, 7, 1, "clerk", 450000),  # different post: not unequal
        PayLine(4, 6, 1, "patrol", 560000),  # different level: not unequal
    ]
    assert analyse_pay(lines, LAW, MIN).unequal_pay == []


def test_below_peg_by_level_and_post():
    lines = [
        PayLine(1, 7, 1, "patrol", 450000),
        PayLine(2, 7, 1, "patrol", 450000),
        PayLine(3, 6, 1, "clerk", 600000),
        PayLine(4, 6, 1, "patrol", 520000),
    ]
    c = analyse_pay(lines, LAW, MIN)
    # level 7 average 4,500 = 90% of 5,000; level 6 average 5,600: above.
    # patrol average (4,500 + 4,500 + 5,200) / 3 = 4,733.33 = 94.67%; clerk 6,000: above.
    got = [
        (p.dimension, p.key, p.headcount, p.average_pay, p.pct_of_local_average)
        for p in c.below_peg
    ]
    assert got == [
        ("level", 7, 2, 450000, Decimal("90.00")),
        ("post", "patrol", 3, 473333, Decimal("94.67")),
    ]


def test_negative_wages_refused():
    with pytest.raises(ValueError):
        analyse_pay([], -1, MIN)


@given(st.lists(st.integers(0, 20_000 * Y), max_size=30))
def test_average_between_min_and_max(pays):
    lines = [PayLine(i, 7, 1, "p", pay) for i, pay in enumerate(pays)]
    c = analyse_pay(lines, LAW, MIN)
    if pays:
        assert min(pays) <= c.average_pay <= max(pays)
        assert len(c.below_minimum) == sum(1 for p in pays if p < MIN)
        assert len(c.unequal_pay) == (1 if len(set(pays)) > 1 else 0)
