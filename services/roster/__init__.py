"""Roster service: one person, one file; quotas, levels, contracts and reports."""
