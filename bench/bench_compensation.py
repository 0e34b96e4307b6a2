"""Compensation (issue 5), through the gateway, for the 100,000 people of the bench
province (bench/dataset.py; imported by the roster benchmark, or here when run alone):

- calculate and store a payroll run (POST /payroll-runs/{id}/calculate: the roster
  snapshot over HTTP, the inputs, the arithmetic and the payslips written): under 10 s.
  January (empty year to date), then, after January's approval, February (year to date
  summed from January's 100,000 payslips);
- the share of the pure calculation: `run_calculation.calculate_run` on the same
  snapshot, schedule and inputs, timed in this process;
- the bank file of February as CSV and XLSX: time, size, and the compensation
  process's peak memory (its RSS high-water mark, reset before each export through
  /proc/<pid>/clear_refs, read from /proc/<pid>/status VmHWM afterwards).

Set-up: a pay schedule through the API; inputs for every 20th person written straight
into the service's database (recording 10,000 inputs one request at a time is not what
is measured here).
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

import httpx
import orjson

from bench import dataset
from bench.common import (
    CpuMeter,
    api,
    check,
    database_url,
    is_postgres,
    noted,
    peak_mb,
    profiled,
    reset_peak,
    rss_mb,
    service_pid,
    size_note,
    sized,
    user_token,
)
from bench.harness import Figure
from services.compensation import demo as pay_demo
from tests.stack import Stack

API = "/api/v1/compensation"
NAME = "compensation"
TARGET_S = 10.0
PERIODS = ("2026-01", "2026-02")
INPUT_EVERY = 20


def schedule() -> dict[str, Any]:
    posts = [post for post, _ in dataset.POSTS]
    return {
        "level_pay": {
            str(level): [f"{2400 + (7 - level) * 450 + s * 120}.00" for s in range(4)]
            for level in range(1, 8)
        },
        "position_pay": {post: f"{1200 + 100 * i}.00" for i, post in enumerate(posts)},
        "performance_pay": {
            "excellent": "800.00",
            "competent": "500.00",
            "basically_competent": "200.00",
            "incompetent": "0.00",
            "none": "0.00",
        },
        "allowances": [
            {"name": "work_allowance", "amount": "350.00", "posts": None},
            {"name": "duty_allowance", "amount": "200.00", "posts": ["patrol", "traffic"]},
        ],
        "contributions": pay_demo.CONTRIBUTIONS,
        "base_floor_ratio": "0.6",
        "base_cap_ratio": "3",
        "local_average_wage": "7000.00",
        "minimum_wage": "2100.00",
        "tax_table": None,
    }


def input_values(i: int) -> dict[str, int]:
    """The inputs of the i-th person who has some (the same in every period)."""
    return {
        "overtime_weekday_centihours": 450,
        "overtime_rest_day_centihours": 800,
        "overtime_holiday_centihours": 0,
        "unpaid_leave_centidays": 50 if i % 3 == 0 else 0,
        "awards": 20000 if i % 2 else 0,
        "deductions": 0,
        "special_additional_deductions": 200000 if i % 4 == 0 else 0,
    }


def snapshot(client: httpx.Client, region: str, period: str) -> list[dict[str, Any]]:
    from services.compensation.run_calculation import period_bounds

    first, last = period_bounds(period)
    response = check(
        client.get(
            "/api/v1/roster/personnel-snapshot",
            params={"region": region, "from": first.isoformat(), "to": last.isoformat()},
        )
    )
    return [orjson.loads(line) for line in response.content.splitlines() if line.strip()]


async def _insert_inputs(url: str, people: list[dict[str, Any]]) -> int:
    from sqlalchemy import insert
    from sqlalchemy.ext.asyncio import create_async_engine

    from kernel.db import utcnow
    from services.compensation.models import PayrollInput

    engine = create_async_engine(url)
    now = utcnow()
    rows = [
        {
            "personnel_id": p["id"],
            "region": p["region"],
            "period": period,
            **input_values(k),
            "version": 1,
            "created_by": "bench",
            "created_at": now,
            "updated_by": "bench",
            "updated_at": now,
        }
        for period in PERIODS
        for k, p in enumerate(people[7::INPUT_EVERY])
    ]
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(PayrollInput), rows)
    finally:
        await engine.dispose()
    return len(rows) // len(PERIODS)


def pure_calculation(people: list[dict[str, Any]], period: str) -> tuple[float, int]:
    """`calculate_run` alone on the same people, schedule and inputs: seconds, payslips."""
    from services.compensation import run_calculation
    from services.compensation.run_calculation import InputLine
    from services.compensation.schedule_rules import PaySchedule
    from services.compensation.upstream import parse_person

    persons = [parse_person(p) for p in people]
    inputs = {p["id"]: InputLine(**input_values(k)) for k, p in enumerate(people[7::INPUT_EVERY])}
    entry = (dataset.PROVINCE, date(2026, 1, 1), PaySchedule.from_payload(schedule()))
    started = time.perf_counter()
    result = run_calculation.calculate_run(
        run_id=1,
        period=period,
        people=persons,
        schedule_for=lambda region: entry,
        inputs=inputs,
        ytd={},
    )
    elapsed = time.perf_counter() - started
    if isinstance(result, run_calculation.CalculationProblems):
        raise RuntimeError(f"the pure calculation refused the run: {result}")
    return elapsed, result.headcount


def _export(
    stack: Stack, client: httpx.Client, run_id: int, fmt: str
) -> tuple[float, int, float, float, bool]:
    """Seconds, bytes, RSS before (MB), peak RSS during (MB), whether the peak was reset."""
    pid = service_pid(stack, NAME)
    before = rss_mb(pid)
    was_reset = reset_peak(pid)
    size = 0
    started = time.perf_counter()
    with client.stream("GET", f"{API}/payroll-runs/{run_id}/export?format={fmt}") as response:
        if response.status_code != 200:
            response.read()
            check(response)
        for chunk in response.iter_bytes():
            size += len(chunk)
    elapsed = time.perf_counter() - started
    return elapsed, size, before, peak_mb(pid), was_reset


def run(stack: Stack, token: str) -> list[Figure]:
    people_wanted = sized(dataset.PEOPLE)
    scaled = size_note(people_wanted)
    figures: list[Figure] = []
    with api(stack, token) as client:
        where = dataset.ensure_province(client, people_wanted)
        region = where.code
        approver = user_token(stack, client, "bench_county_admin", "county_admin", region)
        check(client.put(f"{API}/schedules/{region}/2026-01-01", json=schedule()), 200, 201)
        people = snapshot(client, region, PERIODS[0])
        with_inputs = asyncio.run(_insert_inputs(database_url(stack, NAME), people))
        bench = f"payroll run ({len(people):,} people)"

        calculated: dict[str, float] = {}
        run_ids: dict[str, int] = {}
        approved = 0.0
        cpu: dict[str, str] = {}
        for period in PERIODS:
            created = check(
                client.post(f"{API}/payroll-runs", json={"region": region, "period": period}),
                201,
            ).json()
            run_ids[period] = created["id"]
            meters = (CpuMeter(stack, NAME).start(), CpuMeter(stack, "roster").start())
            with profiled(stack, NAME, f"compensation-calculate-{period}"):
                started = time.perf_counter()
                response = client.post(f"{API}/payroll-runs/{created['id']}/calculate")
                calculated[period] = time.perf_counter() - started
            meters[0].stop()
            meters[1].stop()
            cpu[period] = f"{meters[0].note()}; roster (snapshot) " + meters[1].note().removeprefix(
                "CPU: "
            )
            body = check(response).json()
            if body["headcount"] != len(people):
                raise RuntimeError(f"{period}: {body['headcount']} payslips, {len(people)} people")
            if period == PERIODS[0]:
                started = time.perf_counter()
                check(
                    client.post(
                        f"{API}/payroll-runs/{created['id']}/approve",
                        headers={"Authorization": f"Bearer {approver}"},
                    )
                )
                approved = time.perf_counter() - started

        pure, payslips = pure_calculation(people, PERIODS[0])
        postgres = is_postgres(stack, NAME)
        january, february = calculated[PERIODS[0]], calculated[PERIODS[1]]
        figures += [
            Figure(
                bench,
                f"calculate {PERIODS[0]} (empty year to date)",
                january,
                "s",
                target=f"< {TARGET_S:.0f} s (PostgreSQL)",
                passed=(january < TARGET_S) if postgres else None,
                note=noted(
                    f"{len(people) / january:,.0f} payslips/s",
                    f"roster snapshot included, {with_inputs:,} with inputs",
                    cpu[PERIODS[0]],
                    scaled,
                ),
            ),
            Figure(
                bench,
                f"calculate {PERIODS[1]} (year to date from {PERIODS[0]})",
                february,
                "s",
                target=f"< {TARGET_S:.0f} s (PostgreSQL)",
                passed=(february < TARGET_S) if postgres else None,
                note=noted(f"{len(people) / february:,.0f} payslips/s", cpu[PERIODS[1]]),
            ),
            Figure(
                bench,
                "pure calculation (calculate_run alone)",
                pure,
                "s",
                note=f"{payslips:,} payslips, same snapshot, schedule and inputs, in-process",
            ),
            Figure(
                bench,
                f"pure share of calculate {PERIODS[0]}",
                100 * pure / january,
                "%",
                note="the rest: snapshot transfer, reads, payslip writes, commit",
            ),
            Figure(bench, f"approve {PERIODS[0]}", approved, "s"),
        ]

        for fmt in ("csv", "xlsx"):
            seconds, size, before, peak, was_reset = _export(
                stack, client, run_ids[PERIODS[1]], fmt
            )
            figures += [
                Figure(
                    f"bank export ({len(people):,} payslips)",
                    f"GET /payroll-runs/{{id}}/export?format={fmt}",
                    seconds,
                    "s",
                    note=f"{size / 1e6:.1f} MB, {len(people) / seconds:,.0f} rows/s",
                ),
                Figure(
                    f"bank export ({len(people):,} payslips)",
                    f"{fmt}: peak RSS of the compensation process",
                    peak,
                    "MB",
                    note=(
                        f"RSS {before:.0f} MB before, +{max(0.0, peak - before):.0f} MB at the peak"
                        if was_reset
                        else "VmHWM since the process started (clear_refs refused)"
                    ),
                ),
            ]
    return figures
