"""A provincial reporting integration, with the real processes and the demo dataset:
a machine client scoped to the province reads the reports of both demo counties
(JSON, and CSV with Chinese headers); a client scoped to one county cannot read the
other; and a webhook subscription receives a signed `personnel.created` event when
a county creates a person."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest

from gateway.webhooks.signature import InvalidSignature, verify
from services.common.resident_id import make_id_number
from tests.stack import Stack, free_port

pytestmark = pytest.mark.e2e

JUNAN, FEI = "371327", "371325"
ROSTER = "/api/v1/roster"


class Receiver:
    """A plain HTTP server in a thread that checks each delivery's signature."""

    def __init__(self) -> None:
        self.port = free_port()
        self.secret = ""
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    verify(receiver.secret, dict(self.headers), body)
                except InvalidSignature:
                    receiver.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def client_token(stack: Stack, client_id: str, secret: str) -> str:
    r = httpx.post(
        stack.url + "/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_province_client_reads_every_county_and_receives_webhooks() -> None:
    stack = Stack(demo=True, extra_env={"AUXPOL_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"})
    receiver = Receiver()
    try:
        stack.start(timeout=240, wait_for="banner")
        assert "demo dataset failed" not in stack.log(), stack.log()[-3000:]
        with stack.client(stack.token("sd_admin")) as province_admin:
            made = {}
            for name, region in (("shandong-reporting", "37"), ("junan-reporting", JUNAN)):
                r = province_admin.post(
                    "/auth/clients", json={"name": name, "roles": ["auditor"], "region": region}
                )
                assert r.status_code == 201, r.text
                made[region] = r.json()
        province = stack.client(
            client_token(stack, made["37"]["client_id"], made["37"]["client_secret"])
        )
        county = stack.client(
            client_token(stack, made[JUNAN]["client_id"], made[JUNAN]["client_secret"])
        )

        # the province reads both counties: JSON, and CSV with Chinese headers
        for code in (JUNAN, FEI):
            quota = province.get(f"{ROSTER}/regions/{code}/quota")
            assert quota.status_code == 200 and quota.json()["headcount"] > 0, quota.text
            structure = province.get(f"{ROSTER}/reports/structure", params={"region": code})
            assert structure.status_code == 200, structure.text
            people = province.get(f"{ROSTER}/personnel", params={"region": code, "limit": 5})
            assert people.status_code == 200 and people.json()["items"]
        rollup = province.get(f"{ROSTER}/reports/quota", params={"region": "3713"})
        assert rollup.status_code == 200, rollup.text
        listed = json.dumps(rollup.json())
        assert JUNAN in listed and FEI in listed
        as_csv = province.get(
            f"{ROSTER}/reports/quota", params={"region": "3713", "format": "csv", "lang": "zh"}
        )
        assert as_csv.status_code == 200, as_csv.text
        header = next(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert any("\u4e00" <= ch <= "\u9fff" for ch in "".join(header)), header

        # the county client sees its own county and nothing of the other
        assert county.get(f"{ROSTER}/regions/{JUNAN}/quota").status_code == 200
        assert county.get(f"{ROSTER}/regions/{FEI}/quota").status_code == 404
        assert county.get(f"{ROSTER}/reports/structure", params={"region": FEI}).status_code == 404
        other = province.get(f"{ROSTER}/personnel", params={"region": FEI, "limit": 1})
        fei_person = other.json()["items"][0]["id"]
        assert county.get(f"{ROSTER}/personnel/{fei_person}").status_code == 404
        assert all(
            p["region"].startswith(JUNAN)
            for p in county.get(f"{ROSTER}/personnel", params={"limit": 500}).json()["items"]
        )
        # and it can change nothing
        assert (
            county.put(
                f"{ROSTER}/regions/{JUNAN}",
                json={
                    "name": "x",
                    "population": 1,
                    "police_establishment": 1,
                    "year": 2026,
                },
            ).status_code
            == 403
        )

        # webhooks: the province subscribes; a county creates a person; a signed event arrives
        r = province.post(
            "/api/v1/webhooks",
            json={
                "url": f"http://127.0.0.1:{receiver.port}/auxpol",
                "region": "37",
                "events": ["personnel.created", "personnel.departed"],
            },
        )
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["secret"]
        with stack.client(stack.token("junan_admin")) as junan:
            created = junan.post(
                f"{ROSTER}/personnel",
                json={
                    "id_number": make_id_number(JUNAN, date(1998, 3, 4), 17),
                    "name": "王小明",
                    "region": JUNAN,
                    "unit": "城区派出所",
                    "post_category": "duty",
                    "post": "patrol",
                    "education": "junior_college",
                    "veteran": False,
                    "hire_date": "2026-11-01",
                    "level": 6,
                    "step": 1,
                    "probation_months": 2,
                    "phone": "13800000000",
                },
            )
            assert created.status_code == 201, created.text
            person_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            e["type"] == "personnel.created" and e["data"].get("personnel_id") == person_id
            for e in receiver.events
        ):
            time.sleep(0.5)
        matching = [
            e
            for e in receiver.events
            if e["type"] == "personnel.created" and e["data"].get("personnel_id") == person_id
        ]
        assert matching, (receiver.events[-3:], stack.log()[-3000:])
        assert matching[0]["region"].startswith(JUNAN)
        assert receiver.bad_signatures == 0
        province.close()
        county.close()
    finally:
        receiver.close()
        stack.close()
