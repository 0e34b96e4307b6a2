"""Compensation demo data, loaded through the gateway's public API after the roster's:

- the Shandong (37) pay schedule from 1 January of the year of the month the demo pays
  (so that it is in force for that month whatever the date), put by ``sd_admin``: seven
  levels of five steps, position pay for the demo posts, performance pay by grade, a 350.00
  work allowance for everyone and a duty allowance for duty posts, the api.md rates,
  and Linyi's average and minimum wages;
- a few payroll inputs (overtime, an award) for Junan people;
- Junan County's (371327) payroll run for the latest complete month, created and
  calculated by ``junan_finance`` and approved by ``junan_admin``.

Loading twice is harmless: the schedule is put again and an existing run is taken up
where it stands.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from auxpol.demo import DemoClient, DemoError

BASE = "/api/v1/compensation"
PROVINCE = "37"
COUNTY = "371327"

DUTY_POSTS = {"patrol": "1200.00", "traffic": "1200.00", "guard": "1000.00", "custody": "1100.00"}
CIVILIAN_POSTS = {
    "clerk": "800.00",
    "hotline": "900.00",
    "counter": "800.00",
    "data_entry": "700.00",
    "video_surveillance": "900.00",
    "it_support": "1000.00",
}
# Position pay for a post the roster uses but the schedule does not name yet.
DEFAULT_POSITION_PAY = "800.00"


def level_pay() -> dict[str, list[str]]:
    """Level 7 (entry) starts at 2,600.00; each level up adds 350.00 and each step 100.00."""
    return {
        str(level): [f"{2600 + (7 - level) * 350 + step * 100}.00" for step in range(5)]
        for level in range(1, 8)
    }


# Employer and employee rates of the five insurances and the housing fund (Shandong),
# as a schedule states them; the bench and the fuzz test pay with the same rates.
CONTRIBUTIONS = {
    "pension": {"employer": "0.16", "employee": "0.08"},
    "medical": {"employer": "0.06", "employee": "0.02"},
    "unemployment": {"employer": "0.005", "employee": "0.005"},
    "work_injury": {"employer": "0.004", "employee": "0"},
    "maternity": {"employer": "0.008", "employee": "0"},
    "housing_fund": {"employer": "0.07", "employee": "0.07"},
}


def schedule(position_pay: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "level_pay": level_pay(),
        "position_pay": position_pay or {**DUTY_POSTS, **CIVILIAN_POSTS},
        "performance_pay": {
            "excellent": "800.00",
            "competent": "500.00",
            "basically_competent": "200.00",
            "incompetent": "0.00",
            "none": "0.00",
        },
        "allowances": [
            {"name": "work_allowance", "amount": "350.00", "posts": None},
            {"name": "duty_allowance", "amount": "200.00", "posts": sorted(DUTY_POSTS)},
        ],
        "contributions": CONTRIBUTIONS,
        "base_floor_ratio": "0.6",
        "base_cap_ratio": "3",
        # Linyi, urban non-private units, monthly; Shandong's second-tier minimum wage.
        "local_average_wage": "7100.00",
        "minimum_wage": "2010.00",
        "tax_table": None,
    }


def latest_complete_month(today: date | None = None) -> str:
    today = today or date.today()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def schedule_start(period: str) -> str:
    """The demo schedule's effective date for a `period` (YYYY-MM): 1 January of its
    year, so the schedule is in force for the month paid (in January, December of the
    year before)."""
    return f"{period[:4]}-01-01"


async def _inputs(api: DemoClient, period: str) -> None:
    """Overtime for a few Junan people and an award for one (skipped without a roster)."""
    response = await api.request(
        "junan_finance",
        "GET",
        "/api/v1/roster/personnel",
        params={"region": COUNTY, "limit": 6},
        ok=(200, 404, 503),
    )
    if response.status_code != 200:
        return
    people = [p["id"] for p in response.json().get("items", [])]
    for n, personnel_id in enumerate(people):
        body: dict[str, Any] = {
            "personnel_id": personnel_id,
            "period": period,
            "overtime_hours": {"weekday": str(2 * n), "rest_day": "8" if n % 2 else "0"},
        }
        if n == 0:
            body["awards"] = "1000.00"
        await api.post("junan_finance", f"{BASE}/payroll-inputs", body, ok=(200, 201, 409))


async def _calculate(api: DemoClient, run_id: int, effective_from: str) -> None:
    """Calculate; if the roster uses posts the schedule does not price, add them at a
    default position pay (as the province would) and calculate again."""
    path = f"{BASE}/payroll-runs/{run_id}/calculate"
    response = await api.request("junan_finance", "POST", path, ok=(200, 422))
    if response.status_code == 200:
        return
    problem = response.json()
    if problem.get("code") != "no_pay_for_post":
        raise DemoError(f"POST {path}: {response.status_code} {response.text}")
    position_pay = {**DUTY_POSTS, **CIVILIAN_POSTS}
    position_pay.update(dict.fromkeys(problem.get("posts", []), DEFAULT_POSITION_PAY))
    await api.put(
        "sd_admin", f"{BASE}/schedules/{PROVINCE}/{effective_from}", schedule(position_pay)
    )
    await api.post("junan_finance", path)


async def load(api: DemoClient, today: date | None = None) -> None:
    period = latest_complete_month(today)
    effective_from = schedule_start(period)
    # 409 schedule_in_use: an earlier load's run was approved under it; keep it as it is.
    await api.put(
        "sd_admin",
        f"{BASE}/schedules/{PROVINCE}/{effective_from}",
        schedule(),
        ok=(200, 201, 409),
    )
    existing = await api.get(
        "junan_finance", f"{BASE}/payroll-runs", params={"region": COUNTY, "period": period}
    )
    runs = [r for r in existing["items"] if r["region"] == COUNTY and r["status"] != "cancelled"]
    if runs:
        run = runs[0]
    else:
        await _inputs(api, period)
        run = await api.post(
            "junan_finance", f"{BASE}/payroll-runs", {"region": COUNTY, "period": period}
        )
    if run["status"] == "draft" or (run["status"] == "calculated" and run["stale"]):
        await _calculate(api, run["id"], effective_from)
        run["status"] = "calculated"
    if run["status"] == "calculated":
        await api.post("junan_admin", f"{BASE}/payroll-runs/{run['id']}/approve")
