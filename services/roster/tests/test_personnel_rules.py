"""The fast paths of the bulk import agree with the long ways they stand in for: the
ID number check (`resident_facts` against `resident_id.parse`) and the
`personnel.created` events of a bundle (against `events.envelope`)."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common import resident_id as rid
from services.roster import events
from services.roster.personnel_rules import FieldProblem, parse_id_number, resident_facts


def _long_way(raw: str) -> tuple[str, date, str] | tuple[str, str]:
    try:
        r = parse_id_number(raw)
    except FieldProblem as exc:
        return exc.code, exc.message
    return r.number, r.birth_date, r.sex.value


def _fast(raw: str) -> tuple[str, date, str] | tuple[str, str]:
    try:
        return resident_facts(raw)
    except FieldProblem as exc:
        return exc.code, exc.message


def _numbers() -> list[str]:
    rng = random.Random(7)
    valid = [
        rid.make_id_number(
            rng.choice(["371327", "410101", "110105"]),
            date(1950, 1, 1) + timedelta(days=rng.randrange(25_000)),
            rng.randrange(1000),
        )
        for _ in range(300)
    ]
    wrong_check = [n[:17] + ("0" if n[17] != "0" else "1") for n in valid[:100]]
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in valid[0])
    return [
        *valid,
        *valid,  # the second time round the birth dates are memoised
        *wrong_check,
        *(n.lower() for n in valid if n.endswith("X")),
        f"  {valid[1]} ",
        full_width,  # digits other than ASCII: the long way decides
        valid[2][:17],
        valid[3] + "1",
        "37132719950230001X",  # 30 February
        "371327184901010011",  # before 1850
        "37132719950101001Y",
        "",
        "ß" * 18,
    ]


@pytest.mark.parametrize("raw", _numbers())
def test_resident_facts_agrees_with_resident_id_parse(raw: str) -> None:
    assert _fast(raw) == _long_way(raw)


def test_a_wrong_check_character_is_refused_after_its_birth_date_is_known() -> None:
    good = rid.make_id_number("371327", date(1990, 6, 15), 11)
    resident_facts(good)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(FieldProblem) as caught:
        resident_facts(bad)
    assert caught.value.code == "invalid_id_number"
    assert "check character" in caught.value.message


@pytest.mark.parametrize(
    "reference", [None, "ext-1", 'quote " and back\\slash', "中文编号", "tab\tand\nnewline"]
)
def test_a_created_bundle_reads_as_the_envelopes_of_personnel_created(
    reference: str | None,
) -> None:
    now = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    people = [
        (123456, "371327001", "duty", "patrol", "probation", date(2024, 3, 1), reference),
        (123457, "371327", "civilian", "clerk", "active", date(2019, 12, 31), None),
    ]
    columns = {
        name: [p[i].isoformat() if isinstance(p[i], date) else p[i] for p in people]
        for i, name in enumerate(events.CREATED_BUNDLE_FIELDS)
    }
    # stored as JSON, read back as the relay reads it
    payload = json.loads(json.dumps(events.created_bundle(now, columns)))
    expected = [
        events.envelope(events.PERSONNEL_CREATED, p[1], now, events.created_data(*p))[1]
        for p in people
    ]
    assert events.created_bundle_events(payload) == expected
    assert expected[0]["event_id"] == "personnel.created:123456"
    # a bundle written before the columns lists its documents
    assert events.created_bundle_events({"events": expected}) == expected


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"events": "x"},
        {"occurred_at": "2026-03-01T08:30:15+00:00", "personnel_id": [1]},
        {
            "occurred_at": "2026-03-01T08:30:15+00:00",
            **{name: [] for name in events.CREATED_BUNDLE_FIELDS},
            "region": ["371327"],
        },
        {
            "occurred_at": "yesterday",
            **{name: [None] for name in events.CREATED_BUNDLE_FIELDS},
        },
    ],
)
def test_a_malformed_bundle_is_refused(payload: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        events.created_bundle_events(payload)
