"""GB/T 2260 region codes: 2 digits province, 4 city, 6 county, 9 township or street.

A region code is also a jurisdiction: a principal scoped to "3713" sees every code that
starts with "3713". The national scope is the empty string.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"^(\d{2}|\d{4}|\d{6}|\d{9})$")
LEVELS = {2: "province", 4: "city", 6: "county", 9: "township"}


class InvalidRegionCode(ValueError):
    pass


def validate(code: str) -> str:
    if not _CODE.match(code):
        raise InvalidRegionCode("a region code has 2, 4, 6 or 9 digits")
    if code[:2] == "00":
        raise InvalidRegionCode("province part of a region code cannot be 00")
    return code


def is_valid(code: str) -> bool:
    return bool(_CODE.match(code)) and code[:2] != "00"


def validate_scope(prefix: str) -> str:
    """A jurisdiction prefix: a region code or "" for national."""
    if prefix == "":
        return prefix
    return validate(prefix)


def parent(code: str) -> str | None:
    """The parent region's code, or None for a province."""
    n = len(code)
    if n == 2:
        return None
    if n == 4:
        return code[:2]
    if n == 6:
        return code[:4]
    return code[:6]


def ancestors_and_self(code: str) -> list[str]:
    """From the province down to the code itself."""
    out: list[str] = []
    current: str | None = code
    while current is not None:
        out.append(current)
        current = parent(current)
    return list(reversed(out))


def level(code: str) -> str:
    return LEVELS[len(code)]


def child_length(code: str) -> int:
    """Length of a direct child's code ("" → 2, 2 → 4, 4 → 6, 6 → 9)."""
    return {0: 2, 2: 4, 4: 6, 6: 9}[len(code)]


def within(code: str, scope: str) -> bool:
    """True when `code` lies inside jurisdiction `scope` (scope "" is national)."""
    return code.startswith(scope)
