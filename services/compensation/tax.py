"""Individual income tax on wages by cumulative withholding (累计预扣法, since 2019).

Cumulative taxable income = cumulative income − basic deduction (5,000 yuan) × months
employed this year − cumulative employee social insurance and housing fund −
cumulative special additional deductions, floored at 0.

Cumulative tax = cumulative taxable × rate − quick deduction of its bracket, rounded
once to the fen (see ``money``). Tax this month = cumulative tax − tax already withheld
this year, floored at 0: nothing is refunded mid-year (the annual reconciliation,
汇算清缴, settles any over-withholding).

All amounts are integer fen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from services.compensation.money import fen_str, to_decimal, to_fen

__all__ = [
    "BASIC_DEDUCTION_PER_MONTH",
    "DEFAULT_TAX_TABLE_2019",
    "TaxBracket",
    "TaxTable",
    "TaxTableError",
    "WithholdingResult",
    "cumulative_withholding",
    "tax_table_from_config",
]

BASIC_DEDUCTION_PER_MONTH = 500_000  # 5,000.00 yuan in fen


class TaxTableError(ValueError):
    """A tax table is malformed. ``loc`` points at the offending entry/field."""

    def __init__(self, msg: str, loc: Sequence[str | int] = ()) -> None:
        super().__init__(msg)
        self.msg = msg
        self.loc: list[str | int] = list(loc)


@dataclass(frozen=True, slots=True)
class TaxBracket:
    """One bracket: cumulative taxable income up to ``upper`` fen (``None`` = unbounded)."""

    upper: int | None
    rate: Decimal
    quick_deduction: int


@dataclass(frozen=True, slots=True)
class TaxTable:
    """An annual progressive table, validated on construction.

    Rules: at least one bracket; uppers strictly ascending and positive; only the last
    bracket unbounded; rates in [0, 1] and non-decreasing; quick deductions ≥ 0 and
    consistent, i.e. each equals the previous one plus previous upper × (rate − previous
    rate), so that the tax is continuous at every bracket boundary (this catches typos
    such as 2250 for 2520).
    """

    brackets: tuple[TaxBracket, ...]
    # (upper or None, rate numerator, rate denominator, quick deduction × denominator)
    _fast: tuple[tuple[int | None, int, int, int], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        brackets = tuple(self.brackets)
        object.__setattr__(self, "brackets", brackets)
        if not brackets:
            raise TaxTableError("a tax table needs at least one bracket")
        prev_upper: int | None = None
        prev_rate = Fraction(0)
        prev_qd = 0
        fast: list[tuple[int | None, int, int, int]] = []
        for i, b in enumerate(brackets):
            last = i == len(brackets) - 1
            if not isinstance(b.rate, Decimal) or not b.rate.is_finite():
                raise TaxTableError("rate must be a finite Decimal", [i, "rate"])
            if not Decimal(0) <= b.rate <= Decimal(1):
                raise TaxTableError("rate must be between 0 and 1", [i, "rate"])
            if b.quick_deduction < 0:
                raise TaxTableError("quick deduction cannot be negative", [i, "quick_deduction"])
            if last and b.upper is not None:
                raise TaxTableError("the last bracket must be unbounded (upper null)", [i, "upper"])
            if not last:
                if b.upper is None:
                    raise TaxTableError("only the last bracket may be unbounded", [i, "upper"])
                if b.upper <= 0 or (prev_upper is not None and b.upper <= prev_upper):
                    raise TaxTableError(
                        "uppers must be positive and strictly ascending", [i, "upper"]
                    )
            rate = Fraction(b.rate)
            if rate < prev_rate:
                raise TaxTableError("rates must not decrease from bracket to bracket", [i, "rate"])
            if i > 0:
                assert prev_upper is not None
                expected = prev_qd + prev_upper * (rate - prev_rate)
                if b.quick_deduction != expected:
                    raise TaxTableError(
                        f"quick deduction should be {_fmt_fraction_fen(expected)} so that the "
                        "tax is continuous at the previous upper",
                        [i, "quick_deduction"],
                    )
            n, d = b.rate.as_integer_ratio()
            fast.append((b.upper, n, d, b.quick_deduction * d))
            prev_upper, prev_rate, prev_qd = b.upper, rate, b.quick_deduction
        object.__setattr__(self, "_fast", tuple(fast))

    def tax_on(self, cumulative_taxable: int) -> int:
        """Tax in fen on a cumulative taxable income in fen (≥ 0), rounded once."""
        if cumulative_taxable <= 0:
            return 0
        for upper, n, d, qd_d in self._fast:
            if upper is None or cumulative_taxable <= upper:
                numer = cumulative_taxable * n - qd_d
                return (2 * numer + d) // (2 * d) if numer > 0 else 0
        raise AssertionError("unreachable: the last bracket is unbounded")  # pragma: no cover

    def to_config(self) -> list[dict[str, str | None]]:
        """The JSON config shape accepted by ``tax_table_from_config``."""
        return [
            {
                "upper": None if b.upper is None else _fen_plain(b.upper),
                "rate": str(b.rate),
                "quick_deduction": _fen_plain(b.quick_deduction),
            }
            for b in self.brackets
        ]


def _fen_plain(fen: int) -> str:
    return fen_str(fen)


def _fmt_fraction_fen(x: Fraction) -> str:
    if x.denominator == 1:
        return _fen_plain(int(x))
    return f"{Decimal(x.numerator) / Decimal(x.denominator) / 100} (not a whole fen)"


def _y(yuan: int) -> int:
    return yuan * 100


DEFAULT_TAX_TABLE_2019 = TaxTable(
    (
        TaxBracket(_y(36_000), Decimal("0.03"), 0),
        TaxBracket(_y(144_000), Decimal("0.10"), _y(2_520)),
        TaxBracket(_y(300_000), Decimal("0.20"), _y(16_920)),
        TaxBracket(_y(420_000), Decimal("0.25"), _y(31_920)),
        TaxBracket(_y(660_000), Decimal("0.30"), _y(52_920)),
        TaxBracket(_y(960_000), Decimal("0.35"), _y(85_920)),
        TaxBracket(None, Decimal("0.45"), _y(181_920)),
    )
)
"""The annual comprehensive-income table of 2019 (amounts in fen)."""


def tax_table_from_config(obj: Iterable[Mapping[str, Any]] | None) -> TaxTable:
    """Build a table from JSON config; ``None`` gives ``DEFAULT_TAX_TABLE_2019``.

    Shape: ``[{"upper": "36000.00" | null, "rate": "0.03", "quick_deduction": "0"}, ...]``
    with yuan amounts as decimal strings (ints accepted, floats refused). Raises
    ``TaxTableError`` (a ``ValueError``) with ``loc`` set.
    """
    if obj is None:
        return DEFAULT_TAX_TABLE_2019
    if isinstance(obj, str | bytes | Mapping) or not isinstance(obj, Iterable):
        raise TaxTableError("tax_table must be null or a list of brackets")
    brackets: list[TaxBracket] = []
    for i, entry in enumerate(obj):
        if not isinstance(entry, Mapping):
            raise TaxTableError("a bracket must be an object", [i])
        unknown = set(entry) - {"upper", "rate", "quick_deduction"}
        if unknown:
            raise TaxTableError(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}", [i])
        for key in ("upper", "rate", "quick_deduction"):
            if key not in entry:
                raise TaxTableError("field required", [i, key])
        try:
            upper = None if entry["upper"] is None else to_fen(entry["upper"])
        except (TypeError, ValueError) as e:
            raise TaxTableError(str(e), [i, "upper"]) from None
        try:
            rate = to_decimal(entry["rate"])
        except (TypeError, ValueError) as e:
            raise TaxTableError(str(e), [i, "rate"]) from None
        try:
            qd = to_fen(entry["quick_deduction"])
        except (TypeError, ValueError) as e:
            raise TaxTableError(str(e), [i, "quick_deduction"]) from None
        brackets.append(TaxBracket(upper, rate, qd))
    return TaxTable(tuple(brackets))


@dataclass(frozen=True, slots=True)
class WithholdingResult:
    """Cumulative taxable income, cumulative tax due, and the tax to withhold this month (fen)."""

    cumulative_taxable_income: int
    cumulative_tax: int
    tax_this_month: int


def cumulative_withholding(
    *,
    cumulative_income: int,
    months_employed: int,
    cumulative_employee_contributions: int,
    cumulative_special_deductions: int,
    tax_withheld_so_far: int,
    table: TaxTable = DEFAULT_TAX_TABLE_2019,
    basic_deduction_per_month: int = BASIC_DEDUCTION_PER_MONTH,
) -> WithholdingResult:
    """Tax to withhold this month by the cumulative method; all cumulative figures include
    this month, and ``months_employed`` counts only months employed this year (1-12).

    Cumulative taxable income is floored at 0; the tax this month is never negative.
    """
    if not 1 <= months_employed <= 12:
        raise ValueError("months_employed must be between 1 and 12 (it includes this month)")
    taxable = (
        cumulative_income
        - basic_deduction_per_month * months_employed
        - cumulative_employee_contributions
        - cumulative_special_deductions
    )
    if taxable < 0:
        taxable = 0
    cum_tax = table.tax_on(taxable)
    this_month = cum_tax - tax_withheld_so_far
    return WithholdingResult(taxable, cum_tax, this_month if this_month > 0 else 0)
