"""Hires reach the roster exactly once, with the real processes: the plan's approval
reserves seats in the roster; the roster is stopped, the campaign hires, the recruitment
service is restarted while the roster is still down, the roster comes back, and the
hires arrive through the outbox relay against the reservation. Another restart
duplicates nothing."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest

from services.common.resident_id import make_id_number
from services.recruitment.eligibility import NEGATIVE_LIST
from tests.county import COUNTY, REC, ROSTER, login, ok, set_up_county, wait_for
from tests.stack import running_stack

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-Password-2027"

RULES: dict[str, Any] = {
    "weights": {"written": "0.5", "interview": "0.5"},
    "tie_break": ["interview", "written"],
    "backfill": {"on": ["fitness", "medical", "withdrawal", "objection"]},
    "publicity_working_days": 5,
    "posts": {
        "patrol": {
            "entry_ratio": "2",
            "eligibility": {"min_age": 18, "max_age": 35, "min_education": "senior_high"},
        }
    },
}


def test_hires_reach_the_roster_once_across_restarts() -> None:
    with running_stack("auxpol_hire") as stack:
        set_up_county(
            stack,
            (
                ("e2e_linyi", ["province_admin"], "3713"),
                ("e2e_junan", ["county_admin"], COUNTY),
                ("e2e_recruiter", ["recruiter"], COUNTY),
            ),
            PASSWORD,
        )
        province, county, recruiter = (
            login(stack, "e2e_linyi", PASSWORD),
            login(stack, "e2e_junan", PASSWORD),
            login(stack, "e2e_recruiter", PASSWORD),
        )
        with province, county, recruiter:
            # --- plan: approval reserves the seats in the roster ------------------------
            plan = ok(
                county.post(
                    f"{REC}/plans",
                    json={
                        "region": COUNTY,
                        "year": 2027,
                        "positions": [{"post_category": "duty", "post": "patrol", "headcount": 2}],
                    },
                ),
                201,
            )
            ok(county.post(f"{REC}/plans/{plan['id']}/submit"))
            plan = ok(province.post(f"{REC}/plans/{plan['id']}/approve"))
            reference = f"recruitment-plan-{plan['id']}"
            assert plan["reservation"]["reference"] == reference
            quota = ok(county.get(f"{ROSTER}/regions/{COUNTY}/quota"))
            assert (quota["quota"], quota["headcount"], quota["reserved"]) == (10, 0, 2)

            # --- the pipeline, quickly -----------------------------------------------------
            today = date.today()
            campaign = ok(
                recruiter.post(
                    f"{REC}/campaigns",
                    json={
                        "plan_id": plan["id"],
                        "registration_opens": (today - timedelta(days=2)).isoformat(),
                        "registration_closes": (today + timedelta(days=5)).isoformat(),
                        "rules": RULES,
                    },
                ),
                201,
            )
            cid = campaign["id"]
            ids = []
            for i in range(1, 5):
                body = {
                    "id_number": make_id_number(COUNTY, date(1999, 3, i), 2 * i + 1),
                    "name": f"应聘者{i}",
                    "post": "patrol",
                    "education": "bachelor",
                    "phone": f"1380000000{i}",
                    "declarations": dict.fromkeys(NEGATIVE_LIST, False),
                }
                ids.append(
                    ok(recruiter.post(f"{REC}/campaigns/{cid}/applications", json=body), 201)["id"]
                )
            stage = f"{REC}/campaigns/{cid}/stages"
            ok(recruiter.post(f"{stage}/registration/close"))
            ok(
                recruiter.post(
                    f"{REC}/campaigns/{cid}/results/written",
                    json=[{"application_id": a, "score": str(90 - n)} for n, a in enumerate(ids)],
                )
            )
            ok(recruiter.post(f"{stage}/written/close"))
            ok(
                recruiter.post(
                    f"{REC}/campaigns/{cid}/results/interview",
                    json=[{"application_id": a, "score": "80"} for a in ids],
                )
            )
            ok(recruiter.post(f"{stage}/interview/close"))
            places = ids[:2]
            for gate in ("fitness", "medical"):
                ok(
                    recruiter.post(
                        f"{REC}/campaigns/{cid}/results/{gate}",
                        json=[{"application_id": a, "passed": True} for a in places],
                    )
                )
                ok(recruiter.post(f"{stage}/{gate}/close"))
            ok(
                county.post(
                    f"{REC}/campaigns/{cid}/results/political",
                    json=[{"application_id": a, "passed": True} for a in places],
                )
            )
            ok(county.post(f"{stage}/political/close"))
            ok(
                county.post(
                    f"{REC}/campaigns/{cid}/publicity",
                    json={"starts": (today - timedelta(days=14)).isoformat()},
                ),
                201,
            )
            ok(county.post(f"{stage}/publicity/close"))

            # --- the roster is down when the campaign hires ----------------------------------
            stack.stop_service("roster")
            hired = ok(county.post(f"{REC}/campaigns/{cid}/hire"), 201)["hired"]
            assert sorted(h["application_id"] for h in hired) == sorted(places)
            time.sleep(2)
            for a in places:
                state = ok(county.get(f"{REC}/applications/{a}"))["hire"]["state"]
                assert state == "pending"
            # a restart of recruitment while the roster is still down loses nothing
            stack.stop_service("recruitment")
            stack.start_service("recruitment", wait=True)
            stack.start_service("roster", wait=True)

            def delivered() -> bool:
                states = [
                    ok(county.get(f"{REC}/applications/{a}"))["hire"]["state"] for a in places
                ]
                return all(s == "delivered" for s in states)

            wait_for(delivered, what="the hires to reach the roster")
            people = ok(county.get(f"{ROSTER}/personnel", params={"region": COUNTY}))["items"]
            assert len(people) == 2
            refs = sorted(p["external_reference"] for p in people)
            assert refs == sorted(f"recruitment:campaign:{cid}:application:{a}" for a in places)
            assert all(p["post"] == "patrol" and p["status"] == "probation" for p in people)
            quota = ok(county.get(f"{ROSTER}/regions/{COUNTY}/quota"))
            assert (quota["headcount"], quota["reserved"]) == (2, 0)
            reservation = ok(
                county.get(f"{ROSTER}/quota-reservations", params={"reference": reference})
            )["items"][0]
            assert reservation["converted"] == 2 and reservation["held"] == 0
            person_ids = {str(p["id"]) for p in people}
            on_file = {
                ok(county.get(f"{REC}/applications/{a}"))["hire"]["roster_person_id"]
                for a in places
            }
            assert on_file == person_ids

            # --- another restart of either service duplicates nothing -----------------------
            stack.stop_service("recruitment")
            stack.start_service("recruitment", wait=True)
            stack.stop_service("roster")
            stack.start_service("roster", wait=True)
            time.sleep(2)
            people = ok(county.get(f"{ROSTER}/personnel", params={"region": COUNTY}))["items"]
            assert len(people) == 2
            quota = ok(county.get(f"{ROSTER}/regions/{COUNTY}/quota"))
            assert (quota["headcount"], quota["reserved"]) == (2, 0)
            filing = ok(county.get(f"{REC}/campaigns/{cid}/filing"))
            assert filing["hired"] == 2 and filing["complete"]
