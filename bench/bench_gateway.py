"""Gateway overhead: the same authenticated GET on a roster resource, straight to the
service and through the gateway, with the same load generator in the same run.

The two paths take turns, in rounds ordered direct-gateway, gateway-direct, ... (ABBA),
rather than one long window each: on two shared cores the machine's pace drifts by more
than the gateway's cost within a minute, and a single pair of windows gave the added
p50 anywhere between -1.8 and +1.9 ms for the same code. Throughput is summed over the
rounds; p50 and p99 are the medians of the rounds', and the added p50 is the median of
the rounds' paired differences (each pair run back to back)."""

from __future__ import annotations

import statistics

import httpx

from bench.common import CpuMeter, profiled
from bench.harness import Figure
from bench.httpload import LoadResult, load
from tests.stack import Stack

CONNECTIONS = 8
ROUNDS = 12  # of each path
SECONDS = 2  # a round


def run(stack: Stack, token: str) -> list[Figure]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.url, headers=headers) as api:
        api.put(
            "/api/v1/roster/regions/37",
            json={
                "name": "山东省",
                "population": 101_000_000,
                "police_establishment": 150_000,
                "year": 2026,
            },
        ).raise_for_status()
        api.put(
            "/api/v1/roster/regions/3713",
            json={
                "name": "临沂市",
                "population": 11_000_000,
                "police_establishment": 12_000,
                "year": 2026,
            },
        ).raise_for_status()
        api.put(
            "/api/v1/roster/regions/371327",
            json={
                "name": "莒南县",
                "population": 825_000,
                "police_establishment": 297,
                "year": 2026,
            },
        ).raise_for_status()
    path = "/api/v1/roster/regions/371327"
    # warm both paths (JWKS fetch, connection pools, token caches)
    for base in (stack.service_url("roster"), stack.url):
        for _ in range(50):
            httpx.get(base + path, headers=headers).raise_for_status()
    rounds: dict[str, list[LoadResult]] = {"direct": [], "gateway": []}
    cpu = {"direct": 0.0, "gateway": 0.0}
    urls = {"direct": stack.service_url("roster") + path, "gateway": stack.url + path}
    meters = {"direct": "roster", "gateway": "gateway"}
    labels = {"direct": "roster-direct", "gateway": "gateway-forward"}
    for turn in range(ROUNDS):
        order = ("direct", "gateway") if turn % 2 == 0 else ("gateway", "direct")
        for side in order:
            meter = CpuMeter(stack, meters[side]).start()
            with profiled(stack, meters[side], labels[side]):
                rounds[side].append(load(urls[side], headers, CONNECTIONS, SECONDS))
            meter.stop()
            cpu[side] += meter.service
    direct, through = _pooled(rounds["direct"]), _pooled(rounds["gateway"])
    # CPU per request hardly moves when other work shares the machine; req/s and p50 do
    roster_ms = cpu["direct"] / max(1, direct.requests) * 1000
    gateway_ms = cpu["gateway"] / max(1, through.requests) * 1000
    ratio = through.requests_per_second / direct.requests_per_second
    pairs = [g.p50_ms - d.p50_ms for d, g in zip(rounds["direct"], rounds["gateway"], strict=True)]
    added = statistics.median(pairs)
    note = f"{direct.tool}, {CONNECTIONS} connections, {ROUNDS} rounds of {SECONDS} s, ABBA"
    name = "gateway overhead (GET /regions/{code})"
    return [
        Figure(name, "direct to roster", direct.requests_per_second, "req/s", note=note),
        Figure(
            name,
            "direct p50 / p99",
            direct.p50_ms,
            "ms",
            note=f"p99 {direct.p99_ms:.2f} ms, errors {direct.errors}",
        ),
        Figure(name, "through the gateway", through.requests_per_second, "req/s", note=note),
        Figure(
            name,
            "gateway p50 / p99",
            through.p50_ms,
            "ms",
            note=f"p99 {through.p99_ms:.2f} ms, errors {through.errors}",
        ),
        Figure(
            name,
            "throughput ratio gateway ÷ direct",
            ratio,
            "×",
            target="≥ 0.50",
            passed=ratio >= 0.5,
        ),
        Figure(
            name,
            "p50 added by the gateway",
            added,
            "ms",
            target="≤ 1 ms",
            passed=added <= 1.0,
            note="median of the rounds: " + ", ".join(f"{p:+.2f}" for p in pairs) + " ms",
        ),
        Figure(
            name,
            "gateway CPU per forwarded request",
            gateway_ms,
            "ms",
            note=f"the roster's own CPU per request (direct): {roster_ms:.2f} ms",
        ),
    ]


def _pooled(runs: list[LoadResult]) -> LoadResult:
    """The rounds of one path as one result: requests and errors summed, req/s over the
    rounds' time, p50 and p99 the medians of the rounds'."""
    requests = sum(r.requests for r in runs)
    seconds = sum(r.requests / r.requests_per_second for r in runs if r.requests_per_second)
    return LoadResult(
        runs[0].tool,
        requests / seconds if seconds else 0.0,
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.errors for r in runs),
        requests,
    )
