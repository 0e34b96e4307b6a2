"""Regions, figures, quota rules and a region's quota, with their role matrix and
jurisdiction."""

from __future__ import annotations

import pytest

from services.roster.tests.conftest import API, CITY, FEI, JUNAN, PROVINCE, SHIZILU, hire


async def test_put_region_creates_then_updates_with_etag(client, roles) -> None:
    r = await client.put(
        f"{API}/regions/371302",
        json={"name": "兰山区", "population": 1_200_000, "police_establishment": 900, "year": 2024},
        headers=roles.province,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["parent"] == CITY and body["level"] == "county"
    assert body["population"] == 1_200_000 and body["year"] == 2024
    etag = r.headers["etag"]

    r = await client.put(
        f"{API}/regions/371302",
        json={"name": "兰山区", "population": 1_250_000, "police_establishment": 950, "year": 2025},
        headers={**roles.province, "If-Match": etag},
    )
    assert r.status_code == 200
    assert [d["year"] for d in r.json()["demographics"]] == [2025, 2024]
    assert r.headers["etag"] != etag

    stale = await client.put(
        f"{API}/regions/371302",
        json={"name": "兰山"},
        headers={**roles.province, "If-Match": etag},
    )
    assert stale.status_code == 412 and stale.json()["code"] == "etag_mismatch"


@pytest.mark.parametrize("code", ["3", "371", "3713270", "37132700a", "00", "1234567890"])
async def test_bad_region_codes_are_422(client, roles, code) -> None:
    r = await client.put(f"{API}/regions/{code}", json={"name": "x"}, headers=roles.system)
    assert r.status_code == 422
    assert r.json()["code"] in ("invalid_region_code", "validation_error")


async def test_put_region_validation(client, roles) -> None:
    r = await client.put(
        f"{API}/regions/371311", json={"name": "x", "population": 5}, headers=roles.province
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "year"]
    r = await client.put(
        f"{API}/regions/371311", json={"name": "x", "area": 5}, headers=roles.province
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_field"
    r = await client.put(
        f"{API}/regions/371311",
        json={"name": "x", "population": -1, "year": 2024},
        headers=roles.province,
    )
    assert r.status_code == 422


async def test_region_roles_and_jurisdiction(client, roles) -> None:
    body = {"name": "x"}
    assert (await client.put(f"{API}/regions/371399", json=body)).status_code == 401
    r = await client.put(f"{API}/regions/371399", json=body, headers=roles.junan)
    assert r.status_code == 403 and r.json()["code"] == "role_not_allowed"
    linyi = roles("province_admin", region=CITY)
    assert (await client.put(f"{API}/regions/37", json=body, headers=linyi)).status_code == 404
    assert (await client.put(f"{API}/regions/3714", json=body, headers=linyi)).status_code == 404
    assert (await client.put(f"{API}/regions/371399", json=body, headers=linyi)).status_code == 201

    # every human role and the service may read regions, within their jurisdiction
    for headers in (roles("recruiter", region=JUNAN), roles.service, roles.station):
        assert (await client.get(f"{API}/regions/{JUNAN}", headers=headers)).status_code in (
            200,
            404,
        )
    assert (await client.get(f"{API}/regions/{JUNAN}", headers=roles.fei)).status_code == 404
    assert (await client.get(f"{API}/regions/{CITY}", headers=roles.junan)).status_code == 404
    r = await client.get(f"{API}/regions/{JUNAN}", headers=roles.junan)
    assert r.status_code == 200 and r.headers["etag"]


async def test_list_regions_is_scoped_and_paginated(client, roles) -> None:
    r = await client.get(f"{API}/regions", params={"parent": CITY}, headers=roles.auditor)
    assert [x["code"] for x in r.json()["items"]] == [FEI, JUNAN]
    r = await client.get(f"{API}/regions", headers=roles.junan)
    assert [x["code"] for x in r.json()["items"]] == [JUNAN, SHIZILU]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{API}/regions", params=params, headers=roles.system)).json()
        seen += [x["code"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and {PROVINCE, CITY, JUNAN, FEI, SHIZILU} <= set(seen)


async def test_quota_rules_roles_duplicates_and_overlaps(client, roles) -> None:
    rule = {
        "region_prefix": JUNAN,
        "basis": "per_police",
        "value": "1.2",
        "post_categories": ["duty", "civilian"],
        "effective_from": "2025-01-01",
    }
    r = await client.post(f"{API}/quota-rules", json=rule, headers=roles.junan)
    assert r.status_code == 403
    r = await client.post(f"{API}/quota-rules", json=rule, headers=roles.province)
    assert r.status_code == 201, r.text
    assert r.json()["post_categories"] == ["civilian", "duty"] and r.json()["value"] == "1.2"
    again = await client.post(f"{API}/quota-rules", json=rule, headers=roles.province)
    assert again.status_code == 409 and again.json()["code"] == "duplicate_quota_rule"
    overlap = {**rule, "post_categories": ["duty"], "effective_from": "2025-06-01"}
    r = await client.post(f"{API}/quota-rules", json=overlap, headers=roles.province)
    assert r.status_code == 409 and r.json()["code"] == "overlapping_post_categories"
    r = await client.post(f"{API}/quota-rules", json={**rule, "extra": 1}, headers=roles.province)
    assert r.status_code == 422 and r.json()["code"] == "unknown_field"
    r = await client.post(
        f"{API}/quota-rules", json={**rule, "basis": "per_capita"}, headers=roles.province
    )
    assert r.status_code == 422
    linyi = roles("province_admin", region=CITY)
    elsewhere = {**rule, "region_prefix": "3714"}
    r = await client.post(f"{API}/quota-rules", json=elsewhere, headers=linyi)
    assert r.status_code == 404
    r = await client.post(
        f"{API}/quota-rules", json={**rule, "region_prefix": "371"}, headers=roles.province
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_region_code"


async def test_most_specific_rule_wins_and_components_are_floored(client, roles) -> None:
    # Junan: a county rule 1.2 per police officer replaces the province's 15 per 10,000
    rules = [
        {
            "region_prefix": JUNAN,
            "basis": "per_police",
            "value": "1.2",
            "post_categories": ["civilian", "duty"],
            "effective_from": "2025-01-01",
        },
        {
            "region_prefix": PROVINCE,
            "basis": "fixed",
            "value": "12.9",
            "post_categories": ["traffic"],
            "effective_from": "2025-01-01",
        },
        {  # not yet in force
            "region_prefix": JUNAN,
            "basis": "fixed",
            "value": "5",
            "post_categories": ["civilian", "duty"],
            "effective_from": "2099-01-01",
        },
    ]
    for rule in rules:
        r = await client.post(f"{API}/quota-rules", json=rule, headers=roles.province)
        assert r.status_code == 201, r.text
    r = await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.junan)
    quota = r.json()
    amounts = {(c["region_prefix"], c["basis"]): c["amount"] for c in quota["components"]}
    assert amounts == {(JUNAN, "per_police"): 356, (PROVINCE, "fixed"): 12}  # floor(297×1.2)
    assert quota["quota"] == 368 and quota["available"] == 368

    r = await client.get(f"{API}/quota-rules", params={"region": JUNAN}, headers=roles.junan)
    assert {(x["region_prefix"], x["basis"]) for x in r.json()["items"]} == {
        (JUNAN, "per_police"),
        (PROVINCE, "fixed"),
    }
    r = await client.get(
        f"{API}/quota-rules", params={"region": JUNAN, "on": "2099-06-01"}, headers=roles.junan
    )
    assert (JUNAN, "fixed") in {(x["region_prefix"], x["basis"]) for x in r.json()["items"]}
    # without a region: every rule that applies in the jurisdiction
    r = await client.get(f"{API}/quota-rules", headers=roles.fei)
    assert {x["region_prefix"] for x in r.json()["items"]} == {PROVINCE}
    r = await client.get(f"{API}/quota-rules", headers=roles.junan)
    assert {x["region_prefix"] for x in r.json()["items"]} == {PROVINCE, JUNAN}


async def test_region_quota_counts_the_whole_subtree(client, roles) -> None:
    await hire(client, roles.junan)
    await hire(client, roles.junan, region=SHIZILU)
    r = await client.post(
        f"{API}/quota-reservations",
        json={"region": JUNAN, "seats": 2, "reference": "plan-1"},
        headers=roles.junan,
    )
    assert r.status_code == 201
    quota = (await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.junan)).json()
    assert (quota["quota"], quota["headcount"], quota["reserved"], quota["available"]) == (
        1237,
        2,
        2,
        1233,
    )
    assert quota["per_10k_population"] == "0.02"
    township = (await client.get(f"{API}/regions/{SHIZILU}/quota", headers=roles.station)).json()
    assert township["headcount"] == 1 and township["seat_region"] == JUNAN
    city = (await client.get(f"{API}/regions/{CITY}/quota", headers=roles.auditor)).json()
    assert city["headcount"] == 2 and city["reserved"] == 2
    r = await client.get(f"{API}/regions/{JUNAN}/quota", headers=roles.fei)
    assert r.status_code == 404


async def test_level_policy_and_posts(client, roles) -> None:
    r = await client.get(f"{API}/level-policy", params={"region": JUNAN}, headers=roles.junan)
    policy = r.json()
    assert policy["levels"] == 7 and policy["entry_by_education"]["bachelor"] == 5
    assert policy["caps"][0]["description"] == "levels 1–3 ≤ 30%"
    await hire(client, roles.junan, post="clerk", post_category="civilian")
    r = await client.get(f"{API}/posts", params={"category": "civilian"}, headers=roles.junan)
    assert {"name": "clerk", "category": "civilian"} in r.json()["items"]


async def test_a_region_without_figures_sums_its_children(client, roles) -> None:
    for code, body in (
        ("3714", {"name": "德州市"}),
        ("371401", {"name": "德城区", "population": 100_000, "police_establishment": 100}),
        ("371402", {"name": "陵城区", "population": 200_000}),
        ("371402001", {"name": "街道", "population": 50_000, "police_establishment": 30}),
    ):
        if "population" in body:
            body = {**body, "year": 2024}
        r = await client.put(f"{API}/regions/{code}", json=body, headers=roles.province)
        assert r.status_code == 201, r.text
    quota = (await client.get(f"{API}/regions/3714/quota", headers=roles.province)).json()
    # police: 100 from 371401 and 30 from the street, as 371402 has no figure of its own
    assert (quota["population"], quota["police_establishment"]) == (300_000, 130)
    assert quota["figures_derived"] is True and quota["quota"] == 450 and quota["year"] == 2024
    own = (await client.get(f"{API}/regions/371402/quota", headers=roles.province)).json()
    assert (own["population"], own["police_establishment"], own["figures_derived"]) == (
        200_000,
        30,
        True,
    )
    report = (
        await client.get(f"{API}/reports/quota", params={"region": PROVINCE}, headers=roles.auditor)
    ).json()
    lines = {line["region"]: line for line in report["lines"]}
    assert lines["3714"]["figures_derived"] and lines["3714"]["quota"] == 450
    assert not lines[CITY]["figures_derived"]
