"""`make run` for real: the four processes on free ports in a temporary directory,
a token as admin, each service through the gateway, then a clean stop.

`auxpol run` is honcho's manager: on SIGTERM or SIGINT (a terminal's Ctrl-C, sent to
the whole foreground process group) it sends SIGTERM to each process's own session,
each uvicorn shuts its application down and re-raises the signal (honcho reports
rc=-15), and honcho exits with 128 + the signal it received: 143 for SIGTERM, 130 for
SIGINT. These tests are about `make run`'s SQLite default, except the side-by-side test,
which puts each stack on its own PostgreSQL databases when AUXPOL_TEST_DATABASE_URL is
set."""

from __future__ import annotations

import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from auxpol.demo import DEMO_USERS
from tests.stack import NAMES, Stack, process_databases

pytestmark = pytest.mark.e2e

EXIT_ON_SIGTERM = 128 + signal.SIGTERM  # 143
EXIT_ON_SIGINT = 128 + signal.SIGINT  # 130
# INFO, so that each uvicorn's "Application shutdown complete." is in the log.
INFO = {"AUXPOL_LOG_LEVEL": "INFO"}


def child_pids(stack: Stack) -> dict[str, int]:
    """The pid of each process, from honcho's "<name> started (pid=N)" lines."""
    found = re.findall(r"\| (\w+) started \(pid=(\d+)\)", stack.log())
    return {name: int(pid) for name, pid in found}


def assert_stopped_cleanly(stack: Stack, signame: str) -> None:
    """After `auxpol run` has exited: every process shut down gracefully on the
    SIGTERM honcho forwarded, none needed SIGKILL, none is left."""
    log = stack.log()
    assert f"{signame} received" in log
    assert "SIGKILL" not in log and "Traceback" not in log, log[-3000:]
    for name in NAMES:
        assert re.search(rf"sending SIGTERM to {name} \(pid \d+\)", log), name
        assert re.search(rf"\| {name} stopped \(rc=-15\)", log), (name, log[-3000:])
        assert re.search(rf"^\S+ {name} +\|.*Application shutdown complete", log, re.M), name
    pids = child_pids(stack)
    assert set(pids) == set(NAMES)
    assert stack.leftovers() == []
    assert [pid for pid in pids.values() if Path(f"/proc/{pid}").exists()] == []


def log_in(stack: Stack, username: str, password: str = "auxpol-demo") -> httpx.Response:
    return httpx.post(
        stack.url + "/auth/token",
        data={"grant_type": "password", "username": username, "password": password},
    )


def test_stack_starts_serves_and_stops_cleanly() -> None:
    stack = Stack(extra_env=INFO)  # AUXPOL_DEMO=0
    try:
        stack.start(wait_for="banner")
        assert stack._ready()
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

        # AUXPOL_DEMO=0: no demo dataset, no marker, no demo users, in the banner or not
        assert not (stack.data_dir / ".demo-loaded").exists()
        assert "loading the demo dataset" not in stack.log()
        banner = stack.log().split("auxpol is running", 1)[1]
        assert stack.url in banner and "admin" in banner
        assert "no demo dataset" in banner
        for user in DEMO_USERS:
            assert user.username not in banner
        assert log_in(stack, "junan_admin").status_code in (400, 401)

        assert stack.stop() == EXIT_ON_SIGTERM  # stop() sends SIGTERM to `auxpol run`
        assert_stopped_cleanly(stack, "SIGTERM")
    finally:
        stack.close()


def test_ctrl_c_stops_every_process() -> None:
    stack = Stack(extra_env=INFO)
    try:
        stack.start(wait_for="banner")
        assert stack.proc is not None and os.getpgid(stack.proc.pid) == stack.proc.pid
        assert stack.token()
        # what a terminal does on Ctrl-C: SIGINT to the foreground process group, i.e.
        # `auxpol run` and honcho's reader processes (the services have their own sessions)
        os.killpg(stack.proc.pid, signal.SIGINT)
        assert stack.proc.wait(timeout=30) == EXIT_ON_SIGINT
        assert_stopped_cleanly(stack, "SIGINT")
        with pytest.raises(httpx.ConnectError):
            httpx.get(stack.url + "/livez", timeout=2)
    finally:
        stack.close()


def test_banner_lists_the_gateway_and_the_demo_users_once_loaded() -> None:
    stack = Stack(demo=True)  # SQLite, as `make run`
    try:
        stack.start(timeout=120, wait_for="banner")
        log = stack.log()
        assert "loading the demo dataset" in log and "demo dataset failed" not in log
        assert (stack.data_dir / ".demo-loaded").is_file()
        banner = log.split("auxpol is running", 1)[1]
        assert f"gateway       {stack.url}   (API docs: {stack.url}/docs)" in banner
        for name in ("roster", "recruitment", "compensation"):
            assert stack.service_url(name) in banner
        assert "demo users (password for all but admin: auxpol-demo)" in banner
        assert re.search(r"admin +system_admin +\(national\) +password: auxpol-demo", banner)
        for user in DEMO_USERS:
            fields = (user.username, ",".join(user.roles), user.region, user.who)
            line = " +".join(map(re.escape, fields))
            assert re.search(line, banner), user
        assert "Ctrl-C stops every process." in banner

        # the users the banner names exist, with the roles and regions it shows
        for user in (DEMO_USERS[0], DEMO_USERS[3], DEMO_USERS[-1]):
            answer = log_in(stack, user.username)
            assert answer.status_code == 200, answer.text
            me = httpx.get(
                stack.url + "/auth/me",
                headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
            ).json()
            assert me == {"sub": user.username, "roles": list(user.roles), "region": user.region}
        assert stack.stop() == EXIT_ON_SIGTERM
        assert stack.leftovers() == []
    finally:
        stack.close()


def test_two_stacks_run_side_by_side() -> None:
    with process_databases("auxpol_side_a") as urls_a, process_databases("auxpol_side_b") as urls_b:
        stacks = [Stack(database_urls=urls_a), Stack(database_urls=urls_b)]
        a, b = stacks
        try:
            assert a.data_dir != b.data_dir
            assert not set(a.ports.values()) & set(b.ports.values())
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda s: s.start(), stacks))
            assert a._ready() and b._ready()  # both running at the same time
            for stack, urls in ((a, urls_a), (b, urls_b)):  # each on its own databases
                assert (stack.data_dir / "gateway.db").exists() == (not urls)

            tokens = {s.url: s.token() for s in stacks}
            for stack in stacks:
                with stack.client(tokens[stack.url]) as api:
                    assert api.get("/auth/me").json()["sub"] == "admin"
                    assert api.get("/api/v1/roster/regions").status_code == 200
                    assert api.get("/api/v1/compensation/payroll-runs").status_code == 200
            # each stack signs with its own key: a token of one is refused by the other
            kids = {
                s.url: {
                    k["kid"] for k in httpx.get(s.url + "/.well-known/jwks.json").json()["keys"]
                }
                for s in stacks
            }
            assert kids[a.url] and kids[b.url] and not kids[a.url] & kids[b.url]
            for mine, other in ((a, b), (b, a)):
                with other.client(tokens[mine.url]) as api:
                    assert api.get("/auth/me").status_code == 401
                    assert api.get("/api/v1/roster/regions").status_code == 401
                # and straight at the other stack's service, which checks it again
                answer = httpx.get(
                    other.service_url("roster") + "/api/v1/roster/regions",
                    headers={"Authorization": f"Bearer {tokens[mine.url]}"},
                )
                assert answer.status_code == 401

            # stopping one leaves the other serving, then both are gone
            assert a.stop() == EXIT_ON_SIGTERM
            assert a.leftovers() == []
            assert b._ready()
            with b.client(tokens[b.url]) as api:
                assert api.get("/api/v1/recruitment/plans").status_code == 200
            assert b.stop() == EXIT_ON_SIGTERM
            assert b.leftovers() == []
        finally:
            for stack in stacks:
                stack.close()
