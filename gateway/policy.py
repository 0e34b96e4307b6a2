"""The one declarative policy table: (method, route pattern) → allowed roles.

Each service declares its rows in its own `policy.py` (declarative data, no
domain code); this module assembles them.

The gateway refuses with 403 before forwarding; each service checks again with
its own `require(...)` dependencies, and a test keeps both in step. A route that
is not in this table is not reachable through the gateway (404). `system_admin`
may do everything, so it is never listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kernel.policy import Rule
from services.compensation import policy as compensation
from services.recruitment import policy as recruitment
from services.roster import policy as roster

RULES: tuple[Rule, ...] = roster.RULES + recruitment.RULES + compensation.RULES


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    regex: re.Pattern[str]
    literal_segments: int
    segments: tuple[str | None, ...]  # None for a parameter


def _compile(rule: Rule) -> CompiledRule:
    parts = rule.pattern.strip("/").split("/")
    regex_parts = []
    segments: list[str | None] = []
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            regex_parts.append(r"[^/]+")
            segments.append(None)
        else:
            regex_parts.append(re.escape(part))
            segments.append(part)
    literals = sum(1 for s in segments if s is not None)
    return CompiledRule(
        rule, re.compile("^/" + "/".join(regex_parts) + "/?$"), literals, tuple(segments)
    )


def _more_specific(concrete: CompiledRule, templated: CompiledRule) -> bool:
    """Whether every path `concrete` matches is also matched by `templated`, which has a
    parameter where `concrete` has a literal: OpenAPI matches the concrete path first."""
    if len(concrete.segments) != len(templated.segments):
        return False
    if concrete.literal_segments <= templated.literal_segments:
        return False
    return all(
        t is None or t == c for c, t in zip(concrete.segments, templated.segments, strict=True)
    )


class PolicyTable:
    def __init__(self, rules: tuple[Rule, ...] = RULES) -> None:
        seen: set[tuple[str, str]] = set()
        self.by_method: dict[str, list[CompiledRule]] = {}
        for rule in rules:
            key = (rule.method, rule.pattern)
            if key in seen:
                raise ValueError(f"duplicate policy rule {key}")
            seen.add(key)
            self.by_method.setdefault(rule.method, []).append(_compile(rule))
        for compiled in self.by_method.values():
            # literal segments beat parameters: /plans/filing before /plans/{id}
            compiled.sort(key=lambda c: (-c.literal_segments, c.rule.pattern))
        # Across methods too: POST /imports/personnel owns that path, so GET there is not
        # GET /imports/{id} with id "personnel" but a 405, as the OpenAPI document says.
        everything = [c for compiled in self.by_method.values() for c in compiled]
        self.shadowed_by: dict[tuple[str, str], list[CompiledRule]] = {
            (c.rule.method, c.rule.pattern): [o for o in everything if _more_specific(o, c)]
            for c in everything
        }
        self.rules = rules

    def _find(self, method: str, path: str) -> CompiledRule | None:
        for compiled in self.by_method.get(method, ()):
            if compiled.regex.match(path):
                return compiled
        return None

    def _owned(self, compiled: CompiledRule, path: str) -> bool:
        shadows = self.shadowed_by[(compiled.rule.method, compiled.rule.pattern)]
        return not any(s.regex.match(path) for s in shadows)

    def match(self, method: str, path: str) -> Rule | None:
        if method == "HEAD":
            method = "GET"
        compiled = self._find(method, path)
        if compiled is None or not self._owned(compiled, path):
            return None
        return compiled.rule

    def path_allowed_methods(self, path: str) -> list[str]:
        allowed = []
        for method in self.by_method:
            compiled = self._find(method, path)
            if compiled is not None and self._owned(compiled, path):
                allowed.append(method)
        return sorted(allowed)


__all__ = ["RULES", "PolicyTable", "Rule"]
