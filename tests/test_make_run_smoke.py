"""`make run` for real: the four processes on free ports in a temporary directory,
a token as admin, each service through the gateway, then a clean stop."""

from __future__ import annotations

import httpx
import pytest

from tests.stack import Stack

pytestmark = pytest.mark.e2e


def test_stack_starts_serves_and_stops_cleanly() -> None:
    stack = Stack()
    try:
        stack.start()
        assert (stack.data_dir / "keys").is_dir()  # signing key generated on first start
        for name in ("gateway.db", "roster.db", "recruitment.db", "compensation.db"):
            assert (stack.data_dir / name).exists()
        token = stack.token()
        with stack.client(token) as api:
            me = api.get("/auth/me").json()
            assert me == {"sub": "admin", "roles": ["system_admin"], "region": ""}
            for service in ("roster", "recruitment", "compensation"):
                ready = httpx.get(stack.service_url(service) + "/readyz").json()
                assert ready["status"] == "ok"
            assert api.get("/api/v1/roster/regions").status_code == 200
            assert api.get("/api/v1/recruitment/plans").status_code == 200
            assert api.get("/api/v1/compensation/payroll-runs").status_code == 200
            ready = api.get("/readyz").json()
            assert ready["checks"]["services"]["services"] == {
                "roster": "ok",
                "recruitment": "ok",
                "compensation": "ok",
            }
            spec = api.get("/openapi.json").json()
            assert any(p.startswith("/api/v1/roster/") for p in spec["paths"])
        assert stack.stop() == 0 or stack.stop() is not None
        assert stack.leftovers() == []
    finally:
        stack.close()
