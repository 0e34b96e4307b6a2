from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.compensation.tax import (
    DEFAULT_TAX_TABLE_2019,
    TaxBracket,
    TaxTable,
    TaxTableError,
    WithholdingResult,
    cumulative_withholding,
    tax_table_from_config,
)

Y = 100  # fen per yuan


def simulate(monthly, *, start_month_count=0):
    """Feed cumulative values month by month, as a payroll run would.

    ``monthly`` is a list of (income, employee contributions, special deductions) in fen.
    Returns the list of WithholdingResult.
    """
    income = contrib = special = withheld = 0
    months = start_month_count
    results = []
    for inc, con, spe in monthly:
        income += inc
        contrib += con
        special += spe
        months += 1
        r = cumulative_withholding(
            cumulative_income=income,
            months_employed=months,
            cumulative_employee_contributions=contrib,
            cumulative_special_deductions=special,
            tax_withheld_so_far=withheld,
        )
        withheld += r.tax_this_month
        results.append(r)
    return results


def test_state_taxation_administration_example():
    # Salary 30,000/month, insurance + fund 4,500, special additional deductions 2,000.
    # M1: taxable 30000 - 5000 - 4500 - 2000 = 18,500; × 3% = 555.
    # M2: taxable 37,000 (> 36,000): × 10% - 2,520 = 1,180; 1,180 - 555 = 625.
    # M3: taxable 55,500: × 10% - 2,520 = 3,030; 3,030 - 1,180 = 1,850.
    r = simulate([(30000 * Y, 4500 * Y, 2000 * Y)] * 3)
    assert [x.tax_this_month for x in r] == [555 * Y, 625 * Y, 1850 * Y]
    assert [x.cumulative_taxable_income for x in r] == [18500 * Y, 37000 * Y, 55500 * Y]
    assert [x.cumulative_tax for x in r] == [555 * Y, 1180 * Y, 3030 * Y]


def test_mid_year_hire_counts_only_months_employed():
    # Joined in July: 10,000/month, contributions 1,000, no special deductions.
    # July is months_employed = 1: taxable 10000 - 5000 - 1000 = 4,000; × 3% = 120.
    # August, months_employed = 2: taxable 8,000 → 240; 240 - 120 = 120.
    r = simulate([(10000 * Y, 1000 * Y, 0)] * 2)
    assert [x.tax_this_month for x in r] == [120 * Y, 120 * Y]
    # Counting January-July (7 months) would have wrongly given taxable 0:
    wrong = cumulative_withholding(
        cumulative_income=10000 * Y,
        months_employed=7,
        cumulative_employee_contributions=1000 * Y,
        cumulative_special_deductions=0,
        tax_withheld_so_far=0,
    )
    assert wrong.cumulative_taxable_income == 0
    assert wrong.tax_this_month == 0


def test_crossing_a_bracket():
    # 20,000/month, nothing but the basic deduction: 15,000 taxable per month.
    # M1: 15,000 × 3% = 450.        M2: 30,000 × 3% = 900; 900 - 450 = 450.
    # M3: 45,000 × 10% - 2,520 = 1,980; 1,980 - 900 = 1,080.
    # M4: 60,000 × 10% - 2,520 = 3,480; 3,480 - 1,980 = 1,500.
    r = simulate([(20000 * Y, 0, 0)] * 4)
    assert [x.tax_this_month for x in r] == [450 * Y, 450 * Y, 1080 * Y, 1500 * Y]


def test_negative_increment_gives_zero_not_a_refund():
    # M1: a 100,000 month: taxable 95,000 × 10% - 2,520 = 6,980.
    # M2: no pay: cumulative taxable 100,000 - 10,000 = 90,000 → 6,480 < 6,980 → 0, no refund.
    # M3: 20,000: taxable 120,000 - 15,000 = 105,000 → 7,980; 7,980 - 6,980 = 1,000.
    r = simulate([(100000 * Y, 0, 0), (0, 0, 0), (20000 * Y, 0, 0)])
    assert [x.tax_this_month for x in r] == [6980 * Y, 0, 1000 * Y]
    assert r[1].cumulative_tax == 6480 * Y


def test_cumulative_taxable_floored_at_zero():
    r = cumulative_withholding(
        cumulative_income=3000 * Y,
        months_employed=1,
        cumulative_employee_contributions=500 * Y,
        cumulative_special_deductions=0,
        tax_withheld_so_far=0,
    )
    assert r == WithholdingResult(0, 0, 0)


def test_custom_basic_deduction_and_table():
    flat = TaxTable((TaxBracket(None, Decimal("0.1"), 0),))
    r = cumulative_withholding(
        cumulative_income=10000 * Y,
        months_employed=1,
        cumulative_employee_contributions=0,
        cumulative_special_deductions=0,
        tax_withheld_so_far=0,
        table=flat,
        basic_deduction_per_month=0,
    )
    assert r.tax_this_month == 1000 * Y


@pytest.mark.parametrize("months", [0, 13, -1])
def test_months_employed_range(months):
    with pytest.raises(ValueError):
        cumulative_withholding(
            cumulative_income=0,
            months_employed=months,
            cumulative_employee_contributions=0,
            cumulative_special_deductions=0,
            tax_withheld_so_far=0,
        )


@pytest.mark.parametrize(
    ("taxable", "tax"),
    [
        (0, 0),
        (-100, 0),
        (16, 0),  # 0.48 fen → 0
        (50, 2),  # 1.5 fen → 2 (half up)
        (17, 1),  # 0.51 fen → 1
        (36000 * Y, 1080 * Y),
        (36000 * Y + 1, 1080 * Y),  # 360,000.1 - 252,000 fen = 108,000.1 → 108,000: continuous
        (144000 * Y, 11880 * Y),  # 14,400 - 2,520
        (1000000 * Y, 268080 * Y),  # 450,000 - 181,920
    ],
)
def test_tax_on(taxable, tax):
    assert DEFAULT_TAX_TABLE_2019.tax_on(taxable) == tax


def test_default_table_shape():
    b = DEFAULT_TAX_TABLE_2019.brackets
    assert len(b) == 7
    assert b[0] == TaxBracket(3600000, Decimal("0.03"), 0)
    assert b[-1] == TaxBracket(None, Decimal("0.45"), 18192000)


def br(upper, rate, qd):
    return TaxBracket(upper, Decimal(rate), qd)


@pytest.mark.parametrize(
    ("brackets", "loc"),
    [
        ((), []),
        ((br(100, "0.1", 0),), [0, "upper"]),  # last bounded
        ((br(None, "0.1", 0), br(None, "0.2", 0)), [0, "upper"]),  # middle unbounded
        ((br(200, "0.1", 0), br(100, "0.2", 20), br(None, "0.3", 30)), [1, "upper"]),
        ((br(0, "0.1", 0), br(None, "0.2", 0)), [0, "upper"]),
        ((br(None, "1.5", 0),), [0, "rate"]),
        ((br(None, "-0.1", 0),), [0, "rate"]),
        ((br(100, "0.2", 0), br(None, "0.1", 0)), [1, "rate"]),  # regressive
        ((br(None, "0.1", -1),), [0, "quick_deduction"]),
        ((br(100, "0.1", 0), br(None, "0.2", 11)), [1, "quick_deduction"]),  # should be 10
    ],
)
def test_table_validation(brackets, loc):
    with pytest.raises(TaxTableError) as e:
        TaxTable(brackets)
    assert e.value.loc == loc


def test_2019_table_with_typo_in_quick_deduction_is_refused():
    cfg = DEFAULT_TAX_TABLE_2019.to_config()
    cfg[1]["quick_deduction"] = "2250"
    with pytest.raises(TaxTableError) as e:
        tax_table_from_config(cfg)
    assert e.value.loc == [1, "quick_deduction"]
    assert "2520.00" in str(e.value)


def test_tax_table_from_config():
    assert tax_table_from_config(None) is DEFAULT_TAX_TABLE_2019
    cfg = [
        {"upper": "36000.00", "rate": "0.03", "quick_deduction": "0"},
        {"upper": "144000", "rate": "0.10", "quick_deduction": "2520"},
        {"upper": "300000", "rate": "0.20", "quick_deduction": "16920.00"},
        {"upper": "420000", "rate": "0.25", "quick_deduction": "31920"},
        {"upper": "660000", "rate": "0.30", "quick_deduction": "52920"},
        {"upper": "960000", "rate": "0.35", "quick_deduction": "85920"},
        {"upper": None, "rate": "0.45", "quick_deduction": "181920"},
    ]
    assert tax_table_from_config(cfg) == DEFAULT_TAX_TABLE_2019
    assert tax_table_from_config(DEFAULT_TAX_TABLE_2019.to_config()) == DEFAULT_TAX_TABLE_2019


@pytest.mark.parametrize(
    ("cfg", "loc"),
    [
        ("nope", []),
        ({"upper": None}, []),
        ([1], [0]),
        ([{"upper": None, "rate": "0.1"}], [0, "quick_deduction"]),
        ([{"upper": None, "rate": 0.1, "quick_deduction": "0"}], [0, "rate"]),
        ([{"upper": None, "rate": "x", "quick_deduction": "0"}], [0, "rate"]),
        ([{"upper": "1.001", "rate": "0.1", "quick_deduction": "0"}], [0, "upper"]),
        ([{"upper": None, "rate": "0.1", "quick_deduction": "0.001"}], [0, "quick_deduction"]),
        ([{"upper": None, "rate": "0.1", "quick_deduction": "0", "x": 1}], [0]),
        ([], []),
    ],
)
def test_tax_table_from_config_errors(cfg, loc):
    with pytest.raises(TaxTableError) as e:
        tax_table_from_config(cfg)
    assert e.value.loc == loc


monthly_amounts = st.lists(
    st.tuples(
        st.integers(0, 200_000 * Y),  # income
        st.integers(0, 10_000 * Y),  # employee contributions
        st.integers(0, 5_000 * Y),  # special deductions
    ),
    min_size=1,
    max_size=12,
)


@given(monthly_amounts)
def test_tax_never_negative_and_withheld_is_running_max(monthly):
    results = simulate(monthly)
    withheld = 0
    running_max = 0
    for r in results:
        assert r.tax_this_month >= 0
        assert r.cumulative_taxable_income >= 0
        withheld += r.tax_this_month
        running_max = max(running_max, r.cumulative_tax)
        # no refunds: total withheld is the highest cumulative tax seen so far
        assert withheld == running_max


@given(st.integers(0, 100_000 * Y), st.integers(0, 10_000 * Y), st.integers(1, 12))
def test_steady_pay_withholds_exactly_the_annual_tax(income, contrib, months):
    # With the same pay each month the cumulative taxable never decreases, so the sum of
    # monthly tax equals the tax on the whole period.
    results = simulate([(income, contrib, 0)] * months)
    annual_taxable = max(0, (income - contrib - 5000 * Y) * months)
    assert sum(r.tax_this_month for r in results) == DEFAULT_TAX_TABLE_2019.tax_on(annual_taxable)


@given(st.integers(0, 2_000_000 * Y), st.integers(0, 2_000_000 * Y))
def test_tax_on_is_monotone(a, b):
    lo, hi = sorted((a, b))
    assert DEFAULT_TAX_TABLE_2019.tax_on(lo) <= DEFAULT_TAX_TABLE_2019.tax_on(hi)
