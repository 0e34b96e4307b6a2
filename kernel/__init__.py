"""The shared kernel: what every auxpol process needs and nothing of the domain.

Settings, the database session with its single commit point, problem+json errors,
JWT verification and principals, jurisdiction filters, pagination, ETag and
Idempotency-Key support, metrics, JSON logs, health endpoints and the outbox.
"""
