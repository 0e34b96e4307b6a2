import copy
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.compensation.payslip import calculate_payslip
from services.compensation.schedule_rules import (
    InvalidSchedule,
    NoPay,
    NoPayForLevel,
    NoPayForPost,
    PaySchedule,
    ScheduleProblem,
    UnknownGrade,
    normalise_grade,
    rates_for,
    resolve_most_specific,
    validate_schedule,
)
from services.compensation.tax import DEFAULT_TAX_TABLE_2019

# The example body from api.md, "Compensation".
API_EXAMPLE = {
    "level_pay": {"7": ["3000.00", "3150.00"], "6": ["3400.00", "3570.00"]},
    "position_pay": {"patrol": "2000.00", "clerk": "1500.00"},
    "performance_pay": {
        "excellent": "800.00",
        "competent": "500.00",
        "basically_competent": "200.00",
        "incompetent": "0.00",
        "none": "0.00",
    },
    "allowances": [{"name": "work_allowance", "amount": "350.00", "posts": None}],
    "contributions": {
        "pension": {"employer": "0.16", "employee": "0.08"},
        "medical": {"employer": "0.06", "employee": "0.02"},
        "unemployment": {"employer": "0.005", "employee": "0.005"},
        "work_injury": {"employer": "0.004", "employee": "0"},
        "maternity": {"employer": "0.008", "employee": "0"},
        "housing_fund": {"employer": "0.07", "employee": "0.07"},
    },
    "base_floor_ratio": "0.6",
    "base_cap_ratio": "3",
    "local_average_wage": "5000.00",
    "minimum_wage": "1980.00",
    "tax_table": None,
}


def payload(**changes):
    d = copy.deepcopy(API_EXAMPLE)
    for k, v in changes.items():
        if v is ...:
            del d[k]
        else:
            d[k] = v
    return d


def locs(d):
    return [p.loc for p in validate_schedule(d)]


def test_api_example_is_valid():
    assert validate_schedule(API_EXAMPLE) == []
    s = PaySchedule.from_payload(API_EXAMPLE)
    assert s.level_pay == {7: (300000, 315000), 6: (340000, 357000)}
    assert s.position_pay == {"patrol": 200000, "clerk": 150000}
    assert s.performance_pay["excellent"] == 80000
    assert s.minimum_wage == 198000
    assert s.local_average_wage == 500000
    assert s.tax_table is DEFAULT_TAX_TABLE_2019
    assert s.contributions.floor == 300000
    assert s.contributions.cap == 1500000
    assert s.levels == range(6, 8)


def test_not_an_object():
    assert validate_schedule([]) == [ScheduleProblem([], "must be an object")]


def test_missing_and_unknown_fields():
    problems = locs(payload(minimum_wage=..., bonus="1"))
    assert ["minimum_wage"] in problems
    assert ["bonus"] in problems


def test_tax_table_may_be_omitted():
    assert validate_schedule(payload(tax_table=...)) == []


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"position_pay": {"patrol": "-1.00"}}, ["position_pay", "patrol"]),
        ({"position_pay": {"patrol": 2000.0}}, ["position_pay", "patrol"]),  # float refused
        ({"position_pay": {"patrol": "20.001"}}, ["position_pay", "patrol"]),
        ({"position_pay": {"patrol": "abc"}}, ["position_pay", "patrol"]),
        ({"position_pay": {}}, ["position_pay"]),
        ({"level_pay": {"7": ["3000.00", "-5"]}}, ["level_pay", "7", 1]),
        ({"level_pay": {"7": []}}, ["level_pay", "7"]),
        ({"level_pay": {"7": "3000.00"}}, ["level_pay", "7"]),
        ({"level_pay": {"seven": ["3000.00"]}}, ["level_pay", "seven"]),
        ({"level_pay": {"0": ["3000.00"]}}, ["level_pay", "0"]),
        ({"level_pay": {}}, ["level_pay"]),
        ({"base_floor_ratio": "-0.1"}, ["base_floor_ratio"]),
        ({"base_cap_ratio": "0"}, ["base_cap_ratio"]),
        ({"base_floor_ratio": "3.5"}, ["base_floor_ratio"]),  # floor above cap
        ({"local_average_wage": "0"}, ["local_average_wage"]),
        ({"minimum_wage": "5000.01"}, ["minimum_wage"]),  # above the local average wage
        ({"tax_table": "2019"}, ["tax_table"]),
        (
            {"tax_table": [{"upper": "100", "rate": "0.1", "quick_deduction": "0"}]},
            ["tax_table", 0, "upper"],
        ),
        (
            {"tax_table": [{"upper": None, "rate": "1.2", "quick_deduction": "0"}]},
            ["tax_table", 0, "rate"],
        ),
        (
            {"tax_table": [{"upper": None, "rate": 0.1, "quick_deduction": "0"}]},
            ["tax_table", 0, "rate"],
        ),
    ],
)
def test_single_problem(changes, loc):
    assert loc in locs(payload(**changes))


def test_level_gaps():
    problems = validate_schedule(
        payload(level_pay={"7": ["1"], "5": ["1"], "3": ["1"], "6": ["1"]})
    )
    assert len(problems) == 1
    assert problems[0].loc == ["level_pay"]
    assert "missing 4" in problems[0].msg


@pytest.mark.parametrize(
    "levels",
    [
        {str(i): ["3000.00"] for i in range(1, 8)},
        {str(i): ["3000.00"] for i in range(3, 8)},
        {"4": ["3000.00"]},
        {7: ["3000.00"], 6: ["3400.00"]},  # int keys (non-JSON callers) accepted
    ],
)
def test_contiguous_levels_ok(levels):
    assert validate_schedule(payload(level_pay=levels)) == []


def test_rates():
    bad = copy.deepcopy(API_EXAMPLE["contributions"])
    bad["pension"]["employer"] = "1.6"
    bad["medical"]["employee"] = "-0.02"
    del bad["unemployment"]["employee"]
    bad["housing_fund"]["extra"] = "1"
    bad["pensions"] = {"employer": "0.1", "employee": "0.1"}
    problems = locs(payload(contributions=bad))
    assert ["contributions", "pension", "employer"] in problems
    assert ["contributions", "medical", "employee"] in problems
    assert ["contributions", "unemployment", "employee"] in problems
    assert ["contributions", "housing_fund", "extra"] in problems
    assert ["contributions", "pensions"] in problems


def test_missing_contribution_items_are_allowed():
    c = copy.deepcopy(API_EXAMPLE["contributions"])
    del c["maternity"]  # merged into medical insurance in many places since 2019
    assert validate_schedule(payload(contributions=c)) == []
    s = PaySchedule.from_payload(payload(contributions=c))
    assert s.rates_for(7, 1, "patrol", None).employer_contributions["maternity"] == 0


def test_performance_grades():
    perf = dict(API_EXAMPLE["performance_pay"])
    del perf["incompetent"]
    perf["outstanding"] = "900.00"
    problems = locs(payload(performance_pay=perf))
    assert ["performance_pay", "incompetent"] in problems
    assert ["performance_pay", "outstanding"] in problems


def test_allowance_problems():
    allowances = [
        {"name": "work_allowance", "amount": "350.00", "posts": None},
        {"name": "work_allowance", "amount": "100.00", "posts": None},
        {"name": "", "amount": "1.00", "posts": None},
        {"name": "night", "amount": "-1.00", "posts": None},
        {"name": "traffic", "amount": "50.00", "posts": ["traffic"]},
        {"name": "hot", "amount": "50.00", "posts": []},
        {"name": "x", "posts": None},
        {"name": "y", "amount": "1", "posts": None, "z": 1},
        "nope",
    ]
    problems = locs(payload(allowances=allowances))
    assert ["allowances", 1, "name"] in problems
    assert ["allowances", 2, "name"] in problems
    assert ["allowances", 3, "amount"] in problems
    assert ["allowances", 4, "posts", 0] in problems  # post without position pay
    assert ["allowances", 5, "posts"] in problems
    assert ["allowances", 6, "amount"] in problems
    assert ["allowances", 7, "z"] in problems
    assert ["allowances", 8] in problems


def test_every_problem_is_reported_at_once():
    d = payload(
        position_pay={"patrol": "-1"},
        base_floor_ratio="x",
        minimum_wage="9000",
        level_pay={"1": ["1"], "3": ["1"]},
    )
    problems = locs(d)
    assert len(problems) == 4
    with pytest.raises(InvalidSchedule) as e:
        PaySchedule.from_payload(d)
    assert len(e.value.problems) == 4
    assert isinstance(e.value, ValueError)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["1e999999999", "-1", "0.005", "NaN", "3000.00", "patrol", "7"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["7", "name", "posts"]), children, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.sampled_from([*API_EXAMPLE, "anything"]), json_values)
def test_validate_never_crashes_on_a_bad_field(key, value):
    # Bad input must give problems, never an exception (no bare 500s).
    d = payload()
    d[key] = value
    problems = validate_schedule(d)
    assert all(isinstance(p, ScheduleProblem) for p in problems)
    if problems:
        with pytest.raises(InvalidSchedule):
            PaySchedule.from_payload(d)
    else:
        PaySchedule.from_payload(d)


NESTED_PATHS = [
    ("level_pay", "7"),
    ("level_pay", "7", 0),
    ("position_pay", "patrol"),
    ("performance_pay", "none"),
    ("allowances", 0),
    ("allowances", 0, "posts"),
    ("allowances", 0, "amount"),
    ("allowances", 0, "name"),
    ("contributions", "pension"),
    ("contributions", "pension", "employee"),
]


@settings(max_examples=300)
@given(st.sampled_from(NESTED_PATHS), json_values)
def test_validate_never_crashes_on_a_bad_nested_field(path, value):
    d = payload()
    target = d
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    problems = validate_schedule(d)
    if not problems:
        PaySchedule.from_payload(d).rates_for(7, 1, "patrol", None)


@settings(max_examples=200)
@given(json_values)
def test_validate_never_crashes_on_any_json(value):
    assert isinstance(validate_schedule(value), list)


# ------------------------------------------------------------------- rates_for

SCHEDULE = PaySchedule.from_payload(
    payload(
        allowances=[
            {"name": "work_allowance", "amount": "350.00", "posts": None},
            {"name": "patrol_allowance", "amount": "200.00", "posts": ["patrol"]},
        ]
    )
)


def test_rates_for():
    r = SCHEDULE.rates_for(7, 2, "patrol", "excellent")
    assert (r.level_pay, r.position_pay, r.performance_pay) == (315000, 200000, 80000)
    assert r.allowances == (("work_allowance", 35000), ("patrol_allowance", 20000))
    # fixed 3,150 + 2,000 + 800 + 350 + 200 = 6,500
    assert r.fixed_pay == 650000
    clerk = SCHEDULE.rates_for(6, 1, "clerk", None)
    assert clerk.allowances == (("work_allowance", 35000),)
    assert clerk.performance_pay == 0  # "none"
    assert clerk.fixed_pay == 340000 + 150000 + 35000


def test_rates_for_step_beyond_table_uses_last_step():
    assert SCHEDULE.rates_for(7, 9, "patrol", None).level_pay == 315000


def test_rates_for_accepts_chinese_grades():
    assert SCHEDULE.rates_for(7, 1, "patrol", "优秀").performance_pay == 80000
    assert normalise_grade("基本称职") == "basically_competent"
    assert normalise_grade(None) == "none"


def test_rates_for_errors():
    with pytest.raises(NoPayForLevel):
        SCHEDULE.rates_for(5, 1, "patrol", None)
    with pytest.raises(NoPayForPost):
        SCHEDULE.rates_for(7, 1, "detective", None)
    with pytest.raises(UnknownGrade):
        SCHEDULE.rates_for(7, 1, "patrol", "great")
    with pytest.raises(ValueError):
        SCHEDULE.rates_for(7, 0, "patrol", None)
    assert issubclass(NoPayForLevel, NoPay)
    assert issubclass(NoPayForLevel, ValueError)


def test_rates_for_caches():
    assert SCHEDULE.rates_for(7, 1, "patrol", "competent") is SCHEDULE.rates_for(
        7, 1, "patrol", "称职"
    )


def test_module_rates_for_accepts_payload_or_schedule():
    a = rates_for(API_EXAMPLE, 7, 1, "patrol", "competent")
    b = rates_for(SCHEDULE, 7, 1, "patrol", "competent")
    assert a.fixed_pay == 585000
    assert b.fixed_pay == 605000  # patrol allowance in SCHEDULE
    with pytest.raises(InvalidSchedule):
        rates_for(payload(level_pay={}), 7, 1, "patrol", None)


def test_schedule_to_payslip_end_to_end():
    # api.md example, level 7 step 1 patrol competent: fixed 5,850 (see test_payslip)
    p = calculate_payslip(rates_for(API_EXAMPLE, 7, 1, "patrol", "competent"))
    assert p.gross == 585000
    assert p.net == 482625
    assert p.employer_cost == 764595


def test_custom_tax_table():
    table = [
        {"upper": "10000.00", "rate": "0.05", "quick_deduction": "0"},
        {"upper": None, "rate": "0.1", "quick_deduction": "500"},
    ]
    s = PaySchedule.from_payload(payload(tax_table=table))
    assert s.tax_table.brackets[1].rate == Decimal("0.1")
    assert s.rates_for(7, 1, "patrol", None).tax_table is s.tax_table


# ------------------------------------------------------------------- resolve_most_specific

SCHEDULES = [
    ("37", date(2025, 1, 1), "shandong-2025"),
    ("37", date(2026, 1, 1), "shandong-2026"),
    ("3713", date(2024, 1, 1), "linyi-2024"),
    ("371327", date(2026, 7, 1), "junan-2026-07"),
    ("15", date(2020, 1, 1), "inner-mongolia"),
]


@pytest.mark.parametrize(
    ("region", "on", "expected"),
    [
        ("371327", date(2026, 3, 1), "linyi-2024"),  # Junan's own not yet in force
        ("371327", date(2026, 7, 1), "junan-2026-07"),  # effective on its first day
        ("371327001", date(2026, 8, 1), "junan-2026-07"),  # a street under Junan
        ("3713", date(2023, 12, 31), None),  # nothing for Linyi yet, Shandong not before 2025
        ("3701", date(2025, 6, 1), "shandong-2025"),
        ("3701", date(2026, 6, 1), "shandong-2026"),  # latest for an equal prefix
        ("1501", date(2026, 1, 1), "inner-mongolia"),
        ("44", date(2026, 1, 1), None),
    ],
)
def test_resolve_most_specific(region, on, expected):
    found = resolve_most_specific(SCHEDULES, region, on)
    assert (found[2] if found else None) == expected


def test_resolve_returns_the_whole_entry_and_national_prefix():
    entries = [("", date(2019, 1, 1), "national"), *SCHEDULES]
    assert resolve_most_specific(entries, "44", date(2026, 1, 1)) == (
        "",
        date(2019, 1, 1),
        "national",
    )
    assert resolve_most_specific([], "37", date(2026, 1, 1)) is None


def test_resolve_does_not_match_a_sibling_with_a_shared_prefix_string():
    # "3713" is not a prefix of "3701": a prefix must match from the start.
    assert (
        resolve_most_specific([("3713", date(2020, 1, 1), "x")], "3701", date(2026, 1, 1)) is None
    )
