"""Calls to the roster and recruitment services.

- The roster is called with the caller's own bearer token forwarded, so that the roster
  applies the caller's jurisdiction and ID-number masking.
- Recruitment is called with this service's own client credentials (role ``service``).

The personnel snapshot is NDJSON, parsed line by line as it streams in.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import orjson

from kernel.errors import DomainError, Forbidden
from kernel.service_client import ServiceTokenProvider
from services.compensation.errors import RosterBadResponse, RosterUnavailable, UnknownPersonnel
from services.compensation.run_calculation import SnapshotPerson

log = logging.getLogger("auxpol.compensation.upstream")

SNAPSHOT_PATH = "/api/v1/roster/personnel-snapshot"
PERSONNEL_PATH = "/api/v1/roster/personnel/{id}"
PLANS_PATH = "/api/v1/recruitment/plans"


def _roster_refused(response: httpx.Response) -> DomainError:
    if response.status_code in (401, 403):
        return Forbidden(
            f"the roster refused your token ({response.status_code})", code="roster_refused"
        )
    return RosterUnavailable(f"the roster answered {response.status_code}")


def _text(obj: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key} is missing")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _int(obj: dict[str, Any], key: str, default: int | None = None) -> int:
    value = obj.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        raise ValueError(f"{key} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"{key} must be an integer")


def _date(obj: dict[str, Any], key: str, *, required: bool) -> date | None:
    value = _text(obj, key, required=required)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ValueError(f"{key} must be a date") from None


_DATES: dict[str, date] = {}


def _cached_date(value: str) -> date:
    d = _DATES.get(value)
    if d is None:
        d = date.fromisoformat(value[:10])
        if len(_DATES) < 20_000:
            _DATES[value] = d
    return d


def parse_person(obj: Any) -> SnapshotPerson:
    """One snapshot line; ``ValueError`` names the bad field. The grade is read from
    ``last_grade`` (the contract) or ``last_assessment_grade`` (the roster's own name).

    The common, well-formed line takes a fast path of plain type checks; anything else
    goes through the field-by-field checks that say what is wrong."""
    if type(obj) is dict:
        get = obj.get
        pid, region, post, level, hire = (
            get("id"),
            get("region"),
            get("post"),
            get("level"),
            get("hire_date"),
        )
        step, left, unit = get("step", 1), get("left_date"), get("unit")
        grade = get("last_grade") or get("last_assessment_grade")
        category, name, id_number = get("post_category"), get("name"), get("id_number")
        status = get("status")
        if (
            type(pid) is int
            and type(region) is str
            and type(post) is str
            and type(level) is int
            and type(step) is int
            and type(hire) is str
            and (left is None or type(left) is str)
            and (grade is None or type(grade) is str)
            and (unit is None or type(unit) is str)
            and (category is None or type(category) is str)
            and (name is None or type(name) is str)
            and (id_number is None or type(id_number) is str)
            and (status is None or type(status) is str)
        ):
            try:
                hire_date = _cached_date(hire)
                left_date = None if left is None else _cached_date(left)
            except ValueError:
                pass
            else:
                return SnapshotPerson(
                    pid,
                    region,
                    unit,
                    category,
                    post,
                    level,
                    step,
                    status or "active",
                    hire_date,
                    left_date,
                    grade,
                    name or "",
                    id_number,
                )
    return _parse_person_checked(obj)


def _parse_person_checked(obj: Any) -> SnapshotPerson:
    if not isinstance(obj, dict):
        raise ValueError("a line must be a JSON object")
    hire = _date(obj, "hire_date", required=True)
    assert hire is not None
    return SnapshotPerson(
        id=_int(obj, "id"),
        region=_text(obj, "region") or "",
        unit=_text(obj, "unit", required=False),
        post_category=_text(obj, "post_category", required=False),
        post=_text(obj, "post") or "",
        level=_int(obj, "level"),
        step=_int(obj, "step", default=1),
        status=_text(obj, "status", required=False) or "active",
        hire_date=hire,
        left_date=_date(obj, "left_date", required=False),
        last_grade=_text(obj, "last_grade", required=False)
        or _text(obj, "last_assessment_grade", required=False),
        name=_text(obj, "name", required=False) or "",
        id_number=_text(obj, "id_number", required=False),
    )


async def _lines(response: httpx.Response) -> AsyncIterator[bytes]:
    buffer = b""
    async for chunk in response.aiter_bytes():
        buffer += chunk
        if b"\n" not in chunk:
            continue
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line
    if buffer:
        yield buffer


@dataclass
class Snapshot:
    people: list[SnapshotPerson]
    outside_region: list[int]


async def personnel_snapshot(
    client: httpx.AsyncClient,
    roster_url: str,
    authorization: str,
    region: str,
    first: date,
    last: date,
    *,
    read_timeout: float,
) -> Snapshot:
    """Everyone on probation or active at any time in [first, last] in ``region``."""
    url = roster_url.rstrip("/") + SNAPSHOT_PATH
    params = {"region": region, "from": first.isoformat(), "to": last.isoformat()}
    headers = {"Authorization": authorization, "Accept": "application/x-ndjson"}
    people: list[SnapshotPerson] = []
    outside: list[int] = []
    seen: set[int] = set()
    try:
        async with client.stream(
            "GET", url, params=params, headers=headers, timeout=read_timeout
        ) as response:
            if response.status_code != 200:
                raise _roster_refused(response)
            number = 0
            async for raw in _lines(response):
                number += 1
                if not raw.strip():
                    continue
                try:
                    person = parse_person(orjson.loads(raw))
                except (orjson.JSONDecodeError, ValueError) as exc:
                    raise RosterBadResponse(
                        f"line {number} of the personnel snapshot is unusable: {exc}"
                    ) from None
                if person.id in seen:
                    raise RosterBadResponse(
                        f"the personnel snapshot lists person {person.id} twice"
                    )
                seen.add(person.id)
                if not person.region.startswith(region):
                    outside.append(person.id)
                    continue
                people.append(person)
    except httpx.HTTPError as exc:
        log.warning("roster snapshot failed", extra={"error": type(exc).__name__})
        raise RosterUnavailable(f"the roster is unreachable ({type(exc).__name__})") from exc
    return Snapshot(people, outside)


async def personnel_region(
    client: httpx.AsyncClient, roster_url: str, authorization: str, personnel_id: int
) -> str:
    """The region of a person the caller may see; 422 ``unknown_personnel`` otherwise."""
    url = roster_url.rstrip("/") + PERSONNEL_PATH.format(id=personnel_id)
    try:
        response = await client.get(url, headers={"Authorization": authorization})
    except httpx.HTTPError as exc:
        raise RosterUnavailable(f"the roster is unreachable ({type(exc).__name__})") from exc
    if response.status_code == 404:
        raise UnknownPersonnel(
            f"person {personnel_id} is not in the roster of your jurisdiction",
            personnel_id=personnel_id,
        )
    if response.status_code != 200:
        raise _roster_refused(response)
    try:
        body = response.json()
        region = body["region"]
    except (ValueError, KeyError, TypeError):
        raise RosterBadResponse("the roster's personnel answer has no region") from None
    if not isinstance(region, str):
        raise RosterBadResponse("the roster's personnel answer has no region")
    return region


@dataclass(frozen=True)
class PlannedPosition:
    plan_id: Any
    region: str
    year: int
    post_category: str | None
    post: str
    open_seats: int


async def approved_plans(
    client: httpx.AsyncClient,
    recruitment_url: str,
    tokens: ServiceTokenProvider,
    region: str,
    *,
    max_pages: int = 200,
) -> list[PlannedPosition]:
    """Open seats (headcount − filled) of approved plans under ``region``.

    Raises ``RosterUnavailable``-like ``UpstreamUnavailable`` problems or
    ``httpx.HTTPError``/``ValueError`` on failure; the caller decides how to degrade.
    """
    url = recruitment_url.rstrip("/") + PLANS_PATH
    out: list[PlannedPosition] = []
    cursor: str | None = None
    for _ in range(max_pages):
        params = {"region": region, "status": "approved", "limit": "500"}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(url, params=params, headers=await tokens.headers())
        if response.status_code != 200:
            raise ValueError(f"recruitment answered {response.status_code}")
        page = response.json()
        for plan in page["items"]:
            if plan.get("status", "approved") != "approved":
                continue
            plan_region = str(plan["region"])
            if not plan_region.startswith(region):
                continue
            year = int(plan["year"])
            for position in plan.get("positions") or []:
                headcount = int(position["headcount"])
                filled = int(position.get("filled") or 0)
                out.append(
                    PlannedPosition(
                        plan_id=plan.get("id"),
                        region=plan_region,
                        year=year,
                        post_category=position.get("post_category"),
                        post=str(position["post"]),
                        open_seats=max(headcount - filled, 0),
                    )
                )
        cursor = page.get("next_cursor")
        if not cursor:
            return out
    raise ValueError("recruitment plans do not end")
