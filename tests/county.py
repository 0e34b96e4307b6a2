"""A county on a running stack, for the cross-service tests: its users with real
passwords, Shandong › Linyi › Junan in the roster with a fixed quota, and the small
request helpers those tests share."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from tests.stack import Stack

REC = "/api/v1/recruitment"
ROSTER = "/api/v1/roster"
COUNTY = "371327"  # 莒南县


def ok(response: httpx.Response, *codes: int) -> Any:
    """The JSON of an answer whose status is one of `codes` (200 or 201 by default)."""
    assert response.status_code in (codes or (200, 201)), (
        response.request.method,
        str(response.request.url),
        response.status_code,
        response.text[:2000],
    )
    return response.json() if response.content else None


def wait_for(check: Any, timeout: float = 90, what: str = "condition") -> Any:
    """Poll `check` until it gives something truthy; a generous bound, never a measure."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def login(stack: Stack, username: str, password: str) -> httpx.Client:
    return stack.client(stack.token(username, password))


def set_up_county(
    stack: Stack, users: Sequence[tuple[str, list[str], str]], password: str, seats: int = 10
) -> None:
    """`users` as (name, roles, region) with `password`; the three regions with their
    figures; a fixed quota of `seats` in the county."""
    with stack.client(stack.token()) as admin:
        for name, roles, region in users:
            ok(
                admin.post(
                    "/auth/users",
                    json={"username": name, "password": password, "roles": roles, "region": region},
                ),
                201,
            )
        for code, name in (("37", "山东省"), ("3713", "临沂市"), (COUNTY, "莒南县")):
            ok(
                admin.put(
                    f"{ROSTER}/regions/{code}",
                    json={
                        "name": name,
                        "population": 825000,
                        "police_establishment": 297,
                        "year": 2025,
                    },
                ),
                200,
                201,
            )
        ok(
            admin.post(
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
