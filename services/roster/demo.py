"""The roster's demo dataset, loaded through the gateway's public API like a county
front-end would: Shandong › Linyi › Junan County (with Shizilu street) and Fei County,
their population and police establishment, quota rules, and a few hundred auxiliaries
with a realistic spread of posts, levels, ages (about a fifth under 30), education,
assessments, rewards and a few departures. Deterministic (seeded), and safe to load
twice: regions are PUT, rules and events that exist answer 409, and the bulk import
skips files already on the roster.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.common.resident_id import make_id_number

API = "/api/v1/roster"
JUNAN, FEI, SHIZILU = "371327", "371325", "371327001"
YEAR = 2024

REGIONS: tuple[tuple[str, str, str, int | None, int | None], ...] = (
    # user, code, name, population, police establishment
    ("sd_admin", "37", "山东省", 101_230_000, 158_000),
    ("sd_admin", "3713", "临沂市", 10_990_000, 11_800),
    ("linyi_admin", JUNAN, "莒南县", 825_000, 297),
    ("linyi_admin", FEI, "费县", 728_000, 268),
    ("linyi_admin", SHIZILU, "十字路街道", 142_000, None),
)

RULES: tuple[tuple[str, dict[str, Any]], ...] = (
    # Shandong: 15 full-time auxiliaries per 10,000 residents (seed 000)
    (
        "sd_admin",
        {
            "region_prefix": "37",
            "basis": "per_10k_population",
            "value": "15",
            "post_categories": ["civilian", "duty"],
            "effective_from": "2018-01-01",
            "note": "省定标准：每万人口15名",
        },
    ),
    # Fei County applies the ratio to its police establishment instead (1.2 : 1)
    (
        "linyi_admin",
        {
            "region_prefix": FEI,
            "basis": "per_police",
            "value": "1.2",
            "post_categories": ["civilian", "duty"],
            "effective_from": "2022-01-01",
            "note": "按警力1:1.2核定",
        },
    ),
)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰峰建国志宏海鹏飞浩宇晨阳鑫博"

# post, category, weight
POSTS: tuple[tuple[str, str, int], ...] = (
    ("patrol", "duty", 30),
    ("traffic", "duty", 16),
    ("community", "duty", 12),
    ("guard", "duty", 6),
    ("custody", "duty", 5),
    ("dispatcher", "civilian", 8),
    ("video_surveillance", "civilian", 8),
    ("clerk", "civilian", 7),
    ("counter_service", "civilian", 5),
    ("data_entry", "civilian", 3),
)
UNITS = {
    JUNAN: (
        "巡特警大队",
        "交警大队",
        "指挥中心",
        "看守所",
        "大店派出所",
        "板泉派出所",
        "坊前派出所",
    ),
    SHIZILU: ("十字路派出所",),
    FEI: ("城区派出所", "探沂派出所", "交警大队", "指挥中心", "巡特警大队", "看守所"),
}
EDUCATION = (("senior_high", 45), ("junior_college", 35), ("bachelor", 18), ("master", 2))


@dataclass(frozen=True)
class DemoPerson:
    row: dict[str, Any]
    birth: date
    hire: date


def _pick(rnd: random.Random, weighted: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return rnd.choices(weighted, weights=[w[-1] for w in weighted])[0]


def years_later(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 1 March in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def people(county: str, count: int, seed: int) -> list[DemoPerson]:
    """`count` auxiliaries of a county: about a fifth under 30, most men, levels that
    grow with years of service (entry level by education)."""
    rnd = random.Random(seed)
    out: list[DemoPerson] = []
    used: set[tuple[str, date, int]] = set()
    entry = {"senior_high": 7, "junior_college": 6, "bachelor": 5, "master": 4}
    for _ in range(count):
        young = rnd.random() < 0.2
        age = rnd.randint(21, 29) if young else rnd.randint(30, 56)
        birth = date(2026 - age, rnd.randint(1, 12), rnd.randint(1, 28))
        earliest = max(date(2008, 1, 1), date(birth.year + 19, birth.month, birth.day))
        hire = earliest + timedelta(days=rnd.randrange(max(1, (date(2025, 9, 1) - earliest).days)))
        male = rnd.random() < 0.82
        birthplace = county if rnd.random() < 0.85 else rnd.choice(("371321", "371322", "371302"))
        sequence = rnd.randrange(1, 499) * 2 + (1 if male else 0)
        while (birthplace, birth, sequence) in used:  # odd for men, even for women
            sequence = sequence + 2 if sequence < 997 else (1 if male else 2)
        used.add((birthplace, birth, sequence))
        post, category, _ = _pick(rnd, POSTS)
        education = _pick(rnd, EDUCATION)[0]
        years = (date(2025, 9, 1) - hire).days // 365
        level = max(3, entry[education] - years // 5)
        # one level every five years of service
        level_since = hire + timedelta(days=round(365.25 * 5 * (entry[education] - level)))
        region = SHIZILU if county == JUNAN and rnd.random() < 0.2 else county
        months = 6 if hire.year >= 2016 else 3
        out.append(
            DemoPerson(
                row={
                    "id_number": make_id_number(birthplace, birth, sequence),
                    "name": rnd.choice(SURNAMES) + "".join(rnd.sample(GIVEN, rnd.randint(1, 2))),
                    "region": region,
                    "unit": rnd.choice(UNITS[region]),
                    "post_category": category,
                    "post": post,
                    "education": education,
                    "veteran": "yes" if rnd.random() < 0.22 else "no",
                    "hire_date": hire.isoformat(),
                    "level": level,
                    "level_since": level_since.isoformat(),
                    "step": rnd.randint(1, 3),
                    "contract_kind": "labour",
                    "contract_start": hire.isoformat(),
                    # a three-year first contract; open-ended after renewals for old hands
                    "contract_end": (
                        ""
                        if hire.year < 2019
                        else (years_later(hire, 3) - timedelta(days=1)).isoformat()
                    ),
                    "probation_months": months,
                },
                birth=birth,
                hire=hire,
            )
        )
    return out


def as_csv(rows: list[DemoPerson]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0].row), lineterminator="\n")
    writer.writeheader()
    writer.writerows(p.row for p in rows)
    return buffer.getvalue().encode("utf-8")


async def _import(api: Any, user: str, rows: list[DemoPerson], name: str) -> dict[str, Any]:
    response = await api.request(
        user,
        "POST",
        f"{API}/imports/personnel",
        files={"file": (name, as_csv(rows), "text/csv")},
    )
    job: dict[str, Any] = response.json()
    for _ in range(600):
        if job["status"] in ("completed", "failed", "interrupted"):
            break
        await asyncio.sleep(0.2)
        job = await api.get(user, f"{API}/imports/{job['id']}")
    if job["status"] != "completed":
        raise RuntimeError(f"the demo import {name} ended {job['status']}: {job.get('error')}")
    return job


async def _files(api: Any, user: str, region: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = f"?region={region}&limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = await api.get(user, f"{API}/personnel{query}")
        found += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


async def _life_events(api: Any, user: str, files: list[dict[str, Any]], seed: int) -> None:
    rnd = random.Random(seed)
    ok = (201, 409)  # 409: already recorded by an earlier load
    veterans = [f for f in files if f["hire_date"] <= "2021-01-01"]
    for person in rnd.sample(veterans, min(45, len(veterans))):
        for year in (2023, 2024, 2025):
            grade = rnd.choices(
                ("excellent", "competent", "basically_competent", "incompetent"),
                weights=(15, 75, 8, 2),
            )[0]
            await api.request(
                user,
                "POST",
                f"{API}/personnel/{person['id']}/assessments",
                ok=ok,
                json={"year": year, "grade": grade},
            )
    for person in rnd.sample(files, min(6, len(files))):
        await api.request(
            user,
            "POST",
            f"{API}/personnel/{person['id']}/rewards",
            ok=ok,
            json={
                "date": "2025-07-20",
                "kind": rnd.choice(("commendation", "merit_third_class")),
                "description": "防汛抢险表现突出",
                "authority": "县公安局",
            },
        )
    day = (date.today() - timedelta(days=30)).isoformat()
    staff = [f for f in files if f["status"] != "left" and f["status_since"] <= day]
    young = [f for f in staff if f["age"] < 30]
    leaving = [(p, "resigned") for p in rnd.sample(young, min(5, len(young)))]
    leaving += [(p, "contract_ended") for p in rnd.sample(staff, min(2, len(staff)))]
    leaving += [(p, "retired") for p in staff if p["age"] >= 55][:1]
    for person, reason in leaving:
        await api.request(
            user,
            "POST",
            f"{API}/personnel/{person['id']}/departures",
            ok=ok,
            json={"date": day, "reason": reason, "note": "演示数据"},
        )


async def load(api: Any) -> None:
    for user, code, name, population, police in REGIONS:
        body: dict[str, Any] = {"name": name}
        if population is not None or police is not None:
            body |= {"population": population, "police_establishment": police, "year": YEAR}
        await api.put(user, f"{API}/regions/{code}", json=body)
    for user, rule in RULES:
        await api.request(user, "POST", f"{API}/quota-rules", ok=(201, 409), json=rule)

    junan = people(JUNAN, 300, seed=371327)
    fei = people(FEI, 140, seed=371325)
    await _import(api, "junan_admin", junan, "莒南县辅警名册.csv")
    await _import(api, "feixian_admin", fei, "费县辅警名册.csv")
    await _life_events(api, "junan_admin", await _files(api, "junan_admin", JUNAN), seed=1)
    await _life_events(api, "feixian_admin", await _files(api, "feixian_admin", FEI), seed=2)
