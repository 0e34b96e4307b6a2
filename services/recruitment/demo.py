"""Recruitment demo data, loaded through the gateway's public API after the roster's
(which has loaded the regions and quota rules that the reservation needs):

- ``junan_admin`` drafts Junan County's (371327) 2027 plan (patrol, traffic, clerk) and
  submits it; ``linyi_admin`` (province_admin of Linyi, 3713) approves it, which
  reserves the seats in the roster;
- ``junan_recruiter`` opens the campaign, registers a few hundred applicants (most from a
  CSV file, some one by one, one online without a token), enters the written scores,
  closes registration and the written test: the campaign waits at the interview stage.

Everything is seeded, so every load gives the same people and scores. Loading twice is
harmless: an existing demo plan is taken up where it stands.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta
from typing import Any

from auxpol.demo import DemoClient, DemoError
from services.common.resident_id import make_id_number
from services.recruitment import clock
from services.recruitment.eligibility import NEGATIVE_LIST

BASE = "/api/v1/recruitment"
COUNTY = "371327"
YEAR = 2027
TITLE = "莒南县2027年公开招聘警务辅助人员"
SEED = 371327
APPLICANTS = 320

POSITIONS = [
    {"post_category": "duty", "post": "patrol", "headcount": 6, "unit": "十字路派出所"},
    {"post_category": "duty", "post": "traffic", "headcount": 3, "unit": "交警大队"},
    {"post_category": "civilian", "post": "clerk", "headcount": 2, "unit": "局机关"},
]

DUTY_ELIGIBILITY = {
    "min_age": 18,
    "max_age": 30,
    "veteran_age_extension": 5,
    "min_education": "junior_college",
    "education_exceptions": ["veteran", "special_skill"],
    "exception_min_education": "senior_high",
    "min_height_cm": 170,
    "min_height_cm_female": 160,
    "min_vision": "4.6",
}
RULES: dict[str, Any] = {
    "weights": {"written": "0.4", "interview": "0.6", "fitness": "0"},
    "bonus": [{"category": "veteran", "points": "3", "applies_to": "written"}],
    "tie_break": ["interview", "written"],
    "backfill": {
        "on": ["fitness", "medical", "withdrawal", "objection"],
        "max_rounds": 2,
        "until": None,
    },
    "publicity_working_days": 5,
    "interview_scoring": {"drop_extremes": True},
    "posts": {
        "patrol": {"entry_ratio": "3", "written_pass_line": "60", "eligibility": DUTY_ELIGIBILITY},
        "traffic": {"entry_ratio": "3", "written_pass_line": "60", "eligibility": DUTY_ELIGIBILITY},
        "clerk": {
            "entry_ratio": "3",
            "written_pass_line": "60",
            "eligibility": {
                "min_age": 18,
                "max_age": 35,
                "min_education": "junior_college",
                "duty_post": False,
            },
        },
    },
}

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志鹏宇浩然子涵晨阳雪婷鑫博文"
HOMES = ("371327", "371327", "371327", "371325", "371302", "371311", "371321")


def _applicants(rng: random.Random, today: date) -> list[dict[str, Any]]:
    people: list[dict[str, Any]] = []
    for _ in range(APPLICANTS):
        post = rng.choices(["patrol", "traffic", "clerk"], weights=[6, 3, 3])[0]
        age = rng.choices([rng.randint(19, 30), rng.randint(31, 36)], weights=[9, 1])[0]
        born = today - timedelta(days=age * 365 + rng.randint(0, 364))
        sequence = rng.randint(1, 499) * 2 + (1 if rng.random() < 0.75 else 0)
        veteran = rng.random() < 0.12
        declarations = dict.fromkeys(NEGATIVE_LIST, False)
        if rng.random() < 0.02:
            declarations["serious_bad_credit"] = True
        person: dict[str, Any] = {
            "id_number": make_id_number(rng.choice(HOMES), born, sequence % 1000),
            "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
            "post": post,
            "education": rng.choices(
                ["senior_high", "junior_college", "bachelor", "master"], weights=[1, 5, 6, 1]
            )[0],
            "veteran": veteran,
            "height_cm": str(rng.randint(166, 188) if sequence % 2 else rng.randint(156, 175)),
            "vision": rng.choices(["4.5", "4.6", "4.8", "5.0", "5.1"], weights=[1, 3, 4, 4, 2])[0],
            "hukou_region": rng.choice(HOMES),
            "phone": f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
            "declarations": declarations,
        }
        people.append(person)
    unique: dict[str, dict[str, Any]] = {}
    for p in people:
        unique.setdefault(p["id_number"], p)
    return list(unique.values())


def _csv(people: list[dict[str, Any]]) -> bytes:
    columns = [
        "id_number",
        "name",
        "post",
        "education",
        "veteran",
        "height_cm",
        "vision",
        "hukou_region",
        "phone",
        *NEGATIVE_LIST,
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for p in people:
        flags = ["yes" if p["declarations"][k] else "no" for k in NEGATIVE_LIST]
        writer.writerow(
            [
                p["id_number"],
                p["name"],
                p["post"],
                p["education"],
                "yes" if p["veteran"] else "no",
                p["height_cm"],
                p["vision"],
                p["hukou_region"],
                p["phone"],
                *flags,
            ]
        )
    return out.getvalue().encode("utf-8")


async def _existing_plan(api: DemoClient) -> dict[str, Any] | None:
    page = await api.get("junan_admin", f"{BASE}/plans?region={COUNTY}&year={YEAR}&limit=500")
    return next((p for p in page["items"] if p.get("title") == TITLE), None)


async def _all_applied(api: DemoClient, campaign_id: int) -> list[int]:
    ids: list[int] = []
    cursor = ""
    while True:
        url = f"{BASE}/campaigns/{campaign_id}/applications?status=applied&limit=500"
        page = await api.get("junan_recruiter", url + (f"&cursor={cursor}" if cursor else ""))
        ids += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"] or ""
        if not cursor:
            return ids


async def load(api: DemoClient) -> None:
    rng = random.Random(SEED)
    today = clock.today()
    plan = await _existing_plan(api)
    if plan is None:
        plan = await api.post(
            "junan_admin",
            f"{BASE}/plans",
            json={"region": COUNTY, "year": YEAR, "title": TITLE, "positions": POSITIONS},
        )
    if plan["status"] == "draft":
        plan = await api.post("junan_admin", f"{BASE}/plans/{plan['id']}/submit")
    if plan["status"] == "submitted":
        plan = await api.post("linyi_admin", f"{BASE}/plans/{plan['id']}/approve")
    if plan["status"] != "approved":
        raise DemoError(f"the demo plan is {plan['status']}, not approved")

    campaign_id = plan.get("campaign_id")
    if campaign_id is None:
        campaign = await api.post(
            "junan_recruiter",
            f"{BASE}/campaigns",
            json={
                "plan_id": plan["id"],
                "title": TITLE,
                "description": "面向社会公开招聘巡逻、交通、文职辅警。报名、笔试、面试、体能测评、"
                "体检、政审、公示、聘用。",
                "registration_opens": (today - timedelta(days=20)).isoformat(),
                "registration_closes": (today + timedelta(days=10)).isoformat(),
                "rules": RULES,
            },
        )
        campaign_id = campaign["id"]
    else:
        campaign = await api.get("junan_recruiter", f"{BASE}/campaigns/{campaign_id}")
    if campaign["current_stage"] != "registration":
        return  # taken up where it stands: already past registration

    people = _applicants(rng, today)
    one_by_one, online, bulk = people[:12], people[12], people[13:]
    for person in one_by_one:
        await api.request(
            "junan_recruiter",
            "POST",
            f"{BASE}/campaigns/{campaign_id}/applications",
            json=person,
            ok=(201, 409),
        )
    response = await api.http.post(
        f"{BASE}/public/announcements/{campaign_id}/applications", json=online
    )
    if response.status_code not in (201, 409):
        raise DemoError(f"online registration: {response.status_code} {response.text}")
    await api.request(
        "junan_recruiter",
        "POST",
        f"{BASE}/campaigns/{campaign_id}/applications/import",
        content=_csv(bulk),
        headers={"content-type": "text/csv"},
    )
    await api.post("junan_recruiter", f"{BASE}/campaigns/{campaign_id}/stages/registration/close")

    applied = await _all_applied(api, campaign_id)
    scores: list[dict[str, Any]] = []
    for app_id in applied:
        if rng.random() < 0.04:
            scores.append({"application_id": app_id, "absent": True})
        else:
            score = min(98.0, max(35.0, rng.gauss(71, 10)))
            scores.append({"application_id": app_id, "score": f"{score:.1f}"})
    await api.post(
        "junan_recruiter", f"{BASE}/campaigns/{campaign_id}/results/written", json=scores
    )
    await api.post("junan_recruiter", f"{BASE}/campaigns/{campaign_id}/stages/written/close")
