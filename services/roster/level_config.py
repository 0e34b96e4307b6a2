"""The level schemes in force, from configuration (`RosterSettings.level_policies`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.roster.config import LevelPolicyEntry
from services.roster.levels import LevelPolicy

DEFAULT_FROM = date(1900, 1, 1)


@dataclass(frozen=True, slots=True)
class ScopedPolicy:
    region_prefix: str
    effective_from: date
    policy: LevelPolicy


class LevelPolicies:
    """Most specific prefix wins, then the latest `effective_from` not after the day."""

    def __init__(self, entries: list[LevelPolicyEntry]) -> None:
        self.entries = [
            ScopedPolicy(e.region_prefix, e.effective_from, LevelPolicy.from_dict(e.policy))
            for e in entries
        ]
        self.default = ScopedPolicy("", DEFAULT_FROM, LevelPolicy.from_dict({}))

    def scoped(self, region: str, on: date) -> ScopedPolicy:
        best = self.default
        for entry in self.entries:
            if entry.effective_from > on or not region.startswith(entry.region_prefix):
                continue
            key = (len(entry.region_prefix), entry.effective_from)
            if key >= (len(best.region_prefix), best.effective_from):
                best = entry
        return best

    def for_region(self, region: str, on: date) -> LevelPolicy:
        return self.scoped(region, on).policy

    def min_years_in_level(self) -> int:
        """The shortest time in a level any configured scheme asks for a promotion."""
        return min(
            rule.years_in_level
            for scoped in (self.default, *self.entries)
            for rule in scoped.policy.promotion.values()
        )
