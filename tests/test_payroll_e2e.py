"""Payroll through the gateway with the real processes (SQLite, or PostgreSQL with
AUXPOL_TEST_DATABASE_URL): a county's finance officer calculates a run; approval is
refused to the finance officer (403) and to a county_admin who calculated it herself
(403 `separation_of_duties`), and granted to another county_admin; the province's
webhook subscriber receives `payroll_run.approved` once, signed (Standard Webhooks);
and the bank file (CSV) adds up to the payslips."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from gateway.webhooks.signature import InvalidSignature, verify
from services.common.resident_id import make_id_number
from services.compensation import demo as pay_demo
from tests.county import COUNTY, ROSTER, login, ok, set_up_county, wait_for
from tests.stack import Stack, free_port, running_stack

pytestmark = pytest.mark.e2e

PAY = "/api/v1/compensation"
PASSWORD = "e2e-Payroll-2026"
PERIOD = "2026-10"
APPROVED = "payroll_run.approved"
USERS = (
    ("pay_finance", ["finance_officer"], COUNTY),
    # a county_admin who is also a finance officer: she may calculate, not approve her run
    ("pay_dual", ["finance_officer", "county_admin"], COUNTY),
    ("pay_approver", ["county_admin"], COUNTY),
    ("pay_province", ["province_admin"], "37"),
)
PEOPLE = (  # post, level, step
    ("patrol", 7, 1),
    ("traffic", 6, 3),
    ("clerk", 5, 2),
)


class Receiver:
    """A webhook subscriber: a local HTTP server that verifies each delivery's Standard
    Webhooks signature and keeps the verified events."""

    def __init__(self) -> None:
        self.port = free_port()
        self.secret = ""
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    verify(receiver.secret, dict(self.headers), body)
                except InvalidSignature:
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/auxpol"

    def approvals(self, run_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [
                e
                for e in self.events
                if e["type"] == APPROVED and e["data"].get("payroll_run_id") == run_id
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def code_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (str(response.request.url), response.text[:2000])
    return str(response.json().get("code"))


def person(seq: int, post: str, level: int, step: int) -> dict[str, Any]:
    category = "duty" if post in pay_demo.DUTY_POSTS else "civilian"
    return {
        "id_number": make_id_number(COUNTY, date(1995, 6, 1 + seq), 2 * seq + 1),
        "name": f"辅警{seq}",
        "region": COUNTY,
        "unit": "城区派出所",
        "post_category": category,
        "post": post,
        "education": "senior_high",
        "hire_date": "2024-03-01",
        "level": level,
        "step": step,
        "probation_months": 0,
    }


def test_payroll_approval_separation_of_duties_webhook_and_bank_file() -> None:
    receiver = Receiver()
    try:
        with running_stack(
            "auxpol_payroll", extra_env={"AUXPOL_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
        ) as stack:
            run_payroll(stack, receiver)
    finally:
        receiver.close()


def run_payroll(stack: Stack, receiver: Receiver) -> None:
    set_up_county(stack, USERS, PASSWORD)
    finance, dual, approver, province = (login(stack, name, PASSWORD) for name, _, _ in USERS)
    with finance, dual, approver, province, stack.client(stack.token()) as admin:
        # the province's schedule, its webhook subscription, and three people on the roster
        ok(province.put(f"{PAY}/schedules/37/2026-01-01", json=pay_demo.schedule()), 200, 201)
        subscription = ok(
            province.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "region": "37", "events": [APPROVED]},
            ),
            201,
        )
        receiver.secret = subscription["secret"]
        for seq, (post, level, step) in enumerate(PEOPLE):
            ok(admin.post(f"{ROSTER}/personnel", json=person(seq, post, level, step)), 201)

        # the finance officer creates and calculates the run
        run = ok(finance.post(f"{PAY}/payroll-runs", json={"region": COUNTY, "period": PERIOD}))
        run = ok(finance.post(f"{PAY}/payroll-runs/{run['id']}/calculate"))
        assert run["status"] == "calculated" and run["calculated_by"] == "pay_finance", run
        assert run["headcount"] == len(PEOPLE), run
        approve = f"{PAY}/payroll-runs/{run['id']}/approve"

        # a finance officer may not approve at all
        assert code_of(finance.post(approve), 403) != "separation_of_duties"
        # a county_admin who calculated the run may not approve it
        recalculated = ok(dual.post(f"{PAY}/payroll-runs/{run['id']}/calculate"))
        assert recalculated["calculated_by"] == "pay_dual", recalculated
        assert recalculated["totals"] == run["totals"]
        assert code_of(dual.post(approve), 403) == "separation_of_duties"
        still = ok(approver.get(f"{PAY}/payroll-runs/{run['id']}"))
        assert still["status"] == "calculated" and still["approved_by"] is None, still
        assert receiver.approvals(run["id"]) == []
        # another county_admin may
        approved = ok(approver.post(approve))
        assert approved["status"] == "approved" and approved["approved_by"] == "pay_approver"
        assert approved["calculated_by"] == "pay_dual"

        # the subscriber receives payroll_run.approved once, signed
        events = wait_for(lambda: receiver.approvals(run["id"]), 30, APPROVED)
        time.sleep(1.5)  # a second delivery would come within the outbox's polling
        events = receiver.approvals(run["id"])
        assert len(events) == 1, events
        [event] = events
        assert event["region"] == COUNTY and event["data"]["period"] == PERIOD, event
        assert receiver.bad_signatures == 0

        # the payslips add up to the run's net total and so does the bank file
        slips = ok(finance.get(f"{PAY}/payroll-runs/{run['id']}/payslips", params={"limit": 500}))
        assert slips["next_cursor"] is None and len(slips["items"]) == len(PEOPLE)
        net = sum((Decimal(s["net"]) for s in slips["items"]), Decimal(0))
        assert net == Decimal(approved["totals"]["net"]) > 0
        export = finance.get(f"{PAY}/payroll-runs/{run['id']}/export", params={"format": "csv"})
        assert export.status_code == 200, export.text
        assert export.headers["x-payroll-run-status"] == "approved"
        assert "unapproved" not in export.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
        assert len(rows) == len(PEOPLE)
        assert sorted(int(r["personnel_id"]) for r in rows) == sorted(
            s["personnel_id"] for s in slips["items"]
        )
        bank_total = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
        assert bank_total == net == Decimal(export.headers["x-payroll-total"])
