"""Compensation routes (api.md, Compensation)."""

from kernel.auth import Role
from kernel.policy import AUDIT_READ, PROVINCE, roles, rules_for

FINANCE = roles(Role.FINANCE_OFFICER)
PAY_READ = AUDIT_READ | roles(Role.COUNTY_ADMIN, Role.FINANCE_OFFICER)
APPROVE = roles(Role.COUNTY_ADMIN)

RULES = rules_for(
    "compensation",
    "/api/v1/compensation",
    [
        ("GET", "/schedules", PAY_READ),
        ("GET", "/schedules/in-force", PAY_READ),
        ("GET", "/schedules/{region_prefix}/{effective_from}", PAY_READ),
        ("PUT", "/schedules/{region_prefix}/{effective_from}", PROVINCE),
        ("GET", "/payroll-inputs", PAY_READ),
        ("POST", "/payroll-inputs", FINANCE),
        ("GET", "/payroll-runs", PAY_READ),
        ("POST", "/payroll-runs", FINANCE),
        ("GET", "/payroll-runs/{id}", PAY_READ),
        ("POST", "/payroll-runs/{id}/calculate", FINANCE),
        ("POST", "/payroll-runs/{id}/approve", APPROVE),
        ("POST", "/payroll-runs/{id}/mark-paid", FINANCE | APPROVE),
        ("POST", "/payroll-runs/{id}/cancel", FINANCE | APPROVE),
        ("GET", "/payroll-runs/{id}/payslips", PAY_READ),
        ("GET", "/payroll-runs/{id}/export", PAY_READ),
        ("GET", "/payroll-runs/{id}/summary", PAY_READ),
        ("GET", "/budget", PAY_READ),
        ("GET", "/reports/pay-check", PAY_READ),
    ],
)
