"""Budget projection tests, on the api.md example schedule (see test_schedule_rules).

Monthly figures, yuan (employer rates 16% + 6% + 0.5% + 0.4% + 0.8% + 7% = 30.7%):
- level 7 step 1, patrol, competent: 3,000 + 2,000 + 500 + 350 = 5,850;
  employer 936 + 351 + 29.25 + 23.40 + 46.80 + 409.50 = 1,795.95
- level 6 step 2, clerk, excellent: 3,570 + 1,500 + 800 + 350 = 6,220;
  employer 995.20 + 373.20 + 31.10 + 24.88 + 49.76 + 435.40 = 1,909.54
- planned patrol hire at level 7 (step 1, grade none): 3,000 + 2,000 + 0 + 350 = 5,350;
  employer 856 + 321 + 26.75 + 21.40 + 42.80 + 374.50 = 1,642.45
- planned clerk hire at level 6: 3,400 + 1,500 + 0 + 350 = 5,250;
  employer 840 + 315 + 26.25 + 21 + 42 + 367.50 = 1,611.75
"""

import pytest

from services.compensation.budget import CostLine, project_annual_cost
from services.compensation.schedule_rules import InvalidSchedule, PaySchedule
from services.compensation.tests.test_schedule_rules import API_EXAMPLE

PEOPLE = [
    (7, 1, "patrol", "competent"),
    (7, 1, "patrol", "competent"),
    (6, 2, "clerk", "excellent"),
    (5, 1, "patrol", None),  # no level 5 in the schedule
]
PLANS = [
    ("patrol", 3, 7),
    ("clerk", 2, 6),
    ("traffic", 1, 7),  # no position pay for traffic
    ("patrol", -1, 7),
]


def test_projection():
    b = project_annual_cost(PEOPLE, PLANS, API_EXAMPLE)
    assert b.months == 12
    # current: fixed 12 × (2 × 5,850 + 6,220) = 215,040;
    #          employer 12 × (2 × 1,795.95 + 1,909.54) = 66,017.28
    assert b.current == CostLine(3, 21504000, 6601728)
    # planned: fixed 12 × (3 × 5,350 + 2 × 5,250) = 318,600;
    #          employer 12 × (3 × 1,642.45 + 2 × 1,611.75) = 97,810.20
    assert b.planned == CostLine(5, 31860000, 9781020)
    assert b.total == CostLine(8, 53364000, 16382748)
    assert b.total.total == 69746748  # 697,467.48
    assert list(b.by_post) == ["clerk", "patrol"]
    patrol = b.by_post["patrol"]
    assert patrol.current == CostLine(2, 14040000, 4310280)  # 2 × 12 × 5,850; 2 × 12 × 1,795.95
    assert patrol.planned == CostLine(3, 19260000, 5912820)  # 3 × 12 × 5,350; 3 × 12 × 1,642.45
    assert patrol.total.headcount == 5
    clerk = b.by_post["clerk"]
    assert clerk.current == CostLine(1, 7464000, 2291448)
    assert clerk.planned == CostLine(2, 12600000, 3868200)
    assert sum(p.total.total for p in b.by_post.values()) == b.total.total


def test_unpriced_are_listed_not_dropped_silently():
    b = project_annual_cost(PEOPLE, PLANS, API_EXAMPLE)
    assert [(u.kind, u.index) for u in b.unpriced] == [
        ("person", 3),
        ("planned_hire", 2),
        ("planned_hire", 3),
    ]
    assert "level 5" in b.unpriced[0].reason
    assert "traffic" in b.unpriced[1].reason


def test_accepts_parsed_schedule_and_empty_inputs():
    s = PaySchedule.from_payload(API_EXAMPLE)
    b = project_annual_cost([], [], s)
    assert b.total == CostLine()
    assert b.by_post == {}
    assert b.unpriced == []


def test_months_parameter():
    b = project_annual_cost([(7, 1, "patrol", "competent")], [], API_EXAMPLE, months=6)
    assert b.current == CostLine(1, 6 * 585000, 6 * 179595)


def test_invalid_schedule():
    with pytest.raises(InvalidSchedule):
        project_annual_cost([], [], {"level_pay": {}})
