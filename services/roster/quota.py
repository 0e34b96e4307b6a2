"""Quota rules: how many auxiliaries a region may employ.

Pure domain logic (no I/O). Conventions:

- A rule is set on a region-code prefix ("" is national, "41" Henan, "410102" a county)
  and covers one *group* of post categories (a frozenset of free-form labels such as
  ``{"duty", "civilian"}`` or ``{"traffic", "public_security_management"}``).
- Groups are matched by exact equality. For each group, the rule in force is the one
  with the longest prefix of the region code, then the latest ``effective_from`` not
  after the day asked about, then the largest id (ids are assumed to grow; the API
  should refuse exact duplicates anyway). Overlapping but unequal groups are *not*
  merged: each contributes its own component. ``overlapping_groups`` finds such
  pairs so the API layer can warn about or refuse them.
- Every component is floored to whole people with exact integer arithmetic on the
  rule's ``Decimal`` value (no binary floating point anywhere).
- Ratios shown in reports (auxiliaries per 10,000 residents, auxiliaries per police
  officer) are rounded half-up to 2 decimal places.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import combinations

from services.common import region_code as rc

RuleId = int | str


class Basis(StrEnum):
    """How a rule turns demographics into seats."""

    PER_10K_POPULATION = "per_10k_population"  # value per 10,000 residents
    PER_POLICE = "per_police"  # auxiliaries per police officer: 1.0 means 1:1
    FIXED = "fixed"  # an approved number


class MissingInput(StrEnum):
    """Which demographic figure a component needed but did not get."""

    POPULATION = "population"
    POLICE_ESTABLISHMENT = "police_establishment"


def to_decimal(value: object, what: str = "value") -> Decimal:
    """Coerce an int, str, float (via its repr) or Decimal to a finite Decimal."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number, not a bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"{what} is not a number: {value!r}") from exc
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise TypeError(f"{what} must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{what} must be finite")
    return result


def ratio(numerator: int, denominator: int | None, places: int = 2) -> Decimal | None:
    """numerator / denominator rounded half-up to `places`, exactly; None when undefined.

    Both operands are non-negative whole numbers (head counts, populations).
    """
    if denominator is None or denominator <= 0:
        return None
    if numerator < 0:
        raise ValueError("numerator must not be negative")
    quotient, remainder = divmod(numerator * 10**places, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return Decimal(quotient).scaleb(-places)


def _id_key(value: RuleId) -> tuple[int, int, str]:
    """A total order over mixed int/str ids (ints first), for deterministic tie-breaks."""
    if isinstance(value, int):
        return (0, value, "")
    return (1, 0, value)


def _check_count(value: int | None, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be a whole number")
    if value < 0:
        raise ValueError(f"{what} must not be negative")


@dataclass(frozen=True, slots=True)
class QuotaRule:
    """One rule: `value` seats per `basis` for a group of post categories under a prefix."""

    id: RuleId
    region_prefix: str
    basis: Basis
    value: Decimal
    post_categories: frozenset[str]
    effective_from: date
    # value as an exact fraction (numerator, denominator), computed once
    _ratio: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "basis", Basis(self.basis))
        value = to_decimal(self.value, "value")
        if value < 0:
            raise ValueError("value must not be negative")
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "_ratio", value.as_integer_ratio())
        rc.validate_scope(self.region_prefix)
        categories = frozenset(self.post_categories)
        if not categories:
            raise ValueError("a rule covers at least one post category")
        if any(not isinstance(c, str) or not c for c in categories):
            raise ValueError("post categories are non-empty strings")
        object.__setattr__(self, "post_categories", categories)

    def applies_to(self, region_code: str) -> bool:
        """True when the rule's prefix covers the region."""
        return region_code.startswith(self.region_prefix)


@dataclass(frozen=True, slots=True)
class Demographics:
    """A region's figures for the year; None when not recorded."""

    population: int | None = None
    police_establishment: int | None = None

    def __post_init__(self) -> None:
        _check_count(self.population, "population")
        _check_count(self.police_establishment, "police_establishment")


@dataclass(frozen=True, slots=True)
class QuotaComponent:
    """What one rule contributes, floored to whole people."""

    rule_id: RuleId
    basis: Basis
    value: Decimal
    post_categories: frozenset[str]
    amount: int
    missing_input: MissingInput | None = None

    @property
    def incomplete(self) -> bool:
        """True when the amount is 0 only because a demographic figure is missing."""
        return self.missing_input is not None


@dataclass(frozen=True, slots=True)
class QuotaFigures:
    """A region's quota line. `available` is never below zero."""

    quota: int
    headcount: int
    reserved: int
    available: int
    per_10k_population: Decimal | None  # headcount per 10,000 residents, 2 dp
    per_police: Decimal | None  # headcount per police officer, 2 dp
    components: tuple[QuotaComponent, ...]
    population: int | None = None
    police_establishment: int | None = None

    @property
    def incomplete(self) -> bool:
        """True when some component lacked the population or police figure."""
        return any(c.incomplete for c in self.components)

    @property
    def over_quota(self) -> int:
        """Seats held (headcount + reserved) beyond the quota; 0 when within it."""
        return max(0, self.headcount + self.reserved - self.quota)


def _precedence(rule: QuotaRule) -> tuple[int, date, tuple[int, int, str]]:
    return (len(rule.region_prefix), rule.effective_from, _id_key(rule.id))


def _group_key(rule: QuotaRule) -> tuple[str, ...]:
    return tuple(sorted(rule.post_categories))


def rules_in_force(rules: Iterable[QuotaRule], region_code: str, on: date) -> list[QuotaRule]:
    """For each post-category group, the most specific rule in force on `on`.

    Most specific: longest prefix of `region_code`; then latest `effective_from`
    (not after `on`); then largest id. The result is sorted by group.
    """
    rc.validate(region_code)
    best: dict[frozenset[str], QuotaRule] = {}
    for rule in rules:
        if rule.effective_from > on or not region_code.startswith(rule.region_prefix):
            continue
        current = best.get(rule.post_categories)
        if current is None or _precedence(rule) > _precedence(current):
            best[rule.post_categories] = rule
    return sorted(best.values(), key=_group_key)


_PREFIX_LENGTHS = (0, 2, 4, 6, 9)
_CACHE_LIMIT = 4096


class RuleIndex:
    """Rules indexed by prefix, for computing many regions' quotas quickly.

    A look-up visits only the rules set on the region's own ancestors (at most five
    prefixes), and the answer is memoised per chain of rule-bearing prefixes and day.
    So the 80 counties of a city that have no rules of their own share one
    computation. An index is immutable: build a new one when the rules change.
    """

    __slots__ = ("_by_prefix", "_cache")

    def __init__(self, rules: Iterable[QuotaRule]) -> None:
        by_prefix: defaultdict[str, list[QuotaRule]] = defaultdict(list)
        for rule in rules:
            by_prefix[rule.region_prefix].append(rule)
        self._by_prefix: dict[str, tuple[QuotaRule, ...]] = {
            prefix: tuple(group) for prefix, group in by_prefix.items()
        }
        self._cache: dict[tuple[tuple[str, ...], date], tuple[QuotaRule, ...]] = {}

    def in_force(self, region_code: str, on: date) -> list[QuotaRule]:
        """Same result as `rules_in_force(all_rules, region_code, on)`."""
        rc.validate(region_code)
        size = len(region_code)
        chain = tuple(
            prefix
            for prefix in (region_code[:n] for n in _PREFIX_LENGTHS if n <= size)
            if prefix in self._by_prefix
        )
        key = (chain, on)
        found = self._cache.get(key)
        if found is None:
            candidates = [rule for prefix in chain for rule in self._by_prefix[prefix]]
            found = tuple(rules_in_force(candidates, region_code, on))
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        return list(found)


def overlapping_groups(rules: Sequence[QuotaRule]) -> list[tuple[QuotaRule, QuotaRule]]:
    """Pairs of rules whose groups share a category without being equal.

    Such rules are summed independently, which counts the shared categories twice;
    apply this to a region's rules in force to warn about or refuse the configuration.
    """
    return [
        (a, b)
        for a, b in combinations(rules, 2)
        if a.post_categories != b.post_categories and a.post_categories & b.post_categories
    ]


def _amount(rule: QuotaRule, demographics: Demographics) -> tuple[int, MissingInput | None]:
    numerator, denominator = rule._ratio
    if rule.basis is Basis.PER_10K_POPULATION:
        if demographics.population is None:
            return 0, MissingInput.POPULATION
        return (demographics.population * numerator) // (denominator * 10_000), None
    if rule.basis is Basis.PER_POLICE:
        if demographics.police_establishment is None:
            return 0, MissingInput.POLICE_ESTABLISHMENT
        return (demographics.police_establishment * numerator) // denominator, None
    return numerator // denominator, None


def quota_components(
    rules_in_force: Iterable[QuotaRule], demographics: Demographics
) -> list[QuotaComponent]:
    """One component per rule in force, each floored to whole people.

    per_10k_population: floor(population × value / 10,000); per_police:
    floor(police × value); fixed: floor(value). A missing figure gives 0 and sets
    `missing_input`.
    """
    components: list[QuotaComponent] = []
    for rule in rules_in_force:
        amount, missing = _amount(rule, demographics)
        # positional: rule_id, basis, value, post_categories, amount, missing_input
        components.append(
            QuotaComponent(rule.id, rule.basis, rule.value, rule.post_categories, amount, missing)
        )
    return components


def compute_quota(
    rules_in_force: Iterable[QuotaRule],
    demographics: Demographics,
    headcount: int,
    reserved: int = 0,
) -> QuotaFigures:
    """A region's quota line from its rules in force (see `rules_in_force`).

    `headcount` counts auxiliaries on probation and active; `reserved` the seats held
    by approved recruitment plans not yet filled. available = max(0, quota − headcount
    − reserved).
    """
    _check_count(headcount, "headcount")
    _check_count(reserved, "reserved")
    components = tuple(quota_components(rules_in_force, demographics))
    quota = sum(c.amount for c in components)
    return QuotaFigures(
        quota=quota,
        headcount=headcount,
        reserved=reserved,
        available=max(0, quota - headcount - reserved),
        per_10k_population=ratio(headcount * 10_000, demographics.population),
        per_police=ratio(headcount, demographics.police_establishment),
        components=components,
        population=demographics.population,
        police_establishment=demographics.police_establishment,
    )


@dataclass(frozen=True, slots=True)
class QuotaTotals:
    """The total line of a quota report over a set of (usually sibling) regions.

    `available` is the sum of each region's available seats, not max(0, total quota −
    total headcount − total reserved): a county over its quota does not take seats
    from its neighbours. Ratios use only the regions whose denominator is recorded;
    `missing_population` / `missing_police` say how many regions were left out.
    """

    regions: int
    quota: int
    headcount: int
    reserved: int
    available: int
    over_quota: int
    population: int | None
    police_establishment: int | None
    per_10k_population: Decimal | None
    per_police: Decimal | None
    missing_population: int
    missing_police: int
    incomplete: int  # regions with at least one incomplete component


def rollup(children: Iterable[tuple[str, QuotaFigures]]) -> QuotaTotals:
    """Sum child regions' quota lines into a total line; a region may appear once."""
    seen: set[str] = set()
    regions = quota = headcount = reserved = available = over = incomplete = 0
    population = police = 0
    headcount_with_population = headcount_with_police = 0
    missing_population = missing_police = 0
    for code, figures in children:
        if code in seen:
            raise ValueError(f"region {code} appears twice in the roll-up")
        seen.add(code)
        regions += 1
        quota += figures.quota
        headcount += figures.headcount
        reserved += figures.reserved
        available += figures.available
        over += figures.over_quota
        if figures.incomplete:
            incomplete += 1
        if figures.population is None:
            missing_population += 1
        else:
            population += figures.population
            headcount_with_population += figures.headcount
        if figures.police_establishment is None:
            missing_police += 1
        else:
            police += figures.police_establishment
            headcount_with_police += figures.headcount
    any_population = missing_population < regions
    any_police = missing_police < regions
    return QuotaTotals(
        regions=regions,
        quota=quota,
        headcount=headcount,
        reserved=reserved,
        available=available,
        over_quota=over,
        population=population if any_population else None,
        police_establishment=police if any_police else None,
        per_10k_population=ratio(headcount_with_population * 10_000, population),
        per_police=ratio(headcount_with_police, police),
        missing_population=missing_population,
        missing_police=missing_police,
        incomplete=incomplete,
    )
