import math
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.region_code import InvalidRegionCode
from services.roster.quota import (
    Basis,
    Demographics,
    MissingInput,
    QuotaFigures,
    QuotaRule,
    RuleIndex,
    compute_quota,
    overlapping_groups,
    quota_components,
    ratio,
    rollup,
    rules_in_force,
)

ALL = frozenset({"duty", "civilian"})
TODAY = date(2025, 6, 1)


def rule(
    id: int,
    prefix: str,
    basis: str,
    value: str | int,
    cats: frozenset[str] = ALL,
    since: date = date(2020, 1, 1),
) -> QuotaRule:
    return QuotaRule(id, prefix, Basis(basis), Decimal(value), cats, since)


# --- seed figures -----------------------------------------------------------------


def test_seed_15_per_10k_for_825000_gives_1237() -> None:
    figures = compute_quota(
        [rule(1, "34", "per_10k_population", 15)], Demographics(population=825_000), 378
    )
    assert figures.quota == 1237  # 1,237.5 floored
    assert figures.components[0].amount == 1237
    assert figures.available == 1237 - 378 == 859
    assert figures.per_10k_population == Decimal("4.58")  # 378 / 82.5


def test_seed_one_to_one_with_297_police_gives_297() -> None:
    figures = compute_quota(
        [rule(1, "3713", "per_police", "1.0")], Demographics(police_establishment=297), 200
    )
    assert figures.quota == 297
    assert figures.per_police == Decimal("0.67")


def test_seed_henan_1_to_1_with_approved_1_to_1_2() -> None:
    henan = rule(1, "41", "per_police", "1.0")
    severe = rule(2, "4101", "per_police", "1.2", since=date(2024, 1, 1))  # province-approved
    rules = [henan, severe]
    in_zhengzhou = rules_in_force(rules, "410102", TODAY)
    assert in_zhengzhou == [severe]
    demo = Demographics(police_establishment=297)
    assert compute_quota(in_zhengzhou, demo, 0).quota == 356  # 356.4 floored
    in_nanyang = rules_in_force(rules, "411302", TODAY)
    assert in_nanyang == [henan]
    assert compute_quota(in_nanyang, demo, 0).quota == 297
    # before the approval took effect, the 1:1 cap applies in Zhengzhou too
    assert rules_in_force(rules, "410102", date(2023, 12, 31)) == [henan]


def test_seed_inner_mongolia_two_groups_are_summed() -> None:
    traffic = frozenset({"traffic", "public_security_management"})
    other = frozenset({"other"})
    rules = [
        rule(1, "15", "fixed", 120, traffic),  # "according to actual needs"
        rule(2, "15", "per_police", 1, other),  # 1:1 with the police establishment
    ]
    in_force = rules_in_force(rules, "150102", TODAY)
    assert {r.id for r in in_force} == {1, 2}
    figures = compute_quota(in_force, Demographics(825_000, 297), 400, reserved=10)
    assert [c.amount for c in figures.components] == [297, 120]  # sorted by group
    assert figures.quota == 417
    assert figures.available == 7


# --- selection of rules -----------------------------------------------------------


def test_most_specific_rule_wins() -> None:
    national = rule(1, "", "per_10k_population", 15)
    province = rule(2, "37", "per_10k_population", 12)
    city = rule(3, "3713", "per_10k_population", 10)
    county = rule(4, "371327", "per_10k_population", 5)
    rules = [county, national, city, province]
    assert rules_in_force(rules, "371327", TODAY) == [county]
    assert rules_in_force(rules, "371327001", TODAY) == [county]
    assert rules_in_force(rules, "371302", TODAY) == [city]
    assert rules_in_force(rules, "370102", TODAY) == [province]
    assert rules_in_force(rules, "110105", TODAY) == [national]


def test_rule_not_yet_effective_is_ignored() -> None:
    old = rule(1, "37", "per_10k_population", 12, since=date(2020, 1, 1))
    future = rule(2, "3713", "per_10k_population", 15, since=date(2026, 1, 1))
    assert rules_in_force([old, future], "371327", TODAY) == [old]
    assert rules_in_force([old, future], "371327", date(2026, 1, 1)) == [future]
    assert rules_in_force([future], "371327", TODAY) == []


def test_same_prefix_latest_effective_from_wins() -> None:
    v2020 = rule(1, "37", "per_10k_population", 10, since=date(2020, 1, 1))
    v2024 = rule(2, "37", "per_10k_population", 15, since=date(2024, 1, 1))
    assert rules_in_force([v2024, v2020], "371327", TODAY) == [v2024]
    assert rules_in_force([v2024, v2020], "371327", date(2023, 6, 1)) == [v2020]


def test_more_specific_old_rule_beats_newer_general_rule() -> None:
    county_2019 = rule(1, "371327", "fixed", 300, since=date(2019, 1, 1))
    province_2025 = rule(2, "37", "fixed", 500, since=date(2025, 1, 1))
    assert rules_in_force([county_2019, province_2025], "371327", TODAY) == [county_2019]


def test_exact_duplicate_is_resolved_by_largest_id() -> None:
    a = rule(7, "37", "fixed", 100)
    b = rule(9, "37", "fixed", 200)
    assert rules_in_force([a, b], "3713", TODAY) == [b]
    assert rules_in_force([b, a], "3713", TODAY) == [b]


def test_rules_of_other_regions_do_not_apply() -> None:
    assert rules_in_force([rule(1, "41", "fixed", 5)], "371327", TODAY) == []
    # "37" is not a prefix-match for "3" and a 4-digit prefix never matches a province
    assert rules_in_force([rule(1, "3713", "fixed", 5)], "37", TODAY) == []


def test_invalid_region_code_is_refused() -> None:
    with pytest.raises(InvalidRegionCode):
        rules_in_force([], "3713x", TODAY)
    with pytest.raises(InvalidRegionCode):
        rule(1, "371", "fixed", 5)


def test_overlapping_groups_are_reported() -> None:
    a = rule(1, "", "per_10k_population", 15, ALL)
    b = rule(2, "37", "fixed", 10, frozenset({"duty"}))
    c = rule(3, "37", "fixed", 10, frozenset({"traffic"}))
    assert overlapping_groups([a, b, c]) == [(a, b)]


# --- rule and input validation ----------------------------------------------------


def test_rule_coerces_and_validates() -> None:
    r = QuotaRule(1, "15", "per_police", 1.2, ["a", "b"], date(2024, 1, 1))  # type: ignore[arg-type]
    assert r.basis is Basis.PER_POLICE
    assert r.value == Decimal("1.2")
    assert r.post_categories == frozenset({"a", "b"})
    with pytest.raises(ValueError):
        QuotaRule(1, "15", "per_head", Decimal(1), ALL, TODAY)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rule(1, "15", "fixed", -1)
    with pytest.raises(ValueError):
        rule(1, "15", "fixed", 1, frozenset())
    with pytest.raises(ValueError):
        QuotaRule(1, "15", Basis.FIXED, Decimal("NaN"), ALL, TODAY)
    with pytest.raises(TypeError):
        QuotaRule(1, "15", Basis.FIXED, True, ALL, TODAY)  # type: ignore[arg-type]


def test_demographics_validation() -> None:
    with pytest.raises(ValueError):
        Demographics(population=-1)
    with pytest.raises(TypeError):
        Demographics(population=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        compute_quota([], Demographics(), headcount=-1)


# --- components ---------------------------------------------------------------------


def test_each_basis_is_floored_exactly() -> None:
    rules = [
        rule(1, "", "per_10k_population", "2.5", frozenset({"a"})),
        rule(2, "", "per_police", "0.29", frozenset({"b"})),
        rule(3, "", "fixed", "12.9", frozenset({"c"})),
    ]
    amounts = [c.amount for c in quota_components(rules, Demographics(12_345, 100))]
    # 3.08625 → 3; 0.29 × 100 is 28.999999999999996 in binary floating point, 29 here
    assert amounts == [3, 29, 12]


def test_missing_figures_give_zero_with_a_flag() -> None:
    rules = [
        rule(1, "", "per_10k_population", 15, frozenset({"a"})),
        rule(2, "", "per_police", 1, frozenset({"b"})),
        rule(3, "", "fixed", 40, frozenset({"c"})),
    ]
    figures = compute_quota(rules, Demographics(), headcount=10)
    assert [(c.amount, c.missing_input) for c in figures.components] == [
        (0, MissingInput.POPULATION),
        (0, MissingInput.POLICE_ESTABLISHMENT),
        (40, None),
    ]
    assert figures.incomplete
    assert figures.quota == 40
    assert figures.per_10k_population is None
    assert figures.per_police is None


def test_available_never_below_zero() -> None:
    figures = compute_quota([rule(1, "", "fixed", 10)], Demographics(), headcount=9, reserved=3)
    assert figures.available == 0
    assert figures.over_quota == 2


def test_zero_population_gives_no_ratio() -> None:
    figures = compute_quota([], Demographics(0, 0), headcount=0)
    assert figures.quota == 0
    assert figures.per_10k_population is None
    assert figures.per_police is None


def test_ratio_rounds_half_up() -> None:
    assert ratio(1, 8, 2) == Decimal("0.13")  # 0.125
    assert ratio(1, 3, 2) == Decimal("0.33")
    assert ratio(2, 3, 2) == Decimal("0.67")
    assert ratio(5, 1, 2) == Decimal("5.00")
    assert ratio(1, 0) is None
    assert ratio(1, None) is None


# --- roll-up ------------------------------------------------------------------------


def figures(
    quota: int, headcount: int, reserved: int, pop: int | None, police: int | None
) -> QuotaFigures:
    return compute_quota(
        [rule(1, "", "fixed", quota)], Demographics(pop, police), headcount, reserved
    )


def test_rollup_sums_children() -> None:
    totals = rollup(
        [
            ("371302", figures(100, 80, 5, 500_000, 100)),
            ("371327", figures(50, 60, 0, 300_000, None)),  # over quota by 10
            ("371328", figures(30, 10, 0, None, 50)),
        ]
    )
    assert totals.regions == 3
    assert totals.quota == 180
    assert totals.headcount == 150
    assert totals.reserved == 5
    # a county over its quota does not eat its neighbours' free seats
    assert totals.available == 15 + 0 + 20
    assert totals.over_quota == 10
    assert totals.population == 800_000
    assert totals.missing_population == 1
    assert totals.per_10k_population == Decimal("1.75")  # (80 + 60) / 80
    assert totals.police_establishment == 150
    assert totals.per_police == Decimal("0.60")  # (80 + 10) / 150
    assert totals.missing_police == 1


def test_rollup_of_nothing() -> None:
    totals = rollup([])
    assert (totals.regions, totals.quota, totals.available) == (0, 0, 0)
    assert totals.population is None
    assert totals.per_10k_population is None


def test_rollup_refuses_a_region_twice() -> None:
    f = figures(1, 0, 0, None, None)
    with pytest.raises(ValueError):
        rollup([("3713", f), ("3713", f)])


def test_rollup_of_2000_regions() -> None:
    rules = [
        rule(1, "", "per_10k_population", 15),
        rule(2, "37", "per_police", "1.1", frozenset({"patrol"})),
        rule(3, "3713", "fixed", 40, frozenset({"traffic"})),
    ]
    index = RuleIndex(rules)
    codes = [f"37{c:02d}{d:02d}" for c in range(1, 41) for d in range(1, 51)]
    children = [
        (
            code,
            compute_quota(
                index.in_force(code, TODAY), Demographics(500_000 + i, 200 + i % 50), 300
            ),
        )
        for i, code in enumerate(codes)
    ]
    totals = rollup(children)
    assert totals.regions == 2000
    assert totals.quota == sum(f.quota for _, f in children)


# --- properties ---------------------------------------------------------------------

prefixes = st.sampled_from(["", "37", "3713", "371327", "371327001", "41", "4101", "3714"])
codes = st.sampled_from(["371327", "371327001", "371302", "410102", "37", "3714"])
groups = st.sampled_from([ALL, frozenset({"duty"}), frozenset({"traffic", "guard"})])
days = st.dates(min_value=date(2018, 1, 1), max_value=date(2030, 12, 31))
rules_st = st.builds(
    QuotaRule,
    id=st.integers(0, 10_000),
    region_prefix=prefixes,
    basis=st.sampled_from(list(Basis)),
    value=st.decimals(min_value=0, max_value=50, places=2),
    post_categories=groups,
    effective_from=days,
)


@given(st.lists(rules_st, max_size=30), codes, days)
def test_index_agrees_with_linear_scan(rules: list[QuotaRule], code: str, on: date) -> None:
    assert RuleIndex(rules).in_force(code, on) == rules_in_force(rules, code, on)


@given(st.lists(rules_st, max_size=30), st.lists(st.tuples(codes, days), max_size=30))
def test_one_index_answers_many_queries_like_a_linear_scan(
    rules: list[QuotaRule], queries: list[tuple[str, date]]
) -> None:
    index = RuleIndex(rules)
    for code, on in queries + queries:  # the second pass is served from the memo
        assert index.in_force(code, on) == rules_in_force(rules, code, on)


def test_index_memo_does_not_leak_between_regions_sharing_a_chain() -> None:
    rules = [rule(1, "37", "fixed", 10), rule(2, "371327", "fixed", 20)]
    index = RuleIndex(rules)
    assert [r.id for r in index.in_force("371326", TODAY)] == [1]
    assert [r.id for r in index.in_force("371327", TODAY)] == [2]
    assert [r.id for r in index.in_force("371325", TODAY)] == [1]
    assert index.in_force("371325", date(2019, 1, 1)) == []
    returned = index.in_force("371325", TODAY)
    returned.clear()  # callers get their own list
    assert [r.id for r in index.in_force("371325", TODAY)] == [1]


@given(st.lists(rules_st, max_size=30), codes, days)
def test_in_force_is_one_applicable_best_rule_per_group(
    rules: list[QuotaRule], code: str, on: date
) -> None:
    chosen = rules_in_force(rules, code, on)
    assert len({r.post_categories for r in chosen}) == len(chosen)
    for winner in chosen:
        assert winner.effective_from <= on and code.startswith(winner.region_prefix)
        for other in rules:
            if (
                other.post_categories == winner.post_categories
                and other.effective_from <= on
                and code.startswith(other.region_prefix)
            ):
                assert len(other.region_prefix) <= len(winner.region_prefix)
                if len(other.region_prefix) == len(winner.region_prefix):
                    assert other.effective_from <= winner.effective_from
    applicable_groups = {
        r.post_categories
        for r in rules
        if r.effective_from <= on and code.startswith(r.region_prefix)
    }
    assert {r.post_categories for r in chosen} == applicable_groups


@given(
    st.lists(rules_st, max_size=5),
    st.one_of(st.none(), st.integers(0, 50_000_000)),
    st.one_of(st.none(), st.integers(0, 100_000)),
    st.integers(0, 100_000),
    st.integers(0, 1_000),
)
def test_components_match_exact_rational_floor(
    rules: list[QuotaRule], pop: int | None, police: int | None, headcount: int, reserved: int
) -> None:
    figures = compute_quota(rules, Demographics(pop, police), headcount, reserved)
    for r, c in zip(rules, figures.components, strict=True):
        value = Fraction(r.value)
        if r.basis is Basis.PER_10K_POPULATION:
            expected = 0 if pop is None else math.floor(pop * value / 10_000)
        elif r.basis is Basis.PER_POLICE:
            expected = 0 if police is None else math.floor(police * value)
        else:
            expected = math.floor(value)
        assert c.amount == expected
    assert figures.quota == sum(c.amount for c in figures.components)
    assert figures.available == max(0, figures.quota - headcount - reserved)
    assert figures.available >= 0


@given(
    st.lists(
        st.tuples(
            st.integers(0, 5000),
            st.integers(0, 5000),
            st.integers(0, 100),
            st.one_of(st.none(), st.integers(1, 10_000_000)),
        ),
        max_size=20,
    )
)
def test_rollup_totals_are_sums(rows: list[tuple[int, int, int, int | None]]) -> None:
    children = [
        (f"37{i:02d}", figures(q, h, r, p, None)) for i, (q, h, r, p) in enumerate(rows, start=1)
    ]
    totals = rollup(children)
    assert totals.quota == sum(f.quota for _, f in children)
    assert totals.headcount == sum(f.headcount for _, f in children)
    assert totals.available == sum(f.available for _, f in children)
    assert totals.available >= max(0, totals.quota - totals.headcount - totals.reserved)
    assert totals.missing_population == sum(1 for *_, p in rows if p is None)
