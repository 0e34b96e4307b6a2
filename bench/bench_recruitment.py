"""Recruitment (issue 4), through the gateway, on a campaign of 100,000 applicants over
200 posts (5 places each):

- import 100,000 written scores from CSV (POST /campaigns/{id}/results/written): under 3 s;
- close the written stage, and close the interview stage: under 3 s each.

The targeted campaign is the worst case: an entry ratio that sends every applicant to
the interview, so the written close moves all 100,000 and the interview close ranks all
100,000. A second campaign with the usual entry ratio of 3 (15 interviewees a post) gives
the everyday figures for context. Set-up goes through the API too: the roster region and
its quota (the plan's approval reserves 1,000 seats there), the plan, the campaign, and
the applicants by bulk registration (CSV, 20,000 rows a request, timed for context).
"""

from __future__ import annotations

import csv
import io
import random
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from bench.common import (
    CpuMeter,
    api,
    check,
    is_postgres,
    noted,
    profiled,
    size_note,
    sized,
)
from bench.harness import Figure
from services.common.resident_id import make_id_number
from tests.stack import Stack

ROSTER = "/api/v1/roster"
API = "/api/v1/recruitment"
PROVINCE, CITY, COUNTY = "42", "4201", "420101"
APPLICANTS = 100_000
POSTS = 200
PLACES = 5
TARGET_S = 3.0
IMPORT_CHUNK = 20_000

ELIGIBILITY = {
    "min_age": 18,
    "max_age": 35,
    "min_education": "junior_college",
    "duty_post": False,
}


@dataclass(frozen=True)
class Scenario:
    label: str
    entry_ratio: str
    targeted: bool


SCENARIOS = (
    Scenario("everyone interviewed", "1000", True),
    Scenario("entry ratio 3", "3", False),
)


def rules(posts: list[str], ratio: str) -> dict[str, Any]:
    return {
        "weights": {"written": "0.5", "interview": "0.5", "fitness": "0"},
        "bonus": [{"category": "veteran", "points": "2", "applies_to": "written"}],
        "tie_break": ["interview", "written"],
        "backfill": {"on": ["fitness", "medical", "withdrawal", "objection"]},
        "publicity_working_days": 5,
        "interview_scoring": {"drop_extremes": True},
        "posts": {p: {"entry_ratio": ratio, "eligibility": ELIGIBILITY} for p in posts},
    }


def applicants_csv(posts: list[str], count: int, offset: int) -> bytes:
    """`count` eligible applicants, posts in turn; ID numbers unique across campaigns
    for (offset + i) < 10⁶."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["id_number", "name", "post", "education", "veteran", "hukou_region", "negative_list_clear"]
    )
    education = ("junior_college", "bachelor", "bachelor", "master")
    for i in range(count):
        n = offset + i
        j = n // 90
        born = date(1995 + j % 10, 1 + j // 10 % 12, 1 + n % 28)
        writer.writerow(
            [
                make_id_number(f"4201{n % 90 + 10}", born, j // 120 % 1000),
                f"考生{n}",
                posts[i % len(posts)],
                education[n % len(education)],
                "yes" if n % 13 == 0 else "no",
                COUNTY,
                "yes",
            ]
        )
    return out.getvalue().encode()


def scores_csv(ids: list[int], low: int, high: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    out.write("application_id,score\n")
    out.writelines(f"{i},{rng.randint(low, high) / 100:.2f}\n" for i in ids)
    return out.getvalue().encode()


def _roster_region(client: httpx.Client) -> None:
    for code, body in (
        (PROVINCE, {"name": "鄂州省"}),
        (CITY, {"name": "第01市"}),
        (
            COUNTY,
            {
                "name": "第01县",
                "population": 10_000_000,
                "police_establishment": 9_000,
                "year": 2026,
            },
        ),
    ):
        check(client.put(f"{ROSTER}/regions/{code}", json=body))
    check(
        client.post(
            f"{ROSTER}/quota-rules",
            json={
                "region_prefix": PROVINCE,
                "basis": "per_10k_population",
                "value": "15",
                "post_categories": ["civilian", "duty"],
                "effective_from": "2018-01-01",
            },
        ),
        201,
        409,
    )


def _campaign(client: httpx.Client, posts: list[str], ratio: str, year: int) -> int:
    positions = [{"post_category": "civilian", "post": p, "headcount": PLACES} for p in posts]
    plan = check(
        client.post(f"{API}/plans", json={"region": COUNTY, "year": year, "positions": positions})
    ).json()
    check(client.post(f"{API}/plans/{plan['id']}/submit"))
    check(client.post(f"{API}/plans/{plan['id']}/approve"))
    today = date.today()
    campaign = check(
        client.post(
            f"{API}/campaigns",
            json={
                "plan_id": plan["id"],
                "registration_opens": (today - timedelta(days=3)).isoformat(),
                "registration_closes": (today + timedelta(days=3)).isoformat(),
                "rules": rules(posts, ratio),
            },
        )
    ).json()
    return int(campaign["id"])


def _timed_post(client: httpx.Client, path: str, **kw: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.post(path, **kw)
    elapsed = time.perf_counter() - started
    return elapsed, check(response).json()


def _applied(client: httpx.Client, cid: int) -> list[int]:
    ids: list[int] = []
    cursor = ""
    while True:
        url = f"{API}/campaigns/{cid}/applications?status=applied&limit=500"
        page = check(client.get(url + (f"&cursor={cursor}" if cursor else ""))).json()
        ids += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"] or ""
        if not cursor:
            return ids


def _scenario(
    stack: Stack,
    client: httpx.Client,
    scenario: Scenario,
    number: int,
    applicants: int,
    posts: list[str],
) -> list[Figure]:
    cid = _campaign(client, posts, scenario.entry_ratio, 2027 + number)
    bench = f"recruitment: {applicants:,} applicants, {len(posts)} posts ({scenario.label})"
    scaled = size_note(applicants)
    figures: list[Figure] = []

    ids: list[int] = []
    spent = 0.0
    for start in range(0, applicants, IMPORT_CHUNK):
        content = applicants_csv(
            posts, min(IMPORT_CHUNK, applicants - start), number * 200_000 + start
        )
        with profiled(stack, "recruitment", f"recruitment-{number}-register-{start}"):
            elapsed, out = _timed_post(
                client,
                f"{API}/campaigns/{cid}/applications/import",
                content=content,
                headers={"content-type": "text/csv"},
            )
        spent += elapsed
        if out["eligible"] != out["received"]:
            raise RuntimeError(f"registration: {out['eligible']} of {out['received']} eligible")
        ids += out["application_ids"]
    if scenario.targeted:
        figures.append(
            Figure(
                bench,
                "bulk registration (set-up)",
                spent,
                "s",
                note=noted(
                    f"{applicants / spent:,.0f} applicants/s",
                    f"CSV in requests of {IMPORT_CHUNK:,} rows",
                    scaled,
                ),
            )
        )
    check(client.post(f"{API}/campaigns/{cid}/stages/registration/close"))

    cpu: dict[str, str] = {}

    def timed(label: str, path: str, **kw: Any) -> tuple[float, Any]:
        meter = CpuMeter(stack, "recruitment").start()
        with profiled(stack, "recruitment", f"recruitment-{number}-{label}"):
            out = _timed_post(client, path, **kw)
        cpu[label] = meter.stop()
        return out

    written = scores_csv(ids, 3000, 9900, seed=7)
    upload_written, out = timed(
        "written-scores",
        f"{API}/campaigns/{cid}/results/written",
        content=written,
        headers={"content-type": "text/csv"},
    )
    close_written, closed = timed("written-close", f"{API}/campaigns/{cid}/stages/written/close")
    advancing = sum(p["advancing"] for p in closed["summary"].values())
    interviewees = ids if advancing == len(ids) else _applied(client, cid)
    if len(interviewees) != advancing:
        raise RuntimeError(f"{advancing} advance but {len(interviewees)} wait for the interview")
    interview = scores_csv(interviewees, 5000, 9900, seed=11)
    upload_interview, _ = timed(
        "interview-scores",
        f"{API}/campaigns/{cid}/results/interview",
        content=interview,
        headers={"content-type": "text/csv"},
    )
    close_interview, _ = timed("interview-close", f"{API}/campaigns/{cid}/stages/interview/close")

    postgres = is_postgres(stack, "recruitment")

    def fig(
        measure: str, seconds: float, rows: int, targeted: bool, note: str = "", step: str = ""
    ) -> Figure:
        return Figure(
            bench,
            measure,
            seconds,
            "s",
            target=f"< {TARGET_S:.0f} s (PostgreSQL)" if targeted else "",
            passed=(seconds < TARGET_S) if targeted and postgres else None,
            note=noted(f"{rows / seconds:,.0f} rows/s", note, cpu.get(step, ""), scaled),
        )

    t = scenario.targeted
    figures += [
        fig(
            "import written scores (CSV)",
            upload_written,
            len(ids),
            t,
            f"{len(written) / 1e6:.1f} MB",
            "written-scores",
        ),
        fig(
            "close the written stage",
            close_written,
            len(ids),
            t,
            f"{advancing:,} advance",
            "written-close",
        ),
        fig(
            "import interview scores (CSV)",
            upload_interview,
            len(interviewees),
            False,
            step="interview-scores",
        ),
        fig(
            "close the interview stage",
            close_interview,
            len(interviewees),
            t,
            f"{len(interviewees):,} ranked",
            "interview-close",
        ),
    ]
    return figures


def run(stack: Stack, token: str) -> list[Figure]:
    applicants = sized(APPLICANTS, minimum=10 * POSTS)
    posts = [f"post{i:03d}" for i in range(POSTS)]
    figures: list[Figure] = []
    with api(stack, token) as client:
        _roster_region(client)
        for number, scenario in enumerate(SCENARIOS):
            figures += _scenario(stack, client, scenario, number, applicants, posts)
    return figures
