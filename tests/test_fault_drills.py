"""Fault drills with the real processes (issue 8): what a county sees when a process
dies, the database restarts or a provincial receiver hangs.

- hires in flight: the roster is SIGKILLed twice while the recruitment relay is
  delivering a campaign's hires, and restarted; every hire arrives exactly once;
- payroll in flight: compensation is SIGKILLed while it calculates a run of a few
  thousand people, and restarted; the run is fully calculated or still an empty draft,
  and calculating it (twice) gives the same totals;
- PostgreSQL restarted under load: the services answer /readyz 503 while it is down
  and 200 again without a restart of their own, and every acknowledged write is there;
- a hanging webhook receiver: its deliveries time out and are retried while another
  subscriber gets every event at once;
- one service down: the gateway keeps serving the others, names the one that is down
  in /readyz and answers its routes with a quick 503 problem, until it is back.

Each drill starts its own stack (tests/stack.py, separate processes) and waits with
generous bounds only. The stacks run on SQLite, or on fresh PostgreSQL databases when
AUXPOL_TEST_DATABASE_URL is set; the PostgreSQL drill always runs on PostgreSQL (the
local server at 127.0.0.1:5432 when the variable is unset) and fails if there is none.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from gateway.webhooks import signature
from kernel.testing import postgres_base_url
from services.common.resident_id import make_id_number
from services.compensation import demo as pay_demo
from services.recruitment.eligibility import NEGATIVE_LIST
from services.roster import demo as roster_demo
from tests.stack import NAMES, Stack, free_port, running_stack

PREFIX = "auxpol_drill"

pytestmark = pytest.mark.e2e

ROSTER = "/api/v1/roster"
REC = "/api/v1/recruitment"
PAY = "/api/v1/compensation"
COUNTY = "371327"
LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PG_CLUSTER = ("15", "main")


# --- helpers ---------------------------------------------------------------------------------


def ok(response: httpx.Response, *codes: int) -> Any:
    assert response.status_code in (codes or (200, 201)), (
        response.request.method,
        str(response.request.url),
        response.status_code,
        response.text[:2000],
    )
    return response.json() if response.content else None


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str = "it") -> Any:
    """Poll `check` until it gives something truthy; a generous bound, never a measure."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def admin_client(stack: Stack) -> httpx.Client:
    return stack.client(stack.token())


def county_setup(api: httpx.Client, seats: int) -> None:
    """Shandong › Linyi › Junan with a fixed quota of `seats` in Junan."""
    for code, name in (("37", "山东省"), ("3713", "临沂市"), (COUNTY, "莒南县")):
        ok(
            api.put(
                f"{ROSTER}/regions/{code}",
                json={
                    "name": name,
                    "population": 825_000,
                    "police_establishment": 297,
                    "year": 2025,
                },
            ),
            200,
            201,
        )
    ok(
        api.post(
            f"{ROSTER}/quota-rules",
            json={
                "region_prefix": COUNTY,
                "basis": "fixed",
                "value": str(seats),
                "post_categories": ["civilian", "duty"],
                "effective_from": "2020-01-01",
            },
        ),
        201,
    )


def person(index: int, **extra: Any) -> dict[str, Any]:
    """A valid POST /personnel body, unique for `index`."""
    born = date(1990, 1, 1) + timedelta(days=index // 400)
    return {
        "id_number": make_id_number(COUNTY, born, (index % 400) * 2 + 1),
        "name": f"辅警{index}",
        "region": COUNTY,
        "unit": "巡特警大队",
        "post_category": "duty",
        "post": "patrol",
        "education": "senior_high",
        "hire_date": "2024-03-01",
        **extra,
    }


def all_pages(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = ok(api.get(path, params=query))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def requests_served(base_url: str, route: str) -> int:
    """How many requests a process has finished on `route` (its /metrics)."""
    text = httpx.get(base_url + "/metrics", timeout=5).text
    total = 0.0
    for labels, value in re.findall(r"^auxpol_http_requests_total\{([^}]*)\} (\S+)$", text, re.M):
        if f'route="{route}"' in labels:
            total += float(value)
    return int(total)


def readyz(base_url: str) -> int | None:
    try:
        return httpx.get(base_url + "/readyz", timeout=3).status_code
    except httpx.HTTPError:
        return None


def readyz_is(base_url: str, status: int) -> Callable[[], bool]:
    """A check for wait_for: the process's /readyz answers `status`."""
    return lambda: readyz(base_url) == status


# --- one service down ------------------------------------------------------------------------


def test_gateway_keeps_serving_with_one_service_down() -> None:
    with running_stack(PREFIX) as stack, admin_client(stack) as api:
        county_setup(api, seats=50)
        ok(api.post(f"{ROSTER}/personnel", json=person(1)), 201)
        ok(api.get(f"{PAY}/payroll-runs", params={"region": COUNTY}))

        stack.stop_service("compensation")

        def degraded() -> Any:
            body = httpx.get(stack.url + "/readyz", timeout=5)
            names = body.json()["checks"]["services"]["degraded"]
            return body if names == ["compensation"] else None

        ready = wait_for(degraded, 30, "the gateway to name compensation as down")
        # the gateway stays in rotation: the other services are served through it
        assert ready.status_code == 200
        services = ready.json()["checks"]["services"]["services"]
        assert services == {"roster": "ok", "recruitment": "ok", "compensation": "down"}

        # roster and recruitment keep serving, reads and writes
        created = ok(api.post(f"{ROSTER}/personnel", json=person(2)), 201)
        ok(api.get(f"{ROSTER}/personnel/{created['id']}"))
        assert len(ok(api.get(f"{ROSTER}/personnel", params={"region": COUNTY}))["items"]) == 2
        plan = ok(
            api.post(
                f"{REC}/plans",
                json={
                    "region": COUNTY,
                    "year": 2027,
                    "positions": [{"post_category": "duty", "post": "patrol", "headcount": 1}],
                },
            ),
            201,
        )
        ok(api.get(f"{REC}/plans/{plan['id']}"))

        # compensation's routes answer a quick 503 problem, reads and writes alike
        for method, path, body in (
            ("GET", f"{PAY}/payroll-runs?region={COUNTY}", None),
            ("POST", f"{PAY}/payroll-runs", {"region": COUNTY, "period": "2026-10"}),
        ):
            started = time.monotonic()
            r = api.request(method, path, json=body)
            elapsed = time.monotonic() - started
            assert r.status_code == 503, (method, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "upstream_unavailable"
            assert r.headers.get("retry-after")
            assert elapsed < 10, f"{method} {path} took {elapsed:.1f} s to answer 503"

        # back again: the gateway notices and forwards as before
        stack.start_service("compensation", wait=True)
        wait_for(
            lambda: (
                httpx.get(stack.url + "/readyz", timeout=5).json()["checks"]["services"]["degraded"]
                == []
            ),
            30,
            "the gateway to see compensation back",
        )
        ok(api.get(f"{PAY}/payroll-runs", params={"region": COUNTY}))
        run = ok(api.post(f"{PAY}/payroll-runs", json={"region": COUNTY, "period": "2026-10"}), 201)
        assert run["status"] == "draft"


# --- a hanging webhook receiver ----------------------------------------------------------------


class Receiver:
    """A webhook receiver on 127.0.0.1 in a thread of the test process. It checks the
    Standard Webhooks signature and records what arrived; while `hanging` is set it
    reads the request and then answers nothing until released."""

    def __init__(self) -> None:
        self.secret = ""
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.arrivals: list[tuple[float, str, dict[str, Any]]] = []  # time, webhook-id, body
        self.delivered: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                event = json.loads(body)
                with receiver.lock:
                    receiver.arrivals.append((time.monotonic(), self.headers["webhook-id"], event))
                if receiver.hanging.is_set():
                    receiver.release.wait(timeout=120)
                    return  # the client gave up long ago; close without an answer
                try:
                    signature.verify(receiver.secret, dict(self.headers.items()), body)
                except signature.InvalidSignature:
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.delivered.append(event)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def delivered_ids(self, kind: str) -> set[int]:
        with self.lock:
            return {e["data"]["personnel_id"] for e in self.delivered if e["type"] == kind}


def test_hanging_webhook_receiver_times_out_and_retries_without_blocking_others() -> None:
    timeout = 5.0
    env = {
        "AUXPOL_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "AUXPOL_GATEWAY_WEBHOOK_TIMEOUT_SECONDS": str(timeout),
        "AUXPOL_GATEWAY_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
        "AUXPOL_GATEWAY_WEBHOOK_RETRY_MAX_SECONDS": "1",
    }
    with (
        Receiver() as hanging,
        Receiver() as healthy,
        running_stack(PREFIX, extra_env=env) as stack,
        admin_client(stack) as api,
    ):
        county_setup(api, seats=50)
        hanging.hanging.set()
        subscriptions = {}
        for name, receiver in (("hanging", hanging), ("healthy", healthy)):
            sub = ok(
                api.post(
                    "/api/v1/webhooks",
                    json={"url": receiver.url, "events": ["personnel.created"], "region": "37"},
                ),
                201,
            )
            receiver.secret = sub["secret"]
            subscriptions[name] = sub["id"]

        # five files: the roster announces each through its outbox, the gateway fans out
        events = 5
        ids = {
            ok(api.post(f"{ROSTER}/personnel", json=person(i)), 201)["id"] for i in range(events)
        }
        wait_for(
            lambda: healthy.delivered_ids("personnel.created") == ids and hanging.arrivals,
            60,
            "the healthy receiver to get every event",
        )
        first_hang = min(t for t, _, _ in hanging.arrivals)
        last_healthy = max(t for t, _, _ in healthy.arrivals)
        # Not held up behind the hanging receiver: every event reached the healthy one
        # before the hanging one's first attempt had even timed out.
        assert last_healthy - first_hang < timeout, (
            f"the healthy receiver got the last event {last_healthy - first_hang:.1f} s after "
            f"the hanging one was first called (its timeout is {timeout} s)"
        )
        assert healthy.bad_signatures == 0

        # the hanging receiver's deliveries time out and are retried
        def retried() -> list[dict[str, Any]] | None:
            items = ok(api.get(f"/api/v1/webhooks/{subscriptions['hanging']}/deliveries"))["items"]
            if len(items) == events and all(d["attempts"] >= 2 for d in items):
                return items
            return None

        deliveries = wait_for(retried, 90, "the hanging receiver's deliveries to be retried")
        for d in deliveries:
            assert d["status"] == "pending", d
            assert d["last_error"] == "timed out", d
            assert all(a["error"] == "timed out" for a in d["attempt_log"]), d
        calls = {webhook_id for _, webhook_id, _ in hanging.arrivals}
        assert len(calls) == events and len(hanging.arrivals) >= 2 * events

        # meanwhile new events still flow to the healthy receiver
        more = ok(api.post(f"{ROSTER}/personnel", json=person(events)), 201)["id"]
        wait_for(
            lambda: more in healthy.delivered_ids("personnel.created"),
            30,
            "a later event to reach the healthy receiver",
        )

        # once the receiver answers again, the retries deliver everything, once each
        hanging.hanging.clear()
        hanging.release.set()
        wait_for(
            lambda: hanging.delivered_ids("personnel.created") == ids | {more},
            90,
            "the recovered receiver to get every event",
        )
        healthy_log = ok(api.get(f"/api/v1/webhooks/{subscriptions['healthy']}/deliveries"))
        assert all(d["status"] == "delivered" for d in healthy_log["items"])
        assert len(healthy.delivered) == events + 1  # nothing twice


# --- the roster killed while hires are relayed --------------------------------------------------

HIRE_RULES: dict[str, Any] = {
    "weights": {"written": "0.5", "interview": "0.5"},
    "tie_break": ["interview", "written"],
    "backfill": {"on": ["fitness", "medical", "withdrawal", "objection"]},
    "publicity_working_days": 5,
    "posts": {
        "patrol": {
            "entry_ratio": "1",
            "eligibility": {"min_age": 18, "max_age": 35, "min_education": "senior_high"},
        }
    },
}


def applicants_csv(count: int) -> bytes:
    header = ["id_number", "name", "post", "education", "veteran", *NEGATIVE_LIST]
    lines = [",".join(header)]
    for i in range(count):
        born = date(1998, 1, 1) + timedelta(days=i)
        number = make_id_number("371302", born, 2 * (i % 400) + 1)
        row = [number, f"应聘者{i}", "patrol", "bachelor", "no", *(["no"] * len(NEGATIVE_LIST))]
        lines.append(",".join(row))
    return ("\n".join(lines) + "\n").encode()


def campaign_ready_to_hire(api: httpx.Client, places: int) -> tuple[int, list[int], str]:
    """A plan of `places` patrol posts (its seats reserved in the roster) and its
    campaign taken through every stage with as many applicants as places."""
    plan = ok(
        api.post(
            f"{REC}/plans",
            json={
                "region": COUNTY,
                "year": 2027,
                "positions": [{"post_category": "duty", "post": "patrol", "headcount": places}],
            },
        ),
        201,
    )
    ok(api.post(f"{REC}/plans/{plan['id']}/submit"))
    plan = ok(api.post(f"{REC}/plans/{plan['id']}/approve"))
    today = date.today()
    cid = ok(
        api.post(
            f"{REC}/campaigns",
            json={
                "plan_id": plan["id"],
                "registration_opens": (today - timedelta(days=2)).isoformat(),
                "registration_closes": (today + timedelta(days=5)).isoformat(),
                "rules": HIRE_RULES,
            },
        ),
        201,
    )["id"]
    imported = ok(
        api.post(
            f"{REC}/campaigns/{cid}/applications/import",
            content=applicants_csv(places),
            headers={"content-type": "text/csv"},
        ),
        201,
    )
    assert imported["created"] == imported["eligible"] == places, imported
    ids = sorted(imported["application_ids"])
    stage = f"{REC}/campaigns/{cid}/stages"
    ok(api.post(f"{stage}/registration/close"))
    for scored in ("written", "interview"):
        results = [{"application_id": a, "score": f"{60 + n % 40}"} for n, a in enumerate(ids)]
        ok(api.post(f"{REC}/campaigns/{cid}/results/{scored}", json=results))
        ok(api.post(f"{stage}/{scored}/close"))
    for gate in ("fitness", "medical", "political"):
        results = [{"application_id": a, "passed": True} for a in ids]
        ok(api.post(f"{REC}/campaigns/{cid}/results/{gate}", json=results))
        ok(api.post(f"{stage}/{gate}/close"))
    ok(
        api.post(
            f"{REC}/campaigns/{cid}/publicity",
            json={"starts": (today - timedelta(days=14)).isoformat()},
        ),
        201,
    )
    ok(api.post(f"{stage}/publicity/close"))
    return cid, ids, plan["reservation"]["reference"]


def test_roster_killed_while_hires_are_relayed_gets_every_hire_once() -> None:
    places = 40
    with running_stack(PREFIX) as stack, admin_client(stack) as api:
        county_setup(api, seats=100)
        cid, ids, reference = campaign_ready_to_hire(api, places)
        roster = stack.service_url("roster")

        hired = ok(api.post(f"{REC}/campaigns/{cid}/hire"), 201)["hired"]
        assert len(hired) == places
        # Kill the roster (SIGKILL: no goodbye, a hire may be half-answered) as soon as the
        # relay has delivered a few, restart it, and do it once more further on.
        served_before_kills = 0
        for _ in range(2):
            # a bound, not a measure: while the roster was down the relay's retries backed
            # off (1, 2, 4, ... s), longer when a loaded machine slows the restart
            served = wait_for(
                lambda: max(0, requests_served(roster, f"{ROSTER}/personnel") - 4),
                180,
                "the relay to deliver some hires",
            )
            stack.kill_service("roster")
            served_before_kills += served + 4
            stack.children.pop("roster").wait(timeout=10)
            time.sleep(1)  # deliveries meanwhile fail and are put back with a backoff
            stack.start_service("roster", wait=True)

        # the kills came while hires were still being relayed
        assert served_before_kills < places, served_before_kills

        def all_on_file() -> list[dict[str, Any]] | None:
            people = all_pages(api, f"{ROSTER}/personnel", region=COUNTY)
            return people if len(people) >= places else None

        people = wait_for(all_on_file, 120, "every hire to reach the roster")

        def all_delivered() -> list[dict[str, Any]] | None:
            apps = [ok(api.get(f"{REC}/applications/{a}")) for a in ids]
            return apps if all(a["hire"]["state"] == "delivered" for a in apps) else None

        apps = wait_for(all_delivered, 60, "every hire to be confirmed to recruitment")
        time.sleep(1)  # anything still in flight would land now
        people = all_pages(api, f"{ROSTER}/personnel", region=COUNTY)
        references = [p["external_reference"] for p in people]
        expected = {f"recruitment:campaign:{cid}:application:{a}" for a in ids}
        assert len(people) == places and set(references) == expected  # once each
        by_reference = {p["external_reference"]: str(p["id"]) for p in people}
        for a in apps:
            reference_of = f"recruitment:campaign:{cid}:application:{a['id']}"
            assert a["hire"]["roster_person_id"] == by_reference[reference_of]
        quota = ok(api.get(f"{ROSTER}/regions/{COUNTY}/quota"))
        assert (quota["headcount"], quota["reserved"]) == (places, 0)
        [reservation] = ok(
            api.get(f"{ROSTER}/quota-reservations", params={"reference": reference})
        )["items"]
        assert (reservation["converted"], reservation["held"]) == (places, 0)
        filing = ok(api.get(f"{REC}/campaigns/{cid}/filing"))
        assert filing["hired"] == places and filing["complete"]


# --- compensation killed during a payroll calculation -------------------------------------------

PAYROLL_PEOPLE = 3000
PERIOD = "2026-10"


def import_people(api: httpx.Client, count: int) -> None:
    rows = roster_demo.people(COUNTY, count, seed=8)
    job = ok(
        api.post(
            f"{ROSTER}/imports/personnel",
            files={"file": ("drill.csv", roster_demo.as_csv(rows), "text/csv")},
        ),
        202,
    )

    def finished() -> dict[str, Any] | None:
        state = ok(api.get(f"{ROSTER}/imports/{job['id']}"))
        return state if state["status"] not in ("queued", "running") else None

    state = wait_for(finished, 120, "the personnel import")
    assert state["status"] == "completed" and state["created"] == count, state


def payslip_totals(api: httpx.Client, run_id: int) -> tuple[int, Decimal, Decimal]:
    slips = all_pages(api, f"{PAY}/payroll-runs/{run_id}/payslips")
    ids = [s["personnel_id"] for s in slips]
    assert len(ids) == len(set(ids)), "a person paid twice"
    net = sum((Decimal(s["net"]) for s in slips), Decimal(0))
    cost = sum((Decimal(s["employer_cost"]) for s in slips), Decimal(0))
    return len(slips), net, cost


def calculate_and_kill(stack: Stack, run_id: int) -> httpx.Response:
    """Ask for the calculation and SIGKILL compensation the moment the roster has
    finished streaming its snapshot; returns what the caller got."""
    snapshot = f"{ROSTER}/personnel-snapshot"
    answer: dict[str, httpx.Response] = {}

    def calculate() -> None:
        with admin_client(stack) as caller:
            answer["response"] = caller.post(f"{PAY}/payroll-runs/{run_id}/calculate")

    with httpx.Client(base_url=stack.service_url("roster"), timeout=5) as roster:

        def served() -> int:
            text = roster.get("/metrics").text
            pattern = rf'^auxpol_http_requests_total\{{[^}}]*route="{snapshot}"[^}}]*\}} (\S+)$'
            return int(sum(float(v) for v in re.findall(pattern, text, re.M)))

        before = served()
        caller = threading.Thread(target=calculate)
        caller.start()
        deadline = time.monotonic() + 60
        while served() == before:
            assert time.monotonic() < deadline, "the calculation never asked for the snapshot"
            time.sleep(0.002)
    stack.kill_service("compensation")
    stack.children.pop("compensation").wait(timeout=10)
    caller.join(timeout=60)
    return answer["response"]


def test_compensation_killed_mid_calculation_leaves_the_run_whole() -> None:
    with running_stack(PREFIX) as stack, admin_client(stack) as api:
        county_setup(api, seats=PAYROLL_PEOPLE + 100)
        ok(api.put(f"{ROSTER}/regions/371327001", json={"name": "十字路街道"}), 200, 201)
        import_people(api, PAYROLL_PEOPLE)
        staff = len(
            all_pages(api, f"{ROSTER}/personnel", region=COUNTY, status=["probation", "active"])
        )
        assert staff == PAYROLL_PEOPLE
        priced = {post: "1000.00" for post, _, _ in roster_demo.POSTS}
        ok(api.put(f"{PAY}/schedules/37/2026-01-01", json=pay_demo.schedule(priced)), 200, 201)
        run = ok(api.post(f"{PAY}/payroll-runs", json={"region": COUNTY, "period": PERIOD}), 201)
        # Calculate, and SIGKILL compensation as soon as the roster has streamed the
        # snapshot: the payslips are being computed and written. Should the answer beat
        # the kill, the run is calculated and the next try kills a recalculation.
        for _ in range(3):
            answer = calculate_and_kill(stack, run["id"])
            stack.start_service("compensation", wait=True)
            if answer.status_code != 200:
                break
        # the caller never got its answer: the process died under the calculation
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "upstream_unavailable"

        # all or nothing: a draft without a payslip, or calculated with every payslip
        after = ok(api.get(f"{PAY}/payroll-runs/{run['id']}"))
        count, net, cost = payslip_totals(api, run["id"])
        if after["status"] == "draft":
            assert count == 0 and after["headcount"] == 0 and after["totals"] is None
        else:
            assert after["status"] == "calculated", after
            assert count == after["headcount"] == staff
            assert (net, cost) == (
                Decimal(after["totals"]["net"]),
                Decimal(after["totals"]["employer_cost"]),
            )

        # calculating again gives whole, consistent and repeatable totals
        first = ok(api.post(f"{PAY}/payroll-runs/{run['id']}/calculate"))
        assert first["status"] == "calculated" and first["headcount"] == staff
        assert payslip_totals(api, run["id"]) == (
            staff,
            Decimal(first["totals"]["net"]),
            Decimal(first["totals"]["employer_cost"]),
        )
        if after["status"] == "calculated":
            assert after["totals"] == first["totals"]
        second = ok(api.post(f"{PAY}/payroll-runs/{run['id']}/calculate"))
        assert second["totals"] == first["totals"] and second["headcount"] == staff
        assert payslip_totals(api, run["id"])[0] == staff


# --- PostgreSQL restarted under load ---------------------------------------------------------


def pg_ctl(action: str) -> None:
    """Stop or start the local cluster (fast stop: sessions are cut off, as in a crash
    of the connections; the data is safe)."""
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", *PG_CLUSTER, action]
    if action == "stop":
        command += ["-m", "fast"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stdout}{done.stderr}"


@dataclass
class Write:
    kind: str  # personnel or plan
    key: str  # Idempotency-Key
    body: dict[str, Any]
    status: int | None = None  # None: no answer
    answer: Any = None


class Traffic:
    """Writers and a reader through the gateway, in threads, until stopped; every write
    carries an Idempotency-Key and is remembered with its answer."""

    def __init__(self, stack: Stack, token: str) -> None:
        self.stack = stack
        self.token = token
        self.writes: list[Write] = []
        self.reads: list[int | None] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counter = iter(range(1_000_000))
        self.threads = [
            threading.Thread(target=self._write_loop, args=("personnel",), daemon=True),
            threading.Thread(target=self._write_loop, args=("personnel",), daemon=True),
            threading.Thread(target=self._write_loop, args=("plan",), daemon=True),
            threading.Thread(target=self._read_loop, daemon=True),
        ]

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.stack.url, headers=headers, timeout=15)

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def body(self, kind: str) -> dict[str, Any]:
        with self.lock:
            n = next(self.counter)
        if kind == "personnel":
            return person(n)
        return {
            "region": COUNTY,
            "year": 2027,
            "title": f"drill plan {n}",
            "positions": [{"post_category": "duty", "post": "patrol", "headcount": 1}],
        }

    def send(self, api: httpx.Client, write: Write) -> None:
        path = f"{ROSTER}/personnel" if write.kind == "personnel" else f"{REC}/plans"
        try:
            r = api.post(path, json=write.body, headers={"Idempotency-Key": write.key})
            write.status = r.status_code
            write.answer = r.json() if r.content else None
        except httpx.HTTPError:
            write.status = None

    def _write_loop(self, kind: str) -> None:
        with self.client() as api:
            while not self.stop.is_set():
                write = Write(kind, uuid.uuid4().hex, self.body(kind))
                self.send(api, write)
                with self.lock:
                    self.writes.append(write)
                time.sleep(0.02)

    def _read_loop(self) -> None:
        with self.client() as api:
            while not self.stop.is_set():
                try:
                    status: int | None = api.get(
                        f"{ROSTER}/personnel", params={"region": COUNTY, "limit": 20}
                    ).status_code
                except httpx.HTTPError:
                    status = None
                with self.lock:
                    self.reads.append(status)
                time.sleep(0.02)

    def acknowledged(self, kind: str) -> list[Write]:
        with self.lock:
            return [w for w in self.writes if w.kind == kind and w.status == 201]

    def count(self) -> int:
        with self.lock:
            return len(self.writes)


def test_postgres_restart_under_load_loses_no_acknowledged_write() -> None:
    base = postgres_base_url() or LOCAL_POSTGRES
    server = make_url(base)
    assert (server.host or "127.0.0.1", server.port or 5432) in (
        ("127.0.0.1", 5432),
        ("localhost", 5432),
    ), f"this drill restarts the local cluster {'/'.join(PG_CLUSTER)}, not {server.host}"
    with running_stack(PREFIX, postgres=base) as stack, admin_client(stack) as api:
        county_setup(api, seats=100_000)
        urls = {name: stack.service_url(name) for name in NAMES if name != "gateway"}
        urls["gateway"] = stack.url
        pids = {name: stack.pid_of(name) for name in NAMES}
        with Traffic(stack, stack.token()) as traffic:
            wait_for(lambda: len(traffic.acknowledged("personnel")) >= 20, 60, "some writes")
            wait_for(lambda: len(traffic.acknowledged("plan")) >= 5, 60, "some plans")
            pg_ctl("stop")
            try:
                # every process says it is not ready while its database is gone
                for name, url in urls.items():
                    wait_for(readyz_is(url, 503), 30, f"{name} to be not ready")
                during = traffic.count()
                wait_for(lambda: traffic.count() >= during + 10, 60, "writes during the outage")
            finally:
                pg_ctl("start")
            # and ready again by itself, without a restart
            for name, url in urls.items():
                wait_for(readyz_is(url, 200), 60, f"{name} to be ready again")
            after = len(traffic.acknowledged("personnel")), len(traffic.acknowledged("plan"))
            wait_for(
                lambda: (
                    len(traffic.acknowledged("personnel")) >= after[0] + 20
                    and len(traffic.acknowledged("plan")) >= after[1] + 5
                ),
                60,
                "writes to succeed again after the restart",
            )
        assert {name: stack.pid_of(name) for name in NAMES} == pids  # nobody restarted

        # while the database was away the answers were 503 problems, never a 500
        answers = {w.status for w in traffic.writes} | set(traffic.reads)
        assert answers <= {200, 201, 503}, answers
        assert 503 in answers

        # every acknowledged write is there, once
        people = all_pages(api, f"{ROSTER}/personnel", region=COUNTY)
        numbers = [p["id_number"] for p in people]
        assert len(numbers) == len(set(numbers))
        on_file = {p["id"]: p["id_number"] for p in people}
        for w in traffic.acknowledged("personnel"):
            assert on_file.get(w.answer["id"]) == w.body["id_number"], w
        plans = all_pages(api, f"{REC}/plans", region=COUNTY)
        titles = [p["title"] for p in plans]
        assert len(titles) == len(set(titles))
        by_id = {p["id"]: p["title"] for p in plans}
        for w in traffic.acknowledged("plan"):
            assert by_id.get(w.answer["id"]) == w.body["title"], w

        # a write without an answer (or with a 5xx) sent again with its key lands once
        unsure = [w for w in traffic.writes if w.status is None or w.status >= 500]
        for w in unsure:
            traffic.send(api, w)
            assert w.status == 201, (w.kind, w.status, w.answer)
        people = all_pages(api, f"{ROSTER}/personnel", region=COUNTY)
        assert len(people) == len({p["id_number"] for p in people})
        assert len(people) == len(traffic.acknowledged("personnel"))
        plans = all_pages(api, f"{REC}/plans", region=COUNTY)
        assert len(plans) == len({p["title"] for p in plans}) == len(traffic.acknowledged("plan"))
