"""Recruitment routes (api.md, Recruitment) and the roles each one allows.

Two routes are narrowed further inside the service, by stage: results for the political
review and closing the political or publicity stage are for the county administrator
(a recruiter records scores, fitness and medical results, not political review).
"""

from kernel.auth import Role
from kernel.policy import AUDIT_READ, PROVINCE, PUBLIC, roles, rules_for

PLAN_WRITE = roles(Role.COUNTY_ADMIN)
CAMPAIGN_READ = AUDIT_READ | roles(Role.COUNTY_ADMIN, Role.RECRUITER)
# The compensation service reads approved plans for the budget (role `service`).
PLAN_READ = CAMPAIGN_READ | roles(Role.SERVICE)
CAMPAIGN_WRITE = roles(Role.COUNTY_ADMIN, Role.RECRUITER)
SCORES = roles(Role.COUNTY_ADMIN, Role.RECRUITER)
POLITICAL = roles(Role.COUNTY_ADMIN)
HIRE = roles(Role.COUNTY_ADMIN)

RULES = rules_for(
    "recruitment",
    "/api/v1/recruitment",
    [
        ("GET", "/plans", PLAN_READ),
        ("POST", "/plans", PLAN_WRITE),
        ("GET", "/plans/{id}", PLAN_READ),
        ("POST", "/plans/{id}/submit", PLAN_WRITE),
        ("POST", "/plans/{id}/approve", PROVINCE),
        ("POST", "/plans/{id}/reject", PROVINCE),
        ("POST", "/plans/{id}/close", PLAN_WRITE),
        ("GET", "/plans/{id}/filing", PLAN_READ),
        ("GET", "/campaigns", CAMPAIGN_READ),
        ("POST", "/campaigns", CAMPAIGN_WRITE),
        ("GET", "/campaigns/{id}", CAMPAIGN_READ),
        ("POST", "/campaigns/{id}/stages/{stage}/close", CAMPAIGN_WRITE),
        ("GET", "/campaigns/{id}/applications", CAMPAIGN_READ),
        ("POST", "/campaigns/{id}/applications", CAMPAIGN_WRITE),
        ("POST", "/campaigns/{id}/applications/import", CAMPAIGN_WRITE),
        ("POST", "/campaigns/{id}/results/{stage}", SCORES),
        ("GET", "/campaigns/{id}/ranking", CAMPAIGN_READ),
        ("GET", "/campaigns/{id}/publicity", CAMPAIGN_READ),
        ("POST", "/campaigns/{id}/publicity", POLITICAL),
        ("POST", "/campaigns/{id}/hire", HIRE),
        ("GET", "/campaigns/{id}/filing", CAMPAIGN_READ),
        ("GET", "/applications/{id}", CAMPAIGN_READ),
        ("GET", "/applications/{id}/history", CAMPAIGN_READ),
        ("POST", "/applications/{id}/eligibility-override", CAMPAIGN_WRITE),
        ("POST", "/applications/{id}/medical-recheck", SCORES),
        ("POST", "/applications/{id}/objections", POLITICAL),
        ("POST", "/applications/{id}/objections/{oid}/decide", POLITICAL),
        ("POST", "/applications/{id}/withdraw", CAMPAIGN_WRITE),
        ("POST", "/applications/{id}/redeliver", HIRE),
        ("GET", "/public/announcements", PUBLIC),
        ("GET", "/public/announcements/{id}", PUBLIC),
        ("POST", "/public/announcements/{id}/applications", PUBLIC),
    ],
)
