"""Payslip tests. Hand-worked figures are explained in comments (yuan unless noted).

The standard person below (api.md example schedule): level 7 step 1 = 3,000, post patrol
= 2,000, grade competent = 500, work allowance 350.
  base pay 5,000; fixed monthly pay 5,850; local average wage 5,000 so the contribution
  base is clamped to [3,000, 15,000] → 5,850.
  employee: pension 8% 468.00, medical 2% 117.00, unemployment 0.5% 29.25,
            work injury 0, maternity 0, housing fund 7% 409.50 → 1,023.75
  employer: pension 16% 936.00, medical 6% 351.00, unemployment 0.5% 29.25,
            work injury 0.4% 23.40, maternity 0.8% 46.80, housing fund 7% 409.50 → 1,795.95
"""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.compensation.money import to_fen
from services.compensation.payslip import (
    CONTRIBUTION_ITEMS,
    FULL_PERIOD,
    START_OF_YEAR,
    ContributionRules,
    ItemRates,
    PayInputs,
    PayRates,
    Payslip,
    Proration,
    YearToDate,
    calculate_payslip,
)

D = Decimal
Y = 100


def rules(**overrides) -> ContributionRules:
    rates = {
        "pension": ItemRates(D("0.16"), D("0.08")),
        "medical": ItemRates(D("0.06"), D("0.02")),
        "unemployment": ItemRates(D("0.005"), D("0.005")),
        "work_injury": ItemRates(D("0.004"), D("0")),
        "maternity": ItemRates(D("0.008"), D("0")),
        "housing_fund": ItemRates(D("0.07"), D("0.07")),
    }
    args = {
        "rates": rates,
        "base_floor_ratio": D("0.6"),
        "base_cap_ratio": D("3"),
        "local_average_wage": 5000 * Y,
    }
    args.update(overrides)
    return ContributionRules(**args)


RULES = rules()


def standard(performance=500 * Y, **kw) -> PayRates:
    return PayRates(
        level_pay=kw.pop("level_pay", 3000 * Y),
        position_pay=kw.pop("position_pay", 2000 * Y),
        performance_pay=performance,
        allowances=kw.pop("allowances", [("work_allowance", 350 * Y)]),
        contributions=kw.pop("contributions", RULES),
        **kw,
    )


STANDARD = standard()


def check_identities(p: Payslip) -> None:
    assert p.base_pay == p.level_pay + p.position_pay
    assert p.allowances_total == sum(a for _, a in p.allowances)
    assert p.overtime_pay == p.overtime_weekday + p.overtime_rest_day + p.overtime_holiday
    assert p.gross == (
        p.base_pay
        + p.performance_pay
        + p.allowances_total
        + p.overtime_pay
        + p.awards
        - p.unpaid_leave_deduction
    )
    assert p.employee_contributions_total == sum(p.employee_contributions.values())
    assert p.employer_contributions_total == sum(p.employer_contributions.values())
    assert p.net + p.employee_contributions_total + p.tax + p.deductions == p.gross
    assert p.employer_cost == p.gross + p.employer_contributions_total
    assert p.gross >= 0
    assert p.tax >= 0


def test_rates_precomputed():
    r = STANDARD
    assert r.base_pay == 5000 * Y
    assert r.fixed_pay == 5850 * Y
    assert r.contribution_base == 5850 * Y
    assert dict(r.employee_contributions) == {
        "pension": 46800,
        "medical": 11700,
        "unemployment": 2925,
        "work_injury": 0,
        "maternity": 0,
        "housing_fund": 40950,
    }
    assert r.employee_contributions_total == 102375
    assert dict(r.employer_contributions) == {
        "pension": 93600,
        "medical": 35100,
        "unemployment": 2925,
        "work_injury": 2340,
        "maternity": 4680,
        "housing_fund": 40950,
    }
    assert r.employer_contributions_total == 179595
    assert list(r.employee_contributions) == list(CONTRIBUTION_ITEMS)


def test_plain_month():
    # gross 5,850; taxable 5,850 - 5,000 - 1,023.75 < 0 → tax 0
    # net 5,850 - 1,023.75 = 4,826.25; employer cost 5,850 + 1,795.95 = 7,645.95
    p = calculate_payslip(STANDARD, PayInputs(), FULL_PERIOD, START_OF_YEAR)
    check_identities(p)
    assert p.gross == 585000
    assert p.tax == 0
    assert p.cumulative_taxable_income == 0
    assert p.net == 482625
    assert p.employer_cost == 764595
    assert p.allowances == (("work_allowance", 35000),)
    assert p.months_employed == 1


def test_busy_month():
    # overtime weekday 4 h: 5,000 × 4 × 1.5 / 174 = 172.413… → 172.41
    # rest day 8 h:         5,000 × 8 × 2 / 174   = 459.770… → 459.77
    # holiday 3 h:          5,000 × 3 × 3 / 174   = 258.620… → 258.62   total 890.80
    # unpaid leave 1.5 d:   5,000 × 1.5 / 21.75   = 344.827… → 344.83
    # gross = 5,850 + 890.80 + 200 (award) - 344.83 = 6,595.97
    # taxable = 6,595.97 - 5,000 - 1,023.75 = 572.22; × 3% = 17.1666 → 17.17
    # net = 6,595.97 - 1,023.75 - 17.17 - 100 (deduction) = 5,455.05
    # employer cost = 6,595.97 + 1,795.95 = 8,391.92
    inputs = PayInputs(
        overtime_weekday_hours=D("4"),
        overtime_rest_day_hours=D("8"),
        overtime_holiday_hours=D("3"),
        unpaid_leave_days=D("1.5"),
        awards=200 * Y,
        deductions=100 * Y,
    )
    p = calculate_payslip(STANDARD, inputs, FULL_PERIOD, START_OF_YEAR)
    check_identities(p)
    assert (p.overtime_weekday, p.overtime_rest_day, p.overtime_holiday) == (17241, 45977, 25862)
    assert p.overtime_pay == 89080
    assert p.unpaid_leave_deduction == 34483
    assert p.gross == 659597
    assert p.cumulative_taxable_income == 57222
    assert p.tax == 1717
    assert p.net == 545505
    assert p.employer_cost == 839192


def test_fractional_overtime_hours_rounded_once():
    # 1.5 weekday hours: 5,000 × 1.5 × 1.5 / 174 = 64.655… → 64.66
    # (hourly wage first rounded, 28.74 × 1.5 × 1.5 = 64.665 → 64.67, would be wrong)
    p = calculate_payslip(STANDARD, PayInputs(overtime_weekday_hours=D("1.5")))
    assert p.overtime_weekday == 6466


def test_proration_for_a_joiner():
    # Joined on the 15th of a 31-day month: 17/31 of fixed pay, each item rounded once.
    # level 3,000 × 17/31 = 1,645.161… → 1,645.16; position 2,000 × 17/31 = 1,096.774… → 1,096.77
    # performance 500 × 17/31 = 274.193… → 274.19; allowance 350 × 17/31 = 191.935… → 191.94
    # fixed = 1,645.16 + 1,096.77 + 274.19 + 191.94 = 3,208.06
    # contributions on the un-prorated 5,850: employee 1,023.75
    # overtime weekday 4 h still on the full monthly base: 172.41
    # gross 3,380.47; taxable < 0; net = 3,380.47 - 1,023.75 = 2,356.72
    p = calculate_payslip(
        STANDARD, PayInputs(overtime_weekday_hours=D(4)), Proration(17, 31), START_OF_YEAR
    )
    check_identities(p)
    assert (p.level_pay, p.position_pay, p.base_pay) == (164516, 109677, 274193)
    assert p.performance_pay == 27419
    assert p.allowances == (("work_allowance", 19194),)
    assert p.overtime_weekday == 17241
    assert p.gross == 338047
    assert p.contribution_base == 585000
    assert p.employee_contributions_total == 102375
    assert p.net == 235672


def test_zero_days_employed():
    p = calculate_payslip(STANDARD, PayInputs(), Proration(0, 30))
    check_identities(p)
    assert p.gross == 0
    assert p.net == -102375  # contributions still due on the un-prorated base: shown as is


def test_unpaid_leave_clamped_to_fixed_pay():
    # 30 days: 5,000 × 30 / 21.75 = 6,896.55 > fixed pay 5,850 → deduction 5,850.
    # Overtime 172.41 and the 200 award are not eaten: gross = 372.41.
    p = calculate_payslip(
        STANDARD,
        PayInputs(unpaid_leave_days=D(30), overtime_weekday_hours=D(4), awards=200 * Y),
    )
    check_identities(p)
    assert p.unpaid_leave_deduction == 585000
    assert p.gross == 37241


def test_unpaid_leave_clamped_in_prorated_month():
    # fixed 3,208.06 (see the joiner test); 20 days = 4,597.70 → clamped to 3,208.06
    p = calculate_payslip(STANDARD, PayInputs(unpaid_leave_days=D(20)), Proration(17, 31))
    assert p.unpaid_leave_deduction == 320806
    assert p.gross == 0


def test_contribution_rounds_half_up():
    # fixed 5,853 (performance 503): unemployment 0.5% = 29.265 → 29.27 (banker's: 29.26)
    r = standard(performance=503 * Y)
    assert r.contribution_base == 585300
    assert r.employee_contributions["unemployment"] == 2927
    assert r.employer_contributions["unemployment"] == 2927


def test_contribution_base_clamped():
    # floor 0.6 × 5,000 = 3,000; cap 3 × 5,000 = 15,000
    low = standard(level_pay=1500 * Y, position_pay=500 * Y, performance=0, allowances=[])
    assert low.fixed_pay == 2000 * Y
    assert low.contribution_base == 3000 * Y
    assert low.employee_contributions["pension"] == 240 * Y
    high = standard(level_pay=20000 * Y)
    assert high.contribution_base == 15000 * Y
    assert high.employee_contributions["pension"] == 1200 * Y


def test_floor_and_cap_rounded_once():
    # 0.6 × 4,321.01 = 2,592.606 → 2,592.61; 3 × 4,321.01 = 12,963.03
    r = rules(local_average_wage=432101)
    assert (r.floor, r.cap) == (259261, 1296303)


def test_missing_items_are_zero():
    r = ContributionRules({"pension": ItemRates(D("0.16"), D("0.08"))}, D("0.6"), D("3"), 5000 * Y)
    amounts = r.employee_amounts(5000 * Y)
    assert amounts == dict.fromkeys(CONTRIBUTION_ITEMS, 0) | {"pension": 400 * Y}


def test_three_months_cumulative_tax():
    # level 9,000 + position 3,000 + performance 800 + allowance 350 = fixed 13,150
    # employee: 8% 1,052 + 2% 263 + 0.5% 65.75 + 7% 920.50 = 2,301.25
    # special additional deductions 1,000/month.
    # M1: taxable 13,150 - 5,000 - 2,301.25 - 1,000 = 4,848.75; × 3% = 145.4625 → 145.46
    # M2: 9,697.50 × 3% = 290.925 → 290.93; 290.93 - 145.46 = 145.47
    # M3: 14,546.25 × 3% = 436.3875 → 436.39; 436.39 - 290.93 = 145.46
    r = standard(level_pay=9000 * Y, position_pay=3000 * Y, performance=800 * Y)
    assert r.employee_contributions_total == 230125
    inputs = PayInputs(special_additional_deductions=1000 * Y)
    ytd = START_OF_YEAR
    taxes = []
    for month in range(1, 4):
        p = calculate_payslip(r, inputs, FULL_PERIOD, ytd)
        check_identities(p)
        assert p.months_employed == month
        taxes.append(p.tax)
        ytd = p.year_to_date()
    assert taxes == [14546, 14547, 14546]
    assert ytd == YearToDate(
        cumulative_income=3 * 1315000,
        months_employed=3,
        cumulative_employee_contributions=3 * 230125,
        cumulative_special_deductions=3 * 100000,
        tax_withheld_so_far=43639,
    )


def test_state_taxation_administration_example_through_payslips():
    # Salary 30,000, insurance and fund 4,500 (15% of 30,000), special 2,000:
    # tax 555, 625, 1,850 (see test_tax).
    contrib = ContributionRules(
        {"pension": ItemRates(D("0"), D("0.15"))}, D("0"), D("3"), 10000 * Y
    )
    r = PayRates(30000 * Y, 0, 0, [], contrib)
    assert r.employee_contributions_total == 4500 * Y
    ytd = START_OF_YEAR
    taxes = []
    for _ in range(3):
        p = calculate_payslip(r, PayInputs(special_additional_deductions=2000 * Y), ytd=ytd)
        taxes.append(p.tax)
        ytd = p.year_to_date()
    assert taxes == [555 * Y, 625 * Y, 1850 * Y]


def test_mid_year_hire_ytd_starts_empty():
    # Hired in July: no earlier runs this year, so START_OF_YEAR and months_employed = 1.
    r = standard(level_pay=9000 * Y, position_pay=3000 * Y, performance=800 * Y)
    p = calculate_payslip(r, PayInputs(), FULL_PERIOD, START_OF_YEAR)
    # taxable 13,150 - 5,000 - 2,301.25 = 5,848.75 × 3% = 175.4625 → 175.46
    assert p.tax == 17546


def test_no_refund_after_an_unpaid_month():
    # A big award in month 1, then a month of unpaid leave: tax 0, not negative.
    # Leave is reckoned on base pay only: 31 days × 12,000 / 21.75 = 17,103.45, more than
    # the fixed pay 13,150, so the deduction is clamped to 13,150 and gross is 0.
    # (A plain 21.75 days would deduct exactly the base pay, leaving performance pay and
    # allowances: the rule in api.md reckons leave from base pay.)
    r = standard(level_pay=9000 * Y, position_pay=3000 * Y, performance=800 * Y)
    p1 = calculate_payslip(r, PayInputs(awards=50000 * Y))
    assert p1.tax > 0
    p2 = calculate_payslip(r, PayInputs(unpaid_leave_days=D(31)), ytd=p1.year_to_date())
    assert p2.gross == 0
    assert p2.cumulative_tax < p1.tax
    assert p2.tax == 0
    assert p2.tax_withheld_to_date == p1.tax


def test_deductions_larger_than_pay_give_negative_net():
    p = calculate_payslip(STANDARD, PayInputs(deductions=10000 * Y))
    check_identities(p)
    assert p.net == 482625 - 1000000


def test_custom_basic_deduction():
    r = standard(basic_deduction_per_month=0)
    p = calculate_payslip(r, PayInputs())
    # taxable 5,850 - 1,023.75 = 4,826.25 × 3% = 144.7875 → 144.79
    assert p.tax == 14479


def test_to_api_strings():
    p = calculate_payslip(STANDARD, PayInputs(overtime_weekday_hours=D(4)))
    out = p.to_api()
    assert out["base_pay"] == "5000.00"
    assert out["allowances"] == "350.00"
    assert out["overtime_pay"] == "172.41"
    assert out["employee_contributions"]["unemployment"] == "29.25"
    assert out["employer_contributions_total"] == "1795.95"
    assert out["gross"] == "6022.41"
    for key in (
        "base_pay",
        "performance_pay",
        "allowances",
        "overtime_pay",
        "awards",
        "unpaid_leave_deduction",
        "gross",
        "contribution_base",
        "employee_contributions",
        "employee_contributions_total",
        "employer_contributions",
        "employer_contributions_total",
        "cumulative_taxable_income",
        "tax",
        "net",
        "employer_cost",
    ):
        assert key in out


def test_payslip_dicts_are_independent_copies():
    p = calculate_payslip(STANDARD)
    p.employee_contributions["pension"] = 0
    assert STANDARD.employee_contributions["pension"] == 46800
    assert calculate_payslip(STANDARD).employee_contributions["pension"] == 46800


# ------------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    "kwargs",
    [
        {"overtime_weekday_hours": D(-1)},
        {"overtime_rest_day_hours": D("-0.5")},
        {"overtime_holiday_hours": D("NaN")},
        {"unpaid_leave_days": D(-1)},
        {"awards": -1},
        {"deductions": -1},
        {"special_additional_deductions": -1},
    ],
)
def test_pay_inputs_refuse_negative(kwargs):
    with pytest.raises(ValueError):
        PayInputs(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"overtime_weekday_hours": 1.5},
        {"unpaid_leave_days": 1},
        {"awards": D("1.00")},
        {"awards": True},
    ],
)
def test_pay_inputs_refuse_wrong_types(kwargs):
    with pytest.raises(TypeError):
        PayInputs(**kwargs)


@pytest.mark.parametrize(("n", "d"), [(1, 0), (-1, 30), (31, 30), (0, -1)])
def test_proration_validation(n, d):
    with pytest.raises(ValueError):
        Proration(n, d)


@pytest.mark.parametrize(
    "kwargs",
    [{"months_employed": 12}, {"months_employed": -1}, {"cumulative_income": -1}],
)
def test_ytd_validation(kwargs):
    with pytest.raises(ValueError):
        YearToDate(**kwargs)


def test_contribution_rules_validation():
    with pytest.raises(ValueError):
        rules(rates={"pensions": ItemRates(D("0.1"), D("0.1"))})
    with pytest.raises(ValueError):
        rules(base_floor_ratio=D("4"))
    with pytest.raises(ValueError):
        ItemRates(D("1.01"), D(0))
    with pytest.raises(ValueError):
        ItemRates(D(0), D("-0.01"))
    with pytest.raises(TypeError):
        ItemRates(0.1, D(0))  # type: ignore[arg-type]


def test_pay_rates_validation():
    with pytest.raises(ValueError):
        standard(allowances=[("a", 1), ("a", 2)])
    with pytest.raises(ValueError):
        standard(performance=-1)
    with pytest.raises(TypeError):
        standard(level_pay=D("3000"))


# ------------------------------------------------------------------- properties

money = st.integers(0, 30_000 * Y)
hours = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
rate = st.decimals(min_value=0, max_value=D("0.2"), places=3, allow_nan=False, allow_infinity=False)


@st.composite
def contribution_rules(draw):
    rates = {
        item: ItemRates(draw(rate), draw(rate))
        for item in CONTRIBUTION_ITEMS
        if draw(st.booleans()) or item == "pension"
    }
    floor = draw(st.decimals(min_value=0, max_value=1, places=2))
    cap = draw(st.decimals(min_value=floor, max_value=5, places=2))
    return ContributionRules(rates, floor, cap, draw(st.integers(0, 20_000 * Y)))


@st.composite
def pay_rates(draw):
    names = draw(st.lists(st.sampled_from(["work", "meal", "traffic", "night"]), unique=True))
    return PayRates(
        level_pay=draw(money),
        position_pay=draw(money),
        performance_pay=draw(st.integers(0, 2_000 * Y)),
        allowances=[(n, draw(st.integers(0, 1_000 * Y))) for n in names],
        contributions=draw(contribution_rules()),
    )


@st.composite
def pay_inputs(draw):
    return PayInputs(
        overtime_weekday_hours=draw(hours),
        overtime_rest_day_hours=draw(hours),
        overtime_holiday_hours=draw(hours),
        unpaid_leave_days=draw(
            st.decimals(min_value=0, max_value=31, places=1, allow_nan=False, allow_infinity=False)
        ),
        awards=draw(st.integers(0, 5_000 * Y)),
        deductions=draw(st.integers(0, 5_000 * Y)),
        special_additional_deductions=draw(st.integers(0, 5_000 * Y)),
    )


@st.composite
def prorations(draw):
    d = draw(st.integers(28, 31))
    return Proration(draw(st.integers(0, d)), d)


@st.composite
def year_to_dates(draw):
    months = draw(st.integers(0, 11))
    return YearToDate(
        cumulative_income=draw(st.integers(0, 30_000 * Y * months)),
        months_employed=months,
        cumulative_employee_contributions=draw(st.integers(0, 5_000 * Y * months)),
        cumulative_special_deductions=draw(st.integers(0, 5_000 * Y * months)),
        tax_withheld_so_far=draw(st.integers(0, 5_000 * Y * months)),
    )


def q(x: Decimal) -> int:
    """Reference rounding: Decimal half up to the fen, returned in fen."""
    return to_fen(x.quantize(D("0.01"), rounding=ROUND_HALF_UP))


def reference(r: PayRates, i: PayInputs, pr: Proration, ytd: YearToDate) -> Payslip:
    """An independent Decimal implementation of the same rules, for cross-checking."""
    y = D("0.01")  # fen → yuan
    pn, pd = D(pr.numerator), D(pr.denominator)
    level = q(r.level_pay * y * pn / pd)
    position = q(r.position_pay * y * pn / pd)
    perf = q(r.performance_pay * y * pn / pd)
    allow = tuple((n, q(a * y * pn / pd)) for n, a in r.allowances)
    fixed = level + position + perf + sum(a for _, a in allow)
    mbase = (r.level_pay + r.position_pay) * y
    ot = [
        q(mbase * i.overtime_weekday_hours * D("1.5") / 174),
        q(mbase * i.overtime_rest_day_hours * 2 / 174),
        q(mbase * i.overtime_holiday_hours * 3 / 174),
    ]
    leave = min(q(mbase * i.unpaid_leave_days / D("21.75")), fixed)
    gross = fixed + sum(ot) + i.awards - leave
    c = r.contributions
    full_fixed = r.level_pay + r.position_pay + r.performance_pay + sum(a for _, a in r.allowances)
    floor = q(c.local_average_wage * y * c.base_floor_ratio)
    cap = q(c.local_average_wage * y * c.base_cap_ratio)
    base = min(max(full_fixed, floor), cap)
    zero = ItemRates(D(0), D(0))
    emp = {k: q(base * y * c.rates.get(k, zero).employee) for k in CONTRIBUTION_ITEMS}
    er = {k: q(base * y * c.rates.get(k, zero).employer) for k in CONTRIBUTION_ITEMS}
    months = ytd.months_employed + 1
    cum_income = ytd.cumulative_income + gross
    cum_c = ytd.cumulative_employee_contributions + sum(emp.values())
    cum_s = ytd.cumulative_special_deductions + i.special_additional_deductions
    taxable = max(0, cum_income - 500000 * months - cum_c - cum_s)
    cum_tax = 0
    for b in r.tax_table.brackets:
        if b.upper is None or taxable <= b.upper:
            cum_tax = max(0, q(taxable * y * b.rate - b.quick_deduction * y))
            break
    tax = max(0, cum_tax - ytd.tax_withheld_so_far)
    return Payslip(
        level,
        position,
        level + position,
        perf,
        allow,
        sum(a for _, a in allow),
        ot[0],
        ot[1],
        ot[2],
        sum(ot),
        i.awards,
        leave,
        gross,
        base,
        emp,
        sum(emp.values()),
        er,
        sum(er.values()),
        months,
        cum_income,
        cum_c,
        cum_s,
        taxable,
        cum_tax,
        tax,
        ytd.tax_withheld_so_far + tax,
        i.deductions,
        gross - sum(emp.values()) - tax - i.deductions,
        gross + sum(er.values()),
    )


@settings(max_examples=300)
@given(pay_rates(), pay_inputs(), prorations(), year_to_dates())
def test_payslip_identities_and_reference(r, i, pr, ytd):
    p = calculate_payslip(r, i, pr, ytd)
    check_identities(p)
    assert p.unpaid_leave_deduction <= p.base_pay + p.performance_pay + p.allowances_total
    assert p == reference(r, i, pr, ytd)


@given(pay_rates(), pay_inputs(), prorations())
def test_prorated_pay_never_exceeds_full_pay(r, i, pr):
    full = calculate_payslip(r, PayInputs(), FULL_PERIOD)
    part = calculate_payslip(r, PayInputs(), pr)
    assert part.base_pay <= full.base_pay
    assert part.gross <= full.gross


@given(contribution_rules(), money, money)
def test_contributions_monotone_in_base(c, a, b):
    lo, hi = sorted((a, b))
    lo_ee, hi_ee = c.employee_amounts(c.base_for(lo)), c.employee_amounts(c.base_for(hi))
    lo_er, hi_er = c.employer_amounts(c.base_for(lo)), c.employer_amounts(c.base_for(hi))
    assert c.floor <= c.base_for(lo) <= c.base_for(hi) <= c.cap
    for item in CONTRIBUTION_ITEMS:
        assert lo_ee[item] <= hi_ee[item]
        assert lo_er[item] <= hi_er[item]


@given(pay_rates(), hours, hours)
def test_overtime_monotone_in_hours(r, a, b):
    lo, hi = sorted((a, b))
    p_lo = calculate_payslip(r, PayInputs(overtime_weekday_hours=lo, overtime_holiday_hours=lo))
    p_hi = calculate_payslip(r, PayInputs(overtime_weekday_hours=hi, overtime_holiday_hours=hi))
    assert p_lo.overtime_pay <= p_hi.overtime_pay
    # 300% holiday hours never pay less than 150% weekday hours
    assert p_lo.overtime_holiday >= p_lo.overtime_weekday
