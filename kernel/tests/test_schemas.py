"""The shared request types accept exactly what their published schema says (the API
fuzz's negative and positive data checks depend on it)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from kernel.schemas import MAX_ID, Day, Money, NonNegativeMoney, RefId, StrictModel, decimal_text


@pytest.mark.parametrize("good", ["2026-03-01", " 2026-03-01 ", date(2026, 3, 1)])
def test_day_takes_an_iso_calendar_day(good) -> None:
    assert TypeAdapter(Day).validate_python(good) == date(2026, 3, 1)


@pytest.mark.parametrize("bad", [0, "0", 1700000000, "2026-03-01T00:00:00", "2026-3-1", True])
def test_day_refuses_timestamps_and_date_times(bad) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Day).validate_python(bad)


def test_day_publishes_a_date() -> None:
    assert TypeAdapter(Day).json_schema() == {"type": "string", "format": "date"}


def test_decimal_strings_are_plain_and_published_with_their_pattern() -> None:
    money = TypeAdapter(Money)
    assert money.validate_python("4350.00") == Decimal("4350.00")
    assert money.validate_python(4350) == Decimal(4350)
    for bad in ("", "1e3", "1_000", " 1.5", "NaN", "４"):
        with pytest.raises(ValidationError):
            money.validate_python(bad)
    with pytest.raises(ValidationError):
        TypeAdapter(NonNegativeMoney).validate_python("-1")
    schema = money.json_schema()
    strings = [b for b in schema["anyOf"] if b["type"] == "string"]
    assert strings and all(re.match(b["pattern"], "4350.00") for b in strings)
    assert not re.match(strings[0]["pattern"], "1e3")


def test_integer_only_decimals_publish_an_integer_branch() -> None:
    weight = TypeAdapter(Annotated[Decimal, Field(ge=0, le=1), *decimal_text(integers_only=True)])
    types = sorted(b["type"] for b in weight.json_schema()["anyOf"])
    assert types == ["integer", "string"]


def test_ids_are_bounded() -> None:
    ref = TypeAdapter(RefId)
    assert ref.validate_python(MAX_ID) == MAX_ID
    for bad in (0, MAX_ID + 1, 10**30):
        with pytest.raises(ValidationError):
            ref.validate_python(bad)
    assert ref.json_schema()["maximum"] == MAX_ID


class _Inner(StrictModel):
    n: int


class _Body(StrictModel):
    count: int
    ratio: float | None = None
    flag: bool = False
    ids: list[RefId] = []
    units: dict[RefId, str] = {}
    inner: _Inner | None = None


@pytest.mark.parametrize(
    "body",
    [
        {"count": True},
        {"count": "5"},
        {"count": 1, "ratio": True},
        {"count": 1, "ratio": "0.5"},
        {"count": 1, "flag": 1},
        {"count": 1, "flag": "true"},
        {"count": 1, "ids": [1, "2"]},
        {"count": 1, "inner": {"n": False}},
    ],
)
def test_request_models_take_json_types_only(body) -> None:
    with pytest.raises(ValidationError):
        _Body.model_validate(body)


def test_request_models_take_what_json_schema_allows() -> None:
    body = _Body.model_validate(
        {
            "count": 5.0,
            "ratio": 1,
            "flag": True,
            "ids": [3],
            "units": {"12": "x"},
            "inner": {"n": 2},
        }
    )
    assert body.count == 5 and body.ratio == 1.0 and body.units == {12: "x"}


class _Named(StrictModel):
    name: str = Field(min_length=1, max_length=50)
    tags: list[Annotated[str, Field(min_length=1)]] = []


def test_required_text_publishes_that_white_space_alone_is_not_text() -> None:
    """Request strings are stripped first, so " " is too short although its length is 1."""
    props = _Named.model_json_schema()["properties"]
    pattern = props["name"]["pattern"]
    assert props["tags"]["items"]["pattern"] == pattern
    for blank in (" ", "\u00a0", "\u3000\t"):
        assert not re.search(pattern, blank)
        with pytest.raises(ValidationError):
            _Named.model_validate({"name": blank})
    assert re.search(pattern, " a ") and _Named.model_validate({"name": " a "}).name == "a"
