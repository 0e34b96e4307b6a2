"""The gateway's policy table and the services' own role checks say the same thing:
every API route of every service has a row in the table with the same roles."""

from __future__ import annotations

import pytest

from gateway.policy import PolicyTable
from kernel.policy import route_roles
from services.compensation.main import create_app as compensation_app
from services.recruitment.main import create_app as recruitment_app
from services.roster.main import create_app as roster_app

APPS = {"roster": roster_app, "recruitment": recruitment_app, "compensation": compensation_app}


@pytest.mark.parametrize("service", list(APPS))
def test_every_service_route_is_in_the_policy_table(service: str, tmp_path) -> None:
    from kernel.settings import ServiceSettings

    app = APPS[service](ServiceSettings(service_name=service, data_dir=tmp_path))  # type: ignore[arg-type]
    table = PolicyTable()
    routes = route_roles(app.routes)
    assert len(routes) >= 10  # the service's routes were found at all
    for (method, path), demanded in routes.items():
        sample = "/".join("x" if p.startswith("{") else p for p in path.split("/"))
        rule = table.match(method, sample)
        assert rule is not None, f"{method} {path} is missing from {service}/policy.py"
        assert rule.pattern == path, f"{method} {path} matched {rule.pattern}"
        assert rule.service == service
        assert rule.roles == demanded, (
            f"{method} {path}: policy allows {sorted(rule.roles or [])}, "
            f"route requires {sorted(demanded or [])}"
        )


@pytest.mark.parametrize("service", list(APPS))
def test_every_policy_row_has_a_service_route(service: str, tmp_path) -> None:
    """No row in the table points at a route the service does not serve."""
    from kernel.settings import ServiceSettings

    app = APPS[service](ServiceSettings(service_name=service, data_dir=tmp_path))  # type: ignore[arg-type]
    served = set(route_roles(app.routes))
    rows = {(r.method, r.pattern) for r in PolicyTable().rules if r.service == service}
    assert rows - served == set(), f"rows without routes in {service}/policy.py"
