"""Roster routes (api.md, Roster)."""

from kernel.auth import Role
from kernel.policy import ANY_HUMAN, AUDIT_READ, PROVINCE, roles, rules_for

ROSTER_READ = ANY_HUMAN | roles(Role.SERVICE)
PERSONNEL_READ = roles(
    Role.PROVINCE_ADMIN,
    Role.AUDITOR,
    Role.COUNTY_ADMIN,
    Role.UNIT_MANAGER,
    Role.FINANCE_OFFICER,
    Role.SERVICE,
)
PERSONNEL_WRITE = roles(Role.COUNTY_ADMIN)
PERSONNEL_CREATE = roles(Role.COUNTY_ADMIN, Role.SERVICE)
UNIT_EVENTS = roles(Role.COUNTY_ADMIN, Role.UNIT_MANAGER)
RESERVATIONS = roles(Role.PROVINCE_ADMIN, Role.COUNTY_ADMIN, Role.SERVICE)
REPORTS = AUDIT_READ | roles(Role.COUNTY_ADMIN, Role.UNIT_MANAGER, Role.FINANCE_OFFICER)
IMPORT_READ = PERSONNEL_WRITE | AUDIT_READ

RULES = rules_for(
    "roster",
    "/api/v1/roster",
    [
        ("GET", "/regions", ROSTER_READ),
        ("GET", "/regions/{code}", ROSTER_READ),
        ("PUT", "/regions/{code}", PROVINCE),
        ("GET", "/regions/{code}/quota", ROSTER_READ),
        ("GET", "/quota-rules", ROSTER_READ),
        ("POST", "/quota-rules", PROVINCE),
        ("GET", "/quota-reservations", RESERVATIONS | AUDIT_READ),
        ("POST", "/quota-reservations", RESERVATIONS),
        ("GET", "/quota-reservations/{id}", RESERVATIONS | AUDIT_READ),
        ("POST", "/quota-reservations/{id}/release", RESERVATIONS),
        ("GET", "/personnel", PERSONNEL_READ),
        ("GET", "/personnel-snapshot", PERSONNEL_READ),
        ("POST", "/personnel", PERSONNEL_CREATE),
        ("GET", "/personnel/{id}", PERSONNEL_READ),
        ("PATCH", "/personnel/{id}", PERSONNEL_WRITE),
        ("GET", "/personnel/{id}/history", PERSONNEL_READ),
        ("POST", "/personnel/{id}/departures", PERSONNEL_WRITE),
        ("POST", "/personnel/{id}/status-changes", PERSONNEL_WRITE),
        ("POST", "/personnel/{id}/assessments", UNIT_EVENTS),
        ("POST", "/personnel/{id}/level-changes", PERSONNEL_WRITE),
        ("POST", "/personnel/{id}/contracts", PERSONNEL_WRITE),
        ("POST", "/personnel/{id}/rewards", UNIT_EVENTS),
        ("POST", "/personnel/{id}/punishments", UNIT_EVENTS),
        ("POST", "/personnel/{id}/trainings", UNIT_EVENTS),
        ("GET", "/promotions/due", REPORTS),
        ("GET", "/reports/quota", REPORTS),
        ("GET", "/reports/structure", REPORTS),
        ("GET", "/reports/turnover", REPORTS),
        ("POST", "/imports/personnel", PERSONNEL_WRITE),
        ("GET", "/imports", IMPORT_READ),
        ("GET", "/imports/{id}", IMPORT_READ),
        ("GET", "/imports/{id}/errors", IMPORT_READ),
        ("GET", "/posts", ROSTER_READ),
        ("GET", "/level-policy", ROSTER_READ),
    ],
)
