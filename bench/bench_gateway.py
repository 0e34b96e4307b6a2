"""Gateway overhead: the same authenticated GET on a roster resource, straight to the
service and through the gateway, with the same load generator in the same run."""

from __future__ import annotations

import httpx

from bench.common import CpuMeter, profiled
from bench.harness import Figure
from bench.httpload import load
from tests.stack import Stack

CONNECTIONS = 8
SECONDS = 10


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
    roster_cpu = CpuMeter(stack, "roster").start()
    with profiled(stack, "roster", "roster-direct"):
        direct = load(stack.service_url("roster") + path, headers, CONNECTIONS, SECONDS)
    roster_cpu.stop()
    gateway_cpu = CpuMeter(stack, "gateway").start()
    with profiled(stack, "gateway", "gateway-forward"):
        through = load(stack.url + path, headers, CONNECTIONS, SECONDS)
    gateway_cpu.stop()
    # CPU per request hardly moves when other work shares the machine; req/s and p50 do
    roster_ms = roster_cpu.service / max(1, direct.requests) * 1000
    gateway_ms = gateway_cpu.service / max(1, through.requests) * 1000
    ratio = through.requests_per_second / direct.requests_per_second
    added = through.p50_ms - direct.p50_ms
    note = f"{direct.tool}, {CONNECTIONS} connections, {SECONDS} s each"
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
        Figure(name, "p50 added by the gateway", added, "ms", target="≤ 1 ms", passed=added <= 1.0),
        Figure(
            name,
            "gateway CPU per forwarded request",
            gateway_ms,
            "ms",
            note=f"the roster's own CPU per request (direct): {roster_ms:.2f} ms",
        ),
    ]
