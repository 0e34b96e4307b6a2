"""Roster API tests: one migrated database per session with a base world (Shandong,
Linyi, Junan, Fei County, Shizilu street, a quota rule), and every test inside a
transaction that is rolled back."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from kernel.testing import TestIssuer, api_client, rolled_back, running_service, scratch_database
from services.common.resident_id import make_id_number
from services.roster.config import RosterSettings
from services.roster.main import MIGRATIONS, create_app

API = "/api/v1/roster"
PROVINCE, CITY, JUNAN, FEI, SHIZILU = "37", "3713", "371327", "371325", "371327001"

# Junan: 825,000 residents × 15 / 10,000 → 1,237 seats; Fei: 20,000 → 30 seats
WORLD: list[tuple[str, dict[str, Any]]] = [
    (PROVINCE, {"name": "山东省", "population": 101_000_000, "police_establishment": 160_000}),
    (CITY, {"name": "临沂市", "population": 11_000_000, "police_establishment": 14_000}),
    (JUNAN, {"name": "莒南县", "population": 825_000, "police_establishment": 297}),
    (FEI, {"name": "费县", "population": 20_000, "police_establishment": 40}),
    (SHIZILU, {"name": "十字路街道", "population": 120_000}),
]


class Roles:
    """Bearer headers for the usual callers."""

    def __init__(self, issuer: TestIssuer) -> None:
        self.issuer = issuer

    def __call__(self, *roles: str, region: str = "", sub: str | None = None) -> dict[str, str]:
        return self.issuer.headers(*roles, region=region, sub=sub)

    @property
    def system(self) -> dict[str, str]:
        return self("system_admin")

    @property
    def province(self) -> dict[str, str]:
        return self("province_admin", region=PROVINCE, sub="sd_admin")

    @property
    def junan(self) -> dict[str, str]:
        return self("county_admin", region=JUNAN, sub="junan_admin")

    @property
    def fei(self) -> dict[str, str]:
        return self("county_admin", region=FEI, sub="feixian_admin")

    @property
    def station(self) -> dict[str, str]:
        return self("unit_manager", region=SHIZILU, sub="junan_station")

    @property
    def auditor(self) -> dict[str, str]:
        return self("auditor", region=PROVINCE, sub="sd_auditor")

    @property
    def service(self) -> dict[str, str]:
        return self("service", sub="svc-recruitment")


@pytest.fixture(scope="session")
def roles(issuer: TestIssuer) -> Roles:
    return Roles(issuer)


async def seed_world(client: Any, roles: Roles) -> None:
    for code, body in WORLD:
        body = {**body, "year": 2024}
        r = await client.put(f"{API}/regions/{code}", json=body, headers=roles.system)
        assert r.status_code == 201, r.text
    r = await client.post(
        f"{API}/quota-rules",
        json={
            "region_prefix": PROVINCE,
            "basis": "per_10k_population",
            "value": "15",
            "post_categories": ["civilian", "duty"],
            "effective_from": "2020-01-01",
        },
        headers=roles.system,
    )
    assert r.status_code == 201, r.text


@pytest.fixture(scope="session")
async def app(issuer: TestIssuer, roles: Roles) -> AsyncIterator[Any]:
    async with scratch_database("roster", MIGRATIONS) as url:
        settings = RosterSettings(database_url=url, outbox_enabled=False, import_batch_size=50)
        async with running_service(create_app, settings, issuer) as running:
            async with api_client(running) as c:
                await seed_world(c, roles)
            yield running


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    async with rolled_back(app), api_client(app) as c:
        yield c


_sequence = itertools.count(1)


def id_number(region: str = JUNAN, birth: date = date(1995, 5, 1), male: bool = True) -> str:
    """A fresh valid ID number (the sequence makes it unique within the run)."""
    n = next(_sequence)
    seq = (n % 499) * 2 + (1 if male else 2)
    return make_id_number(region[:6], birth + timedelta(days=n // 499), seq)


def person(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id_number": id_number(),
        "name": "张伟",
        "region": JUNAN,
        "unit": "十字路派出所",
        "post_category": "duty",
        "post": "patrol",
        "education": "senior_high",
        "veteran": False,
        "hire_date": "2024-03-01",
    }
    body.update(overrides)
    return body


async def hire(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    r = await client.post(f"{API}/personnel", json=person(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())
