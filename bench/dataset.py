"""The benchmark province: 2,000 regions (a province, 10 cities, 100 counties and the
rest townships) with population figures and a quota rule, and 100,000 auxiliaries
spread over its counties and townships, built through the public API.

The roster benchmark times the personnel import into it; the compensation benchmark
pays the same people (and builds the province itself when run alone). Everything is
deterministic, so a CSV built twice is the same file.
"""

from __future__ import annotations

import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx

from bench.common import check, sized
from services.common.resident_id import make_id_number

ROSTER = "/api/v1/roster"
PROVINCE = "41"
PROVINCE_NAME = "豫州省"
YEAR = 2026
REGIONS = 2_000
PEOPLE = 100_000
CITIES = 10
COUNTIES_PER_CITY = 10
COUNTY_POPULATION = 1_000_000  # 15 per 10,000 → 1,500 seats a county, 150,000 in all
QUOTA_PER_10K = "15"

# post, category: the posts the compensation schedule pays
POSTS: tuple[tuple[str, str], ...] = (
    ("patrol", "duty"),
    ("traffic", "duty"),
    ("guard", "duty"),
    ("custody", "duty"),
    ("clerk", "civilian"),
    ("hotline", "civilian"),
    ("counter", "civilian"),
    ("data_entry", "civilian"),
    ("video_surveillance", "civilian"),
    ("it_support", "civilian"),
)
EDUCATION = ("senior_high", "junior_college", "bachelor", "junior_college", "master")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰峰建国志宏海鹏飞浩宇晨阳鑫博"


@dataclass(frozen=True)
class Province:
    code: str
    cities: list[str]
    counties: list[str]
    townships: dict[str, list[str]]  # county → its townships

    @property
    def region_count(self) -> int:
        return 1 + len(self.cities) + len(self.counties) + sum(map(len, self.townships.values()))

    def bodies(self) -> list[list[tuple[str, dict[str, Any]]]]:
        """PUT bodies, level by level (a parent exists before its children)."""
        levels: list[list[tuple[str, dict[str, Any]]]] = [
            [(self.code, {"name": PROVINCE_NAME})],
            [(c, {"name": f"第{c[2:]}市"}) for c in self.cities],
            [
                (
                    c,
                    {
                        "name": f"第{c[2:]}县",
                        "population": COUNTY_POPULATION,
                        "police_establishment": 1_200,
                        "year": YEAR,
                    },
                )
                for c in self.counties
            ],
            [(t, {"name": f"第{t[6:]}镇"}) for ts in self.townships.values() for t in ts],
        ]
        return levels


def province(regions: int | None = None) -> Province:
    """`regions` in all (2,000 by default, scaled by BENCH_SCALE; at least the 111 of the
    province, its cities and counties)."""
    total = regions if regions is not None else sized(REGIONS)
    cities = [f"{PROVINCE}{i:02d}" for i in range(1, CITIES + 1)]
    counties = [f"{city}{j:02d}" for city in cities for j in range(1, COUNTIES_PER_CITY + 1)]
    left = max(0, total - 1 - len(cities) - len(counties))
    townships: dict[str, list[str]] = {c: [] for c in counties}
    for k in range(left):
        county = counties[k % len(counties)]
        townships[county].append(f"{county}{len(townships[county]) + 1:03d}")
    return Province(PROVINCE, cities, counties, townships)


def put_regions(client: httpx.Client, where: Province, workers: int = 6) -> float:
    """Create every region (PUT /regions/{code}), a few requests at a time; seconds."""
    started = time.perf_counter()

    def put(item: tuple[str, dict[str, Any]]) -> None:
        code, body = item
        check(client.put(f"{ROSTER}/regions/{code}", json=body))

    with ThreadPoolExecutor(workers) as pool:
        for level in where.bodies():
            list(pool.map(put, level))
    check(
        client.post(
            f"{ROSTER}/quota-rules",
            json={
                "region_prefix": where.code,
                "basis": "per_10k_population",
                "value": QUOTA_PER_10K,
                "post_categories": ["civilian", "duty"],
                "effective_from": "2018-01-01",
                "note": "bench",
            },
        ),
        201,
        409,
    )
    return time.perf_counter() - started


def person_row(i: int, where: Province) -> dict[str, Any]:
    """The i-th auxiliary: counties in turn, their townships in turn; born 1975–1998,
    hired 2017–2024 at 19 or older; (county, birth date, sequence) unique for i < 10⁶."""
    counties = where.counties
    county = counties[i % len(counties)]
    j = i // len(counties)
    towns = where.townships[county]
    region = towns[j % len(towns)] if towns and j % 5 else county
    born = date(1975 + j % 24, 1 + j // 24 % 12, 1 + i % 28)
    hired = date(2017 + i % 8, 1 + i % 12, 1 + i % 27)
    post, category = POSTS[i % len(POSTS)]
    name = SURNAMES[i % len(SURNAMES)] + GIVEN[i // 7 % len(GIVEN)] + GIVEN[i // 11 % len(GIVEN)]
    return {
        "id_number": make_id_number(county, born, j // 288 % 1000),
        "name": name,
        "region": region,
        "unit": f"第{i % 9 + 1}派出所",
        "post_category": category,
        "post": post,
        "education": EDUCATION[i % len(EDUCATION)],
        "veteran": "yes" if i % 9 == 0 else "no",
        "hire_date": hired.isoformat(),
        "level": 1 + i % 7,
        "step": 1 + i % 3,
    }


def people_csv(where: Province, count: int) -> bytes:
    rows = [person_row(i, where) for i in range(count)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def import_people(
    client: httpx.Client, content: bytes, filename: str = "personnel.csv", poll: float = 0.25
) -> tuple[float, dict[str, Any]]:
    """POST /imports/personnel, then GET /imports/{id} until it has ended: the seconds
    from the upload to the end, and the last status.

    The end is the import's own `finished_at` (same machine, same clock), so the figure
    does not depend on how often we ask, and asking seldom (4 times a second) keeps the
    polls from competing with the import for the roster's event loop."""
    began = datetime.now(UTC)
    started = time.perf_counter()
    job = check(
        client.post(f"{ROSTER}/imports/personnel", files={"file": (filename, content, "text/csv")}),
        202,
    ).json()
    while job["status"] not in ("completed", "failed", "interrupted"):
        time.sleep(poll)
        job = check(client.get(f"{ROSTER}/imports/{job['id']}")).json()
    polled = time.perf_counter() - started
    if job["status"] != "completed":
        raise RuntimeError(f"the import ended {job['status']}: {job.get('error')}")
    finished = datetime.fromisoformat(job["finished_at"])
    elapsed = (finished - began).total_seconds()
    if not 0 < elapsed <= polled:  # clocks disagree: fall back to what we saw
        elapsed = polled
    return elapsed, job


def headcount(client: httpx.Client, where: Province) -> int:
    """People on the staff of the province (0 when it does not exist yet)."""
    response = client.get(f"{ROSTER}/reports/quota", params={"region": where.code})
    if response.status_code == 404:
        return 0
    return int(check(response).json()["total"]["headcount"])


def ensure_province(client: httpx.Client, people: int | None = None) -> Province:
    """The province with its people, built when absent (set-up, not measured)."""
    where = province()
    count = people if people is not None else sized(PEOPLE)
    if headcount(client, where) >= count:
        return where
    put_regions(client, where)
    import_people(client, people_csv(where, count))
    return where
