"""Policy rows: (method, route pattern) → allowed roles.

Each service lists its rows in `services/<name>/policy.py`; the gateway assembles
them into its policy table and refuses with 403 before forwarding, and each route
repeats the same role set in its `require(...)` dependency (a test keeps both in
step). `system_admin` may do everything and is never listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel.auth import Role


@dataclass(frozen=True)
class Rule:
    method: str
    pattern: str
    roles: frozenset[str] | None  # None: public, no token needed
    service: str

    @property
    def public(self) -> bool:
        return self.roles is None


def rules_for(
    service: str, prefix: str, entries: list[tuple[str, str, frozenset[str] | None]]
) -> tuple[Rule, ...]:
    return tuple(Rule(m, prefix + p, roles, service) for m, p, roles in entries)


def roles(*names: Role) -> frozenset[str]:
    return frozenset(str(n) for n in names)


PUBLIC = None

PROVINCE = roles(Role.PROVINCE_ADMIN)
COUNTY = roles(Role.COUNTY_ADMIN)
AUDIT_READ = roles(Role.AUDITOR, Role.PROVINCE_ADMIN)
ANY_HUMAN = roles(
    Role.PROVINCE_ADMIN,
    Role.AUDITOR,
    Role.COUNTY_ADMIN,
    Role.RECRUITER,
    Role.FINANCE_OFFICER,
    Role.UNIT_MANAGER,
)


def flatten_routes(routes: Any) -> Any:
    """The routes of an app, through included routers (FastAPI keeps those nested)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from flatten_routes(original.routes)
        else:
            yield route


def route_roles(routes: Any) -> dict[tuple[str, str], frozenset[str] | None]:
    """What each API route of an app demands: (method, path) → roles, None when public.
    Read from the routes' `require(...)` dependencies, for comparison with the table."""
    from fastapi.routing import APIRoute

    from kernel.auth import RoleRequirement

    found: dict[tuple[str, str], frozenset[str] | None] = {}
    for route in flatten_routes(routes):
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/"):
            continue
        demanded: frozenset[str] | None = None
        stack = list(route.dependant.dependencies)
        while stack:
            dep = stack.pop()
            if isinstance(dep.call, RoleRequirement):
                demanded = (demanded or frozenset()) | dep.call.roles
            stack.extend(dep.dependencies)
        for method in route.methods or ():
            found[(method, route.path)] = demanded
    return found
