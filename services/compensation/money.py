"""Money as integer fen (分), and the one rounding rule.

Inside the compensation service every amount is an ``int`` number of fen
(1 yuan = 100 fen). Amounts cross the API as decimal strings such as ``"4350.00"``;
``to_fen`` and ``fen_str`` convert at the edge. Floats are never accepted.

THE ROUNDING RULE
-----------------
Round half up to the fen: a result that lies exactly halfway between two fen goes
to the one farther from zero (``Decimal``'s ``ROUND_HALF_UP``; symmetric, so
-0.5 fen becomes -1 fen). Everything else goes to the nearest fen.

The rule is applied **once per line item**, to the exact rational result of that
item: each contribution item (base × rate), each kind of overtime pay
(base × hours × multiplier ÷ 174), the unpaid-leave deduction
(base × days ÷ 21.75), each prorated pay component, the contribution floor and
cap (ratio × local average wage) and the cumulative tax. Totals are plain sums of
already-rounded line items and are never rounded again. Intermediate results are
never rounded: they are exact integers or exact fractions.

``mul_rate`` and ``div_round`` implement the rule with integer arithmetic only.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = [
    "FEN_PER_YUAN",
    "div_round",
    "fen_str",
    "fen_to_decimal",
    "mul_rate",
    "mul_ratio",
    "rate_ratio",
    "to_decimal",
    "to_fen",
]

FEN_PER_YUAN = 100
_MAX_ADJUSTED = 17  # |value| < 1e18
_MIN_ADJUSTED = -30


def to_decimal(value: Decimal | str | int) -> Decimal:
    """Parse a decimal string, ``int`` or ``Decimal`` exactly.

    Refuses floats and bools (``TypeError``), and NaN, ±inf and magnitudes of 1e18 or
    more / below 1e-30 (``ValueError``).
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise TypeError(f"expected a decimal string, int or Decimal, not {type(value).__name__}")
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    elif isinstance(value, int):
        value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    if value and not _MIN_ADJUSTED <= value.adjusted() <= _MAX_ADJUSTED:
        # Guards against "1e999999999": no money or rate is anywhere near these magnitudes.
        raise ValueError(f"number out of range: {value!r}")
    return value


def to_fen(value: Decimal | str | int) -> int:
    """Yuan (decimal string, ``int`` or ``Decimal``) to integer fen, exactly.

    ``"4350.00"`` → 435000, ``12`` → 1200. More than two decimals that are not zero
    (``"1.005"``) raise ``ValueError``; trailing zeros (``"1.500"``) are accepted
    because the value is still a whole number of fen.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value * FEN_PER_YUAN
    d = to_decimal(value)
    fen = d.scaleb(2)
    if fen != fen.to_integral_value():
        raise ValueError(f"more than 2 decimal places: {value!r}")
    return int(fen)


def fen_to_decimal(fen: int) -> Decimal:
    """Integer fen to a ``Decimal`` with exactly 2 decimal places (435000 → Decimal('4350.00'))."""
    return Decimal(fen).scaleb(-2)


def fen_str(fen: int) -> str:
    """Integer fen to the API's decimal string: 435000 → ``"4350.00"``, -5 → ``"-0.05"``."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(-fen if fen < 0 else fen, 100)
    return f"{sign}{yuan}.{cents:02d}"


def div_round(numer: int, denom: int) -> int:
    """``numer / denom`` rounded by the rounding rule (half away from zero), exactly."""
    if denom == 0:
        raise ZeroDivisionError("div_round by zero")
    if denom < 0:
        numer, denom = -numer, -denom
    if numer >= 0:
        return (2 * numer + denom) // (2 * denom)
    return -((-2 * numer + denom) // (2 * denom))


def rate_ratio(rate: Decimal | str | int) -> tuple[int, int]:
    """A rate as an exact ``(numerator, denominator)`` pair of ints, denominator > 0.

    Precompute this once per rate and use ``mul_ratio`` in loops.
    """
    n, d = to_decimal(rate).as_integer_ratio()
    return n, d


def mul_ratio(fen: int, numerator: int, denominator: int) -> int:
    """``fen × numerator / denominator`` rounded once by the rounding rule."""
    return div_round(fen * numerator, denominator)


def mul_rate(fen: int, rate: Decimal) -> int:
    """``fen × rate`` rounded once by the rounding rule (e.g. 585300 × 0.005 → 2927)."""
    n, d = rate_ratio(rate)
    return div_round(fen * n, d)
