from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.compensation.money import (
    div_round,
    fen_str,
    fen_to_decimal,
    mul_rate,
    mul_ratio,
    rate_ratio,
    to_decimal,
    to_fen,
)


@pytest.mark.parametrize(
    ("value", "fen"),
    [
        ("4350.00", 435000),
        ("4350", 435000),
        ("0.01", 1),
        ("0.1", 10),
        ("-12.34", -1234),
        (" 7.50 ", 750),
        ("1.500", 150),  # trailing zero beyond 2 dp is still a whole fen
        (Decimal("36000.00"), 3600000),
        (Decimal("1E+3"), 100000),
        (12, 1200),
        (0, 0),
    ],
)
def test_to_fen(value, fen):
    assert to_fen(value) == fen


@pytest.mark.parametrize(
    "value", ["1.005", "0.001", Decimal("3.141"), "abc", "", "NaN", "Infinity"]
)
def test_to_fen_refuses(value):
    with pytest.raises(ValueError):
        to_fen(value)


@pytest.mark.parametrize("value", [1.5, True, None, [1]])
def test_to_fen_refuses_non_decimal_types(value):
    with pytest.raises(TypeError):
        to_fen(value)


def test_to_decimal():
    assert to_decimal("0.08") == Decimal("0.08")
    assert to_decimal(3) == Decimal(3)
    with pytest.raises(TypeError):
        to_decimal(0.08)  # type: ignore[arg-type]


def test_fen_to_decimal_has_two_places():
    d = fen_to_decimal(435000)
    assert d == Decimal("4350.00")
    assert str(d) == "4350.00"
    assert str(fen_to_decimal(5)) == "0.05"
    assert str(fen_to_decimal(-5)) == "-0.05"
    assert str(fen_to_decimal(0)) == "0.00"


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (435000, "4350.00"),
        (0, "0.00"),
        (5, "0.05"),
        (-5, "-0.05"),
        (-123456, "-1234.56"),
        (100, "1.00"),
    ],
)
def test_fen_str(fen, text):
    assert fen_str(fen) == text


@pytest.mark.parametrize(
    ("n", "d", "q"),
    [
        (5, 10, 1),  # 0.5 → 1 (half up)
        (15, 10, 2),  # 1.5 → 2
        (25, 10, 3),  # 2.5 → 3 (banker's rounding would give 2)
        (24, 10, 2),
        (26, 10, 3),
        (-5, 10, -1),  # symmetric: half away from zero
        (-25, 10, -3),
        (-24, 10, -2),
        (5, -10, -1),
        (-5, -10, 1),
        (0, 7, 0),
        (30000, 174, 172),  # 172.41...
        (30000, 87, 345),  # 344.827... → 345
    ],
)
def test_div_round(n, d, q):
    assert div_round(n, d) == q


def test_div_round_by_zero():
    with pytest.raises(ZeroDivisionError):
        div_round(1, 0)


def test_mul_rate_half_up():
    # 5853.00 yuan × 0.5% = 2926.5 fen → 2927 (half up; banker's would give 2926)
    assert mul_rate(585300, Decimal("0.005")) == 2927
    assert mul_rate(585000, Decimal("0.08")) == 46800
    assert mul_rate(100, Decimal("0.005")) == 1  # 0.5 fen → 1 fen
    assert mul_rate(99, Decimal("0.005")) == 0  # 0.495 fen → 0
    assert mul_rate(500000, Decimal("0.6")) == 300000


def test_rate_ratio_and_mul_ratio():
    assert rate_ratio("0.08") == (2, 25)
    assert rate_ratio(Decimal("0.005")) == (1, 200)
    assert mul_ratio(585300, 1, 200) == 2927


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_div_round_matches_decimal_round_half_up(n, d):
    # Decimal division with a wide context is exact enough at this size
    with localcontext() as ctx:
        ctx.prec = 60
        expected = int((Decimal(n) / Decimal(d)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert div_round(n, d) == expected
    # and never more than half a unit away from the exact value
    assert abs(Fraction(n, d) - div_round(n, d)) <= Fraction(1, 2)


@given(st.integers(-(10**12), 10**12))
def test_fen_round_trip(fen):
    assert to_fen(fen_str(fen)) == fen
    assert to_fen(fen_to_decimal(fen)) == fen


@given(
    st.integers(0, 10**10),
    st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False),
)
def test_mul_rate_matches_decimal(fen, rate):
    expected = int(
        (Decimal(fen) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    )  # exact: fen × 4-place rate fits the default 28-digit context
    assert mul_rate(fen, rate) == expected
