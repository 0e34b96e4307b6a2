"""Root test configuration: the project root on sys.path and the shared test issuer."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("AUXPOL_LOG_JSON", "false")
os.environ.setdefault("AUXPOL_LOG_LEVEL", "WARNING")

from kernel.testing import TestIssuer


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: it hides work that may not be done."""
    if os.environ.get("AUXPOL_FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(f"FAIL: {skipped} test(s) skipped; CI allows none", red=True)
        session.exitstatus = 1


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("AUXPOL_TEST_DATABASE_URL")
    return f"auxpol database backend: {'PostgreSQL ' + url if url else 'SQLite'}"
