"""A NUL character in a CSV cell: PostgreSQL text cannot hold one, so the row is
reported and the others land (on PostgreSQL the whole import stopped; found while
following up the API fuzz on PostgreSQL)."""

from __future__ import annotations

from services.roster.tests.test_api_imports import IMPORTS, good_row, to_csv, upload


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
