"""`make load`: an open-loop load test through the gateway, then an integrity check.

The real stack (PostgreSQL when AUXPOL_BENCH_DATABASE_URL is set, else SQLite) with the
demo dataset, plus two Junan campaigns of its own: one open for registration, one at
the written test with a few hundred applicants waiting for their score. Then requests
arrive on a fixed timetable (LOAD_RATE per second, default 50, for LOAD_SECONDS,
default 60) whatever the answers do; each latency is taken from the request's
scheduled time, so a slow answer shows in the figures instead of thinning the load
(no coordinated omission). The mix:

- 70 % reads: personnel lists with filters, one personnel file, the quota and
  structure reports;
- 20 % registrations: POST /campaigns/{id}/applications with a fresh valid ID number
  and an Idempotency-Key;
- 10 % score entries: POST /campaigns/{id}/results/written for one applicant each.

Afterwards: every accepted registration is on the campaign exactly once (some are
replayed with their key first, which must answer the same application), nothing
refused landed, every accepted score is recorded as sent, each region's quota
headcount and reserved seats agree with its personnel files and reservations, and no
process answered a 5xx (the client's counts and every process's /metrics). The table
is printed and appended to bench/RESULTS.md (not with BENCH_NO_RECORD=1), with the CPU
each process spent per request; the exit status is 1 when a check fails.

The default rate is what the 2-core reference machine sustains with room to spare while
it hosts the four processes, PostgreSQL and the generator (about 65 req/s is its
ceiling on PostgreSQL); above it the figures measure the queue, which LOAD_RATE=100
shows on purpose.

    make load                                 # 60 s at 50 req/s on SQLite
    LOAD_SECONDS=10 LOAD_RATE=100 make load
    AUXPOL_BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres make load
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import os
import random
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from auxpol.demo import DEMO_PASSWORD, load_all
from bench.harness import Figure, backend, bench_databases, record
from services.common.resident_id import make_id_number
from services.recruitment.eligibility import NEGATIVE_LIST
from tests.stack import NAMES, Stack

ROSTER = "/api/v1/roster"
REC = "/api/v1/recruitment"
JUNAN, FEI, SHIZILU, LINYI = "371327", "371325", "371327001", "3713"
MIX = (("read", 70), ("register", 20), ("score", 10))
REQUEST_TIMEOUT = 30.0  # seconds for one request, from the moment it is sent
DRAIN_SECONDS = 40.0  # after the last scheduled request, wait this long at most
REPLAYS = 50  # accepted registrations sent again with their Idempotency-Key

RULES: dict[str, Any] = {
    "weights": {"written": "0.5", "interview": "0.5"},
    "tie_break": ["interview", "written"],
    "backfill": {"on": ["fitness", "medical", "withdrawal", "objection"]},
    "publicity_working_days": 5,
    "posts": {
        post: {
            "entry_ratio": "3",
            "eligibility": {"min_age": 18, "max_age": 40, "min_education": "senior_high"},
        }
        for post in ("patrol", "clerk")
    },
}


def env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    value = float(raw) if raw else default
    if not 0 < value <= 100_000:
        raise SystemExit(f"{name}={raw}: give a positive number")
    return value


# --- the timetable -------------------------------------------------------------------------


@dataclass
class Planned:
    """One request of the timetable."""

    index: int
    at: float  # seconds after the start
    kind: str  # read, register, score
    label: str  # what is measured (route family)
    user: str
    method: str
    path: str
    json: Any = None
    idempotency_key: str | None = None
    ref: Any = None  # what an accepted write is checked against

    @property
    def body(self) -> bytes | None:
        """The JSON body as sent. A replay sends these very bytes: the Idempotency-Key
        fingerprint is over the raw body, so a different serialiser's spacing would be
        a different request (422 idempotency_key_reused)."""
        if self.json is None:
            return None
        return json.dumps(self.json, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Outcome:
    planned: Planned
    status: int | None  # None: no HTTP answer (connection error, client timeout)
    error: str | None
    latency: float  # seconds from the scheduled time to the end of the answer
    lag: float  # seconds from the scheduled time to the moment it was sent
    body: Any = None


@dataclass
class World:
    """What the setup made and the timetable draws on."""

    tokens: dict[str, str]
    register_campaign: int
    score_campaign: int
    score_applications: list[int]
    person_ids: dict[str, list[int]]


def kinds_for(count: int, rng: random.Random) -> list[str]:
    """Exactly the mix's shares of `count`, in a seeded random order."""
    total = sum(w for _, w in MIX)
    kinds: list[str] = []
    for kind, weight in MIX:
        kinds += [kind] * int(count * weight / total)
    kinds += ["read"] * (count - len(kinds))
    rng.shuffle(kinds)
    return kinds


def applicant(index: int, post: str = "patrol", home: str = JUNAN) -> dict[str, Any]:
    """A valid, eligible applicant whose ID number is unique for `index` and `home`."""
    born = date(1997, 1, 1) + timedelta(days=index // 450)
    sequence = (index % 450) * 2 + 1
    return {
        "id_number": make_id_number(home, born, sequence),
        "name": f"应聘者{index}",
        "post": post,
        "education": "bachelor",
        "veteran": False,
        "phone": f"139{index % 100_000_000:08d}",
        "declarations": dict.fromkeys(NEGATIVE_LIST, False),
    }


def score_for(index: int) -> str:
    return f"{40 + (index * 7919) % 6000 / 100:.2f}"


def reads(world: World, rng: random.Random) -> tuple[str, str, str]:
    """(label, user, path) of one read."""
    roll = rng.random()
    if roll < 0.43:
        user, region = rng.choice((("junan_admin", JUNAN), ("feixian_admin", FEI)))
        query = rng.choice(
            (
                f"region={region}&status=active",
                f"region={region}&post=patrol",
                f"region={region}&level={rng.randint(4, 7)}",
                f"region={region}&status=probation&status=active&limit=20",
                f"region={region}&post=traffic&status=active",
            )
        )
        if region == JUNAN and rng.random() < 0.25:
            user, query = "junan_station", f"region={SHIZILU}"
        return "GET /personnel?…", user, f"{ROSTER}/personnel?{query}"
    if roll < 0.79:
        county = rng.choice((JUNAN, FEI))
        user = "junan_admin" if county == JUNAN else "feixian_admin"
        pid = rng.choice(world.person_ids[county])
        return "GET /personnel/{id}", user, f"{ROSTER}/personnel/{pid}"
    if roll < 0.9:
        region = rng.choice((LINYI, "37"))
        return "GET /reports/quota", "sd_auditor", f"{ROSTER}/reports/quota?region={region}"
    region = rng.choice((JUNAN, FEI, LINYI))
    return (
        "GET /reports/structure",
        "sd_auditor",
        f"{ROSTER}/reports/structure?region={region}",
    )


def timetable(world: World, rate: float, seconds: float, seed: int = 8) -> list[Planned]:
    rng = random.Random(seed)
    count = int(rate * seconds)
    plan: list[Planned] = []
    registered = scored = 0
    for i, kind in enumerate(kinds_for(count, rng)):
        at = i / rate
        if kind == "read":
            label, user, path = reads(world, rng)
            plan.append(Planned(i, at, kind, label, user, "GET", path))
        elif kind == "register":
            body = applicant(registered, post=rng.choice(("patrol", "patrol", "clerk")))
            registered += 1
            plan.append(
                Planned(
                    i,
                    at,
                    kind,
                    "POST /campaigns/{id}/applications",
                    "junan_recruiter",
                    "POST",
                    f"{REC}/campaigns/{world.register_campaign}/applications",
                    json=body,
                    idempotency_key=uuid.uuid4().hex,
                    ref=body["id_number"],
                )
            )
        else:
            application_id = world.score_applications[scored]
            score = score_for(scored)
            scored += 1
            plan.append(
                Planned(
                    i,
                    at,
                    kind,
                    "POST /campaigns/{id}/results/written",
                    "junan_recruiter",
                    "POST",
                    f"{REC}/campaigns/{world.score_campaign}/results/written",
                    json=[{"application_id": application_id, "score": score}],
                    idempotency_key=uuid.uuid4().hex,
                    ref=(application_id, score),
                )
            )
    return plan


def score_requests(rate: float, seconds: float) -> int:
    count = int(rate * seconds)
    return sum(1 for k in kinds_for(count, random.Random(8)) if k == "score")


# --- the setup --------------------------------------------------------------------------


class SetupError(RuntimeError):
    pass


async def call(
    http: httpx.AsyncClient,
    tokens: dict[str, str],
    user: str,
    method: str,
    path: str,
    ok: tuple[int, ...] = (200, 201),
    **kwargs: Any,
) -> Any:
    headers = {"Authorization": f"Bearer {tokens[user]}", **kwargs.pop("headers", {})}
    response = await http.request(method, path, headers=headers, **kwargs)
    if response.status_code not in ok:
        raise SetupError(f"{method} {path} as {user}: {response.status_code} {response.text}")
    return response.json() if response.content else None


async def login(http: httpx.AsyncClient, users: list[str]) -> dict[str, str]:
    tokens = {}
    for user in users:
        response = await http.post(
            "/auth/token",
            data={"grant_type": "password", "username": user, "password": DEMO_PASSWORD},
        )
        response.raise_for_status()
        tokens[user] = response.json()["access_token"]
    return tokens


async def all_pages(
    http: httpx.AsyncClient, tokens: dict[str, str], user: str, path: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    joiner = "&" if "?" in path else "?"
    while True:
        url = f"{path}{joiner}limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = await call(http, tokens, user, "GET", url)
        items += page["items"]
        cursor = page["next_cursor"] or ""
        if not cursor:
            return items


async def campaign_for(
    http: httpx.AsyncClient, tokens: dict[str, str], year: int, title: str
) -> int:
    """A Junan plan of `year` approved by Linyi (its seats reserved), and its campaign."""
    plan = await call(
        http,
        tokens,
        "junan_admin",
        "POST",
        f"{REC}/plans",
        json={
            "region": JUNAN,
            "year": year,
            "title": title,
            "positions": [
                {"post_category": "duty", "post": "patrol", "headcount": 4},
                {"post_category": "civilian", "post": "clerk", "headcount": 2},
            ],
        },
    )
    await call(http, tokens, "junan_admin", "POST", f"{REC}/plans/{plan['id']}/submit")
    await call(http, tokens, "linyi_admin", "POST", f"{REC}/plans/{plan['id']}/approve")
    today = date.today()
    campaign = await call(
        http,
        tokens,
        "junan_recruiter",
        "POST",
        f"{REC}/campaigns",
        json={
            "plan_id": plan["id"],
            "title": title,
            "registration_opens": (today - timedelta(days=3)).isoformat(),
            "registration_closes": (today + timedelta(days=10)).isoformat(),
            "rules": RULES,
        },
    )
    return int(campaign["id"])


def applicants_csv(count: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id_number", "name", "post", "education", "veteran", *NEGATIVE_LIST])
    for i in range(count):
        person = applicant(i, post="patrol" if i % 3 else "clerk", home="371302")
        writer.writerow(
            [
                person["id_number"],
                person["name"],
                person["post"],
                person["education"],
                "no",
                *(["no"] * len(NEGATIVE_LIST)),
            ]
        )
    return out.getvalue().encode()


async def prepare(stack: Stack, scores_needed: int) -> World:
    async with httpx.AsyncClient(base_url=stack.url, timeout=300) as http:
        users = [
            "junan_admin",
            "feixian_admin",
            "linyi_admin",
            "junan_recruiter",
            "junan_station",
            "sd_auditor",
        ]
        tokens = await login(http, users)
        tokens["admin"] = stack.token()
        register_campaign = await campaign_for(http, tokens, 2028, "负载测试：报名")
        score_campaign = await campaign_for(http, tokens, 2029, "负载测试：笔试")
        imported = await call(
            http,
            tokens,
            "junan_recruiter",
            "POST",
            f"{REC}/campaigns/{score_campaign}/applications/import",
            content=applicants_csv(scores_needed),
            headers={"content-type": "text/csv"},
        )
        if imported["created"] != scores_needed or imported["errors"]:
            raise SetupError(f"the applicant import: {imported}")
        await call(
            http,
            tokens,
            "junan_recruiter",
            "POST",
            f"{REC}/campaigns/{score_campaign}/stages/registration/close",
        )
        waiting = await all_pages(
            http, tokens, "junan_recruiter", f"{REC}/campaigns/{score_campaign}/applications"
        )
        score_applications = sorted(a["id"] for a in waiting if a["status"] == "applied")
        if len(score_applications) < scores_needed:
            raise SetupError(f"only {len(score_applications)} applicants await a written score")
        person_ids = {}
        for county, user in ((JUNAN, "junan_admin"), (FEI, "feixian_admin")):
            files = await all_pages(http, tokens, user, f"{ROSTER}/personnel?region={county}")
            person_ids[county] = [p["id"] for p in files]
            if not files:
                raise SetupError(f"no personnel files in {county}: was the demo loaded?")
        return World(
            tokens=tokens,
            register_campaign=register_campaign,
            score_campaign=score_campaign,
            score_applications=score_applications,
            person_ids=person_ids,
        )


# --- the generator -----------------------------------------------------------------------


async def fire(
    session: aiohttp.ClientSession, base: str, world: World, p: Planned, scheduled: float
) -> Outcome:
    loop = asyncio.get_running_loop()
    sent = loop.time()
    headers = {"Authorization": f"Bearer {world.tokens[p.user]}"}
    if p.idempotency_key:
        headers["Idempotency-Key"] = p.idempotency_key
    if p.json is not None:
        headers["Content-Type"] = "application/json"
    try:
        async with session.request(p.method, base + p.path, data=p.body, headers=headers) as r:
            raw = await r.read()
            body = None
            if p.kind != "read" and raw:
                try:
                    body = await r.json(content_type=None)
                except ValueError:
                    body = None
            return Outcome(p, r.status, None, loop.time() - scheduled, sent - scheduled, body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        name = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return Outcome(p, None, name, loop.time() - scheduled, sent - scheduled)


async def generate(base: str, world: World, plan: list[Planned]) -> tuple[list[Outcome], float]:
    """Send every planned request at its time; returns the outcomes and the span from the
    first scheduled request to the last answer. A request still unanswered
    DRAIN_SECONDS after the last was sent is cancelled and counted as unanswered."""
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=500)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for p in [p for p in plan[:40] if p.kind == "read"]:
            # warm pools and token caches before the clock starts
            await fire(session, base, world, p, loop.time())
        start = loop.time() + 0.2
        tasks: dict[asyncio.Task[Outcome], Planned] = {}

        def launch(p: Planned) -> None:
            tasks[loop.create_task(fire(session, base, world, p, start + p.at))] = p

        for p in plan:
            loop.call_at(start + p.at, launch, p)
        await asyncio.sleep(max(0.0, start + plan[-1].at - loop.time()) + 0.05)
        done, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            print(f"{len(pending)} requests had no answer {DRAIN_SECONDS:.0f} s after the last")
        outcomes = [t.result() for t in done]
        given_up = loop.time()
        for task in pending:
            p = tasks[task]
            outcomes.append(Outcome(p, None, "no answer", given_up - start - p.at, 0.0))
        last = max((start + o.planned.at + o.latency for o in outcomes if o.status), default=start)
    return outcomes, last - start


# --- figures ---------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    rank = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[rank]


@dataclass
class Summary:
    offered: float
    seconds: float
    sent: int
    answered: int
    throughput: float
    latencies: dict[str, list[float]]
    statuses: Counter[str]
    by_label: dict[str, list[float]] = field(default_factory=dict)
    max_lag: float = 0.0
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per request, by process
    load_average: float = 0.0  # of the machine, over the minute before the run

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s.startswith("5"))


def summarise(plan: list[Planned], outcomes: list[Outcome], span: float, rate: float) -> Summary:
    statuses: Counter[str] = Counter()
    latencies: dict[str, list[float]] = {"all": []}
    by_label: dict[str, list[float]] = {}
    for o in outcomes:
        statuses[str(o.status) if o.status is not None else o.error or "no answer"] += 1
        latencies["all"].append(o.latency)
        latencies.setdefault(o.planned.kind, []).append(o.latency)
        by_label.setdefault(o.planned.label, []).append(o.latency)
    for values in (*latencies.values(), *by_label.values()):
        values.sort()
    answered = sum(1 for o in outcomes if o.status is not None)
    return Summary(
        offered=rate,
        seconds=span,
        sent=len(plan),
        answered=answered,
        throughput=answered / span if span else 0.0,
        latencies=latencies,
        statuses=statuses,
        by_label=by_label,
        max_lag=max((o.lag for o in outcomes), default=0.0),
    )


# --- the integrity check ----------------------------------------------------------------


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    value: float = 0  # how many things were checked (or found wrong, per `unit`)
    unit: str = "checked"


async def replay(http: httpx.AsyncClient, world: World, outcomes: list[Outcome]) -> Check:
    """Accepted registrations sent again with the same key and body answer the same
    application (a replay), and create nothing."""
    accepted = [o for o in outcomes if o.planned.kind == "register" and o.status == 201]
    sample = random.Random(3).sample(accepted, min(REPLAYS, len(accepted)))
    wrong = []
    for o in sample:
        p = o.planned
        r = await http.post(
            p.path,
            content=p.body,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {world.tokens[p.user]}",
                "Idempotency-Key": p.idempotency_key or "",
            },
        )
        replayed = r.headers.get("idempotent-replayed") == "true"
        if r.status_code != 201 or not replayed or r.json().get("id") != (o.body or {}).get("id"):
            wrong.append((r.status_code, r.text[:120]))
    return Check(
        "replayed registrations answer the first response",
        not wrong,
        f"{len(sample)} replayed" + (f"; wrong: {wrong[:3]}" if wrong else ""),
        len(sample),
    )


async def check_registrations(
    http: httpx.AsyncClient, world: World, outcomes: list[Outcome]
) -> Check:
    listed = await all_pages(
        http,
        world.tokens,
        "admin",
        f"{REC}/campaigns/{world.register_campaign}/applications",
    )
    count = Counter(a["id_number"] for a in listed)
    by_number = {a["id_number"]: a["id"] for a in listed}
    accepted = [o for o in outcomes if o.planned.kind == "register" and o.status == 201]
    refused = [
        o
        for o in outcomes
        if o.planned.kind == "register" and o.status is not None and 400 <= o.status < 500
    ]
    unsure = {
        o.planned.ref
        for o in outcomes
        if o.planned.kind == "register" and (o.status is None or o.status >= 500)
    }
    problems = []
    for o in accepted:
        number = o.planned.ref
        if count[number] != 1:
            problems.append(f"{number[:6]}… is listed {count[number]} times")
        elif by_number[number] != (o.body or {}).get("id"):
            problems.append(f"application {(o.body or {}).get('id')} is listed under another id")
    problems += [f"refused {o.planned.ref[:6]}… landed" for o in refused if count[o.planned.ref]]
    sent = {o.planned.ref for o in accepted} | unsure
    strays = [n for n in count if n not in sent]
    if strays:
        problems.append(f"{len(strays)} applications nobody sent")
    problems += [f"{n[:6]}… is listed {count[n]} times" for n in unsure if count[n] > 1]
    return Check(
        "every accepted registration is there exactly once",
        not problems,
        f"{len(accepted)} accepted, {len(listed)} listed, {len(refused)} refused"
        + (f", {len(unsure)} unanswered" if unsure else "")
        + (f"; {problems[:5]}" if problems else ""),
        len(listed),
    )


async def check_scores(http: httpx.AsyncClient, world: World, outcomes: list[Outcome]) -> Check:
    listed = await all_pages(
        http, world.tokens, "admin", f"{REC}/campaigns/{world.score_campaign}/applications"
    )
    written = {a["id"]: a["written"] for a in listed}
    accepted = [o for o in outcomes if o.planned.kind == "score" and o.status == 200]
    refused = [
        o
        for o in outcomes
        if o.planned.kind == "score" and o.status is not None and 400 <= o.status < 500
    ]
    problems = []
    for o in accepted:
        application_id, score = o.planned.ref
        if written.get(application_id) is None or float(written[application_id]) != float(score):
            problems.append(
                f"application {application_id}: {written.get(application_id)} ≠ {score}"
            )
    for o in refused:
        application_id, _ = o.planned.ref
        if written.get(application_id) is not None:
            problems.append(f"refused score of application {application_id} was recorded")
    sent = {o.planned.ref[0] for o in outcomes if o.planned.kind == "score"}
    strays = [a for a, w in written.items() if w is not None and a not in sent]
    if strays:
        problems.append(f"{len(strays)} scores nobody sent")
    return Check(
        "every accepted score is recorded as sent",
        not problems,
        f"{len(accepted)} accepted, {len(refused)} refused"
        + (f"; {problems[:5]}" if problems else ""),
        len(listed),
    )


async def check_quota(http: httpx.AsyncClient, world: World) -> Check:
    """Each county's quota headcount is its files on probation or active, and its
    reserved seats are what its open reservations hold."""
    problems = []
    details = []
    for county in (JUNAN, FEI):
        quota = await call(http, world.tokens, "admin", "GET", f"{ROSTER}/regions/{county}/quota")
        files = await all_pages(
            http,
            world.tokens,
            "admin",
            f"{ROSTER}/personnel?region={county}&status=probation&status=active",
        )
        reservations = await all_pages(
            http, world.tokens, "admin", f"{ROSTER}/quota-reservations?region={county}"
        )
        held = sum(r["held"] for r in reservations if r["status"] == "open")
        for r in reservations:
            if r["held"] != r["seats"] - r["converted"] - r["released"]:
                problems.append(f"reservation {r['id']} holds {r['held']}")
        if quota["headcount"] != len(files):
            problems.append(f"{county}: headcount {quota['headcount']} ≠ {len(files)} files")
        if quota["reserved"] != held:
            problems.append(f"{county}: reserved {quota['reserved']} ≠ {held} held")
        available = max(0, quota["quota"] - quota["headcount"] - quota["reserved"])
        if quota["available"] != available:
            problems.append(f"{county}: available {quota['available']} ≠ {available}")
        details.append(
            f"{county}: quota {quota['quota']}, headcount {quota['headcount']}, "
            f"reserved {quota['reserved']}"
        )
    return Check(
        "quota headcount and reserved seats match files and reservations",
        not problems,
        "; ".join(details) + (f"; {problems}" if problems else ""),
        2,
        "regions",
    )


def cpu_seconds(stack: Stack, databases: dict[str, str]) -> dict[str, float]:
    """CPU time used so far by each process of the stack and, on PostgreSQL, by the
    server processes serving its databases (a shared server has other clients)."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    out: dict[str, float] = {}
    for name in NAMES:
        pid = stack.pid_of(name)
        if pid is not None:
            out[name] = used(pid)
    if databases:
        ours = [url.rsplit("/", 1)[1].encode() for url in databases.values()]
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes()
                if title.startswith(b"postgres:") and any(db in title for db in ours):
                    total += used(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
        out["postgres"] = total
    return out


INTAKE_ROUTES = ('route="/internal/events"', 'route="/internal/events/batch"')


def event_calls_received(stack: Stack) -> int:
    """Calls the gateway's event intake has answered so far, one event or a batch each
    (from its /metrics)."""
    text = httpx.get(stack.url + "/metrics", timeout=10).text
    pattern = re.compile(r"^auxpol_http_requests_total\{([^}]*)\}\s+(\S+)$", re.M)
    return sum(
        int(float(value))
        for labels, value in pattern.findall(text)
        if any(route in labels for route in INTAKE_ROUTES)
    )


def quiesce(stack: Stack, quiet_seconds: float = 2.0, timeout: float = 180.0) -> None:
    """Wait until the set-up's background work (the roster announcing the demo's
    imported files to the gateway, in batches) has died down, so that it does
    not run under the measured load."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        seen = event_calls_received(stack)
        if seen != last:
            last, since = seen, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return
        time.sleep(0.5)
    print(f"the stack was still busy after {timeout:.0f} s; measuring anyway", flush=True)


def server_errors_in_metrics(stack: Stack) -> dict[str, int]:
    """5xx answers counted by each process since it started (internal calls too)."""
    found = {}
    pattern = re.compile(r"^auxpol_http_requests_total\{([^}]*)\}\s+([0-9.e+]+)$", re.M)
    for name in NAMES:
        base = stack.url if name == "gateway" else stack.service_url(name)
        text = httpx.get(base + "/metrics", timeout=10).text
        total = 0
        for labels, value in pattern.findall(text):
            status = re.search(r'status="(\d+)"', labels)
            if status and status.group(1).startswith("5"):
                total += int(float(value))
        found[name] = total
    return found


async def integrity(stack: Stack, world: World, outcomes: list[Outcome]) -> list[Check]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=120) as http:
        checks = [await replay(http, world, outcomes)]
        checks.append(await check_registrations(http, world, outcomes))
        checks.append(await check_scores(http, world, outcomes))
        checks.append(await check_quota(http, world))
    in_metrics = server_errors_in_metrics(stack)
    checks.append(
        Check(
            "no process answered a 5xx",
            not any(in_metrics.values()),
            ", ".join(f"{n} {c}" for n, c in in_metrics.items()),
            sum(in_metrics.values()),
            "5xx",
        )
    )
    return checks


# --- report -----------------------------------------------------------------------------


def figures(summary: Summary, checks: list[Check], seconds: float) -> list[Figure]:
    name = f"load mix 70/20/10 @ {summary.offered:g} req/s × {seconds:g} s"
    ms = {k: [v * 1000 for v in vals] for k, vals in summary.latencies.items()}
    out = [
        Figure(
            name,
            "offered rate",
            summary.offered,
            "req/s",
            note=f"{summary.sent} requests; machine load average {summary.load_average:.1f} "
            "before the run (other work on the machine skews the figures)",
        ),
        Figure(
            name,
            "throughput (answers ÷ span)",
            summary.throughput,
            "req/s",
            target=f"≥ {0.95 * summary.offered:g}",
            passed=summary.throughput >= 0.95 * summary.offered,
            note=f"{summary.answered} answered in {summary.seconds:.1f} s",
        ),
    ]
    for kind in ("all", "read", "register", "score"):
        values = ms.get(kind, [])
        if not values:
            continue
        out.append(
            Figure(
                name,
                f"p50 {kind}",
                percentile(values, 0.5),
                "ms",
                note=f"p95 {percentile(values, 0.95):.1f} ms, p99 {percentile(values, 0.99):.1f} "
                f"ms, n={len(values)}",
            )
        )
    all_ms = ms.get("all", [])
    out.append(Figure(name, "p95 all", percentile(all_ms, 0.95), "ms"))
    out.append(Figure(name, "p99 all", percentile(all_ms, 0.99), "ms"))
    errors = {s: n for s, n in summary.statuses.items() if not s.startswith("2")}
    out.append(
        Figure(
            name,
            "errors (non-2xx or no answer)",
            sum(errors.values()),
            "",
            note=", ".join(f"{s}: {n}" for s, n in sorted(errors.items())) or "none",
        )
    )
    out.append(
        Figure(
            name,
            "5xx answers",
            summary.server_errors,
            "",
            target="0",
            passed=summary.server_errors == 0,
        )
    )
    out.append(
        Figure(
            name,
            "generator lag (max send delay)",
            summary.max_lag * 1000,
            "ms",
            note="how late the generator sent a request after its time",
        )
    )
    if summary.cpu_ms:
        out.append(
            Figure(
                name,
                "CPU per request, all processes",
                sum(summary.cpu_ms.values()),
                "ms",
                note=", ".join(f"{n} {v:.1f}" for n, v in summary.cpu_ms.items())
                + f" (on {os.cpu_count()} cores)",
            )
        )
    for c in checks:
        out.append(
            Figure(name, f"integrity: {c.name}", c.value, c.unit, "pass", c.passed, c.detail)
        )
    return out


def per_route(summary: Summary) -> str:
    lines = ["| route | n | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|"]
    for label, values in sorted(summary.by_label.items()):
        ms = [v * 1000 for v in values]
        lines.append(
            f"| {label} | {len(ms)} | {percentile(ms, 0.5):.1f} | {percentile(ms, 0.95):.1f} "
            f"| {percentile(ms, 0.99):.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    seconds = env_number("LOAD_SECONDS", 60)
    rate = env_number("LOAD_RATE", 50)
    scores_needed = score_requests(rate, seconds) + 10
    started = time.monotonic()
    with bench_databases(NAMES) as urls:
        stack = Stack(separate=True, database_urls=urls)
        try:
            print(f"starting the stack on {backend()} ...", flush=True)
            stack.start()
            asyncio.run(load_all(stack.url, DEMO_PASSWORD, echo=lambda m: print(m, flush=True)))
            world = asyncio.run(prepare(stack, scores_needed))
            plan = timetable(world, rate, seconds)
            quiesce(stack)
            print(
                f"sending {len(plan)} requests at {rate:g}/s for {seconds:g} s "
                f"(setup took {time.monotonic() - started:.0f} s) ...",
                flush=True,
            )
            load_average = os.getloadavg()[0]
            cpu_before = cpu_seconds(stack, urls)
            outcomes, span = asyncio.run(generate(stack.url, world, plan))
            cpu_after = cpu_seconds(stack, urls)
            summary = summarise(plan, outcomes, span, rate)
            summary.load_average = load_average
            summary.cpu_ms = {
                name: max(0.0, cpu_after[name] - cpu_before[name]) * 1000 / len(plan)
                for name in cpu_after
                if name in cpu_before
            }
            print("checking integrity ...", flush=True)
            checks = asyncio.run(integrity(stack, world, outcomes))
        finally:
            stack.close()
    print(per_route(summary))
    for c in checks:
        print(f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
    prefix = "AUXPOL_BENCH_DATABASE_URL=… " if os.environ.get("AUXPOL_BENCH_DATABASE_URL") else ""
    record(
        figures(summary, checks, seconds),
        f"{prefix}LOAD_SECONDS={seconds:g} LOAD_RATE={rate:g} make load",
    )
    ok = all(c.passed for c in checks) and summary.server_errors == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
