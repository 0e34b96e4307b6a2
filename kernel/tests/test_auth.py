from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, select

from kernel.auth import Principal
from kernel.errors import NotFound
from kernel.jwt import TokenInvalid


def test_principal_jurisdiction() -> None:
    p = Principal("u", frozenset({"county_admin"}), "371327")
    assert p.sees("371327001") and p.sees("371327")
    assert not p.sees("371328") and not p.sees("3713")
    with pytest.raises(NotFound):
        p.ensure_sees("371328")


def test_region_filter_sql() -> None:
    t = Table("x", MetaData(), Column("region", String))
    p = Principal("u", frozenset(), "3713")
    sql = str(
        select(t).where(p.region_filter(t.c.region)).compile(compile_kwargs={"literal_binds": True})
    )
    assert "LIKE '3713' || '%'" in sql or "LIKE '3713%'" in sql
    national = Principal("u", frozenset({"system_admin"}), "")
    assert (
        "true"
        in str(
            select(t)
            .where(national.region_filter(t.c.region))
            .compile(compile_kwargs={"literal_binds": True})
        ).lower()
    )


def test_system_admin_has_every_role() -> None:
    assert Principal("a", frozenset({"system_admin"}), "").has("county_admin")
    assert not Principal("b", frozenset({"auditor"}), "").has("county_admin")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "x", "roles": "admin", "region": ""},
        {"sub": "x", "roles": [], "region": "37; drop"},
        {"sub": "x", "roles": [], "region": None},
    ],
)
def test_bad_claims(claims: dict[str, object]) -> None:
    with pytest.raises(TokenInvalid):
        Principal.from_claims(claims)
