"""A NUL character in a CSV cell: PostgreSQL text cannot hold one, so the row is
reported and the others land (on PostgreSQL the whole import stopped; found while
following up the API fuzz on PostgreSQL)."""

from __future__ import annotations

from services.roster.tests.test_api_imports import (
    API,
    HEADER,
    IMPORTS,
    good_row,
    to_csv,
    upload,
)


async def test_a_nul_in_a_cell_is_a_bad_row(client, roles) -> None:
    rows = [good_row() for _ in range(3)]
    rows[1] = good_row(unit="派出\x00所")
    r = await upload(client, roles.junan, to_csv(rows))
    assert r.status_code == 202, r.text
    job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
    assert job["status"] == "completed", job
    assert (job["created"], job["failed"]) == (2, 1)
    assert [(e["line"], e["column"], e["code"]) for e in job["errors"]] == [
        (3, "unit", "invalid_value")
    ]


async def test_tabs_line_breaks_and_backslashes_in_values_land_as_they_are(client, roles) -> None:
    """The files are written as COPY text on PostgreSQL: a value holding COPY's own
    separators or escape character must land unchanged (quoted in the CSV)."""
    odd = {"李\\娜": "巡特\t警大队", "王\\N": "派出所\\\\二", "赵\n伟": "交警\r\n大队"}
    rows = [good_row(name=name, unit=unit) for name, unit in odd.items()]
    rows.append(good_row())  # a plain row in the same batch
    r = await upload(client, roles.junan, to_csv(rows))
    job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
    assert (job["status"], job["created"], job["failed"]) == ("completed", 4, 0), job
    people = (
        await client.get(f"{API}/personnel", params={"limit": 50}, headers=roles.junan)
    ).json()["items"]
    landed = {p["name"]: p["unit"] for p in people}
    assert {name: landed[name] for name in odd} == {
        name: unit.strip() for name, unit in odd.items()
    }
    assert landed["李娜"] == "巡特警大队"


async def test_a_phone_longer_than_the_file_holds_is_a_bad_row(client, roles) -> None:
    """21 characters fit the phone pattern but not the file (20, as POST /personnel
    says): the row is reported, the others land (the COPY would fail the batch)."""
    rows = [good_row() for _ in range(2)]
    rows[1] = good_row(phone="+" + "1" * 20)
    header = [*HEADER, "phone"]
    rows[0]["phone"] = "+86 138-0013-8000"
    r = await upload(client, roles.junan, to_csv(rows, header))
    job = (await client.get(f"{IMPORTS}/{r.json()['id']}", headers=roles.junan)).json()
    assert (job["status"], job["created"], job["failed"]) == ("completed", 1, 1), job
    assert [(e["line"], e["column"], e["code"]) for e in job["errors"]] == [
        (3, "phone", "invalid_value")
    ]
