"""The roster snapshot parser and client, against a stubbed transport."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from kernel.errors import DomainError
from services.compensation.upstream import parse_person, personnel_region, personnel_snapshot

LINE = {
    "id": 7,
    "region": "371327001",
    "unit": "Shizilu station",
    "post_category": "duty",
    "post": "patrol",
    "level": 7,
    "step": 2,
    "status": "active",
    "hire_date": "2024-03-01",
    "probation_end": "2024-06-01",
    "left_date": None,
    "last_grade": "competent",
    "last_grade_year": 2025,
    "name": "张三",
    "id_number": "3713**********1234",
}


def test_parse_person_fast_and_checked_paths():
    p = parse_person(LINE)
    assert (p.id, p.level, p.step, p.hire_date, p.last_grade) == (
        7,
        7,
        2,
        date(2024, 3, 1),
        "competent",
    )
    # the roster's own names and string ids go through the checked path
    other = {**LINE, "id": "8", "last_grade": None, "last_assessment_grade": "excellent"}
    other.pop("step")
    q = parse_person(other)
    assert (q.id, q.step, q.last_grade) == (8, 1, "excellent")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": None}, "id"),
        ({"level": "seven"}, "level"),
        ({"hire_date": "2024-13-01"}, "hire_date"),
        ({"post": 3}, "post"),
        ({"left_date": 5}, "left_date"),
    ],
)
def test_parse_person_names_the_bad_field(change, message):
    with pytest.raises(ValueError, match=message):
        parse_person({**LINE, **change})


def client_for(body_chunks, status=200):
    async def stream():
        for chunk in body_chunks:
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=stream())

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def snapshot(chunks, status=200):
    async with client_for(chunks, status) as client:
        return await personnel_snapshot(
            client,
            "http://roster",
            "Bearer x",
            "371327",
            date(2026, 1, 1),
            date(2026, 1, 31),
            read_timeout=5,
        )


async def test_snapshot_lines_split_across_chunks():
    lines = [json.dumps({**LINE, "id": i}).encode() for i in range(1, 4)]
    outside = json.dumps({**LINE, "id": 9, "region": "371325"}).encode()
    body = b"\n".join([*lines, outside]) + b"\n\n"
    chunks = [body[i : i + 37] for i in range(0, len(body), 37)]
    result = await snapshot(chunks)
    assert [p.id for p in result.people] == [1, 2, 3]
    assert result.outside_region == [9]
    # no final newline
    result = await snapshot([lines[0]])
    assert [p.id for p in result.people] == [1]


@pytest.mark.parametrize(
    ("chunks", "status", "code"),
    [
        ([b"{not json}\n"], 200, "roster_bad_response"),
        ([json.dumps({**LINE, "level": None}).encode()], 200, "roster_bad_response"),
        (
            [json.dumps(LINE).encode() + b"\n" + json.dumps(LINE).encode()],
            200,
            "roster_bad_response",
        ),
        ([b""], 500, "roster_unavailable"),
        ([b""], 404, "roster_unavailable"),
        ([b""], 403, "roster_refused"),
    ],
)
async def test_snapshot_problems(chunks, status, code):
    with pytest.raises(DomainError) as info:
        await snapshot(chunks, status)
    assert info.value.code == code


async def test_personnel_region():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/5"):
            return httpx.Response(200, json={"id": 5, "region": "371327"})
        if request.url.path.endswith("/6"):
            return httpx.Response(200, json={"id": 6})
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        assert await personnel_region(client, "http://roster", "Bearer x", 5) == "371327"
        with pytest.raises(DomainError) as info:
            await personnel_region(client, "http://roster", "Bearer x", 7)
        assert info.value.code == "unknown_personnel" and info.value.status == 422
        with pytest.raises(DomainError) as info:
            await personnel_region(client, "http://roster", "Bearer x", 6)
        assert info.value.code == "roster_bad_response"
