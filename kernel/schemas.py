"""Pydantic building blocks shared by every API: strict request models (unknown
fields refused with 422, which blocks mass assignment), money and other decimals as
decimal strings, calendar days and bounded ids."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, get_args

from fastapi import Path
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema


def _json_int(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be an integer (a JSON number)")
    return value


# PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate (found by
# the API fuzz on PostgreSQL: "\u0000" in a name was a 500).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """Whether `text` holds what a database cannot store (NUL, a lone surrogate). Every
    string of every request passes here: ASCII text, most of them, is only looked at
    for NUL (a third of the time of the pattern)."""
    if text.isascii():
        return "\x00" in text
    return _UNSTORABLE.search(text) is not None


def _storable_text(value: Any) -> Any:
    if isinstance(value, str) and unstorable(value):
        raise PydanticCustomError(
            "string_unstorable", "Text may not hold NUL characters or lone surrogates"
        )
    return value


def _wrap(node: dict[str, Any], check: Any) -> None:
    inner = dict(node)
    node.clear()
    node.update(core_schema.no_info_before_validator_function(check, inner))


def _json_types(node: Any, *, keys: bool = False) -> None:
    """Tighten int, float and bool in a request model's own fields, and refuse text that
    cannot be stored (nested models are built, and tightened, on their own)."""
    if isinstance(node, list):
        for item in node:
            _json_types(item, keys=keys)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in ("model", "definition-ref", "dataclass", "definitions"):
        return
    if kind == "str":
        _wrap(node, _storable_text)
        return
    if keys:  # dict keys arrive as strings in JSON: "12": ... is an integer key
        pass
    elif kind in ("bool", "float"):
        node["strict"] = True  # strict float still takes a JSON integer
        return
    elif kind == "int":
        _wrap(node, _json_int)
        return
    for key, value in node.items():
        if key not in ("cls", "function", "ref", "metadata", "serialization"):
            _json_types(value, keys=keys or key == "keys_schema")


# Request strings are stripped of Unicode white space before their length is checked, so
# a required text must hold something else: the schema says so (found by the API fuzz: a
# lone no-break space passed minLength 1 and was refused).
NON_BLANK = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _non_blank_strings(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    for prop in schema.get("properties", {}).values():
        _non_blank(prop)


def _non_blank(node: Any) -> None:
    if not isinstance(node, dict) or "$ref" in node:
        return
    plain = not any(k in node for k in ("pattern", "format", "enum", "const"))
    if node.get("type") == "string" and node.get("minLength", 0) >= 1 and plain:
        node["pattern"] = NON_BLANK
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(key, []):
            _non_blank(branch)
    for key in ("items", "additionalProperties"):
        _non_blank(node.get(key))


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, and JSON types are what the schema
    says: pydantic's lax mode would read true as 1, "5" as 5 and 1 as true (found by the
    API fuzz: `"police_establishment": false` was stored as 0)."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_non_blank_strings
    )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = handler(source)
        if schema.get("type") == "model" and cls.__pydantic_generic_metadata__["origin"] is None:
            _json_types(schema["schema"])
        return schema


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- decimals ---------------------------------------------------------------------------
# Pydantic reads a Decimal from a JSON number or from any string `Decimal()` parses
# ("1e3", "1_000", " 1.5"), and publishes the string form without a pattern. Requests
# take plain decimal strings only, and the schema says so (found by the API fuzz:
# schema-valid strings such as "" were refused, so generated clients could not know).
DECIMAL_PATTERN = r"^[+-]?[0-9]{1,20}(\.[0-9]{1,20})?$"
_DECIMAL = re.compile(DECIMAL_PATTERN)


def _decimal_text(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a decimal is written as a string or a JSON number")
    if isinstance(value, str) and not _DECIMAL.match(value):
        raise ValueError('a decimal number written as a string, such as "4350.00"')
    return value


@dataclass(frozen=True)
class _DecimalStringSchema:
    """Adds the pattern to the string branch of a Decimal's published schema; with
    `integers_only`, the number branch says integer (for fields that refuse floats)."""

    integers_only: bool = False

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "string":
                branch["pattern"] = DECIMAL_PATTERN
            elif branch.get("type") == "number" and self.integers_only:
                branch["type"] = "integer"
        return schema


def decimal_text(*, integers_only: bool = False) -> tuple[Any, ...]:
    """Annotations for a Decimal request field: `Annotated[Decimal, Field(ge=0),
    *decimal_text()]`. Strings must be plain decimals; numbers stay accepted."""
    return (BeforeValidator(_decimal_text), _DecimalStringSchema(integers_only))


def _money_str(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


# Money in and out as a decimal string with two places, e.g. "4350.00".
Money = Annotated[
    Decimal,
    Field(max_digits=14, decimal_places=2, examples=["4350.00"]),
    PlainSerializer(_money_str, return_type=str, when_used="json"),
    *decimal_text(),
]
NonNegativeMoney = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2, examples=["4350.00"]),
    PlainSerializer(_money_str, return_type=str, when_used="json"),
    *decimal_text(),
]


# --- PATCH fields -----------------------------------------------------------------------
def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(**kwargs: Any) -> Any:
    """The default of a PATCH field that may be left out but not set to null; type it
    `X | SkipJsonSchema[None]` so that the schema shows neither null nor a default
    (found by the API fuzz: null was published as allowed and then refused)."""
    return Field(default=None, json_schema_extra=_drop_default, **kwargs)


# --- days -------------------------------------------------------------------------------
# Pydantic's lax mode reads 0 or "0" as 1970-01-01 (a Unix timestamp) and a date-time
# string as its day; the published format is an ISO 8601 calendar day and nothing else
# (found by the API fuzz: `?on=0` was answered as of 1970).
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_day(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DAY.match(value.strip()):
        return value.strip()
    raise ValueError("a date is written YYYY-MM-DD")


Day = Annotated[date, BeforeValidator(_iso_day)]


# --- ids --------------------------------------------------------------------------------
# Database ids are 64-bit; a larger number in a request is refused with 422 rather than
# overflowing the driver (found by the API fuzz: SQLite's OverflowError was a 500).
MAX_ID = 2**62
PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="resource id")]
RefId = Annotated[int, Field(ge=1, le=MAX_ID)]


# --- named enums ------------------------------------------------------------------------
# Pydantic publishes a `Literal[...]` inline; client generators then invent a name per
# field, or none. `EnumName` keeps the Literal for the code (values stay plain strings)
# and publishes it as one named component schema:
#     CampaignStatus = Annotated[Literal["active", "closed"], EnumName("CampaignStatus")]
_NAMED_ENUMS: dict[str, type[StrEnum]] = {}


def _make_enum(name: str, values: tuple[str, ...]) -> type[StrEnum]:
    made: type[StrEnum] = StrEnum(name, [(v, v) for v in values])  # type: ignore[misc]
    return made


@dataclass(frozen=True)
class EnumName:
    name: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        values = tuple(get_args(source))
        known = _NAMED_ENUMS.get(self.name)
        if known is not None and tuple(member.value for member in known) != values:
            raise ValueError(f"enum {self.name} is already named with other values")
        named = known or _make_enum(self.name, values)
        _NAMED_ENUMS[self.name] = named
        inner = handler.generate_schema(named)
        return core_schema.no_info_after_validator_function(
            lambda member: member.value,
            inner,
            serialization=core_schema.plain_serializer_function_ser_schema(
                named, return_schema=inner
            ),
        )
