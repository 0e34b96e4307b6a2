"""Tables the kernel needs inside each service's own database. Each service calls
`kernel_tables(Base.metadata)` once in its models module, and its Alembic
migrations create them like any other table."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Index, Integer, LargeBinary, MetaData, String, Table, Text

from kernel.db import BigIntPK, UTCDateTime, json_type


@dataclass(frozen=True)
class KernelTables:
    outbox: Table
    idempotency: Table


def kernel_tables(metadata: MetaData) -> KernelTables:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigIntPK, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(100), nullable=False),
        Column("payload", json_type(), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("status", String(16), nullable=False, server_default="pending"),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", UTCDateTime(), nullable=False),
        Column("lease_until", UTCDateTime(), nullable=True),
        Column("last_error", Text, nullable=True),
        Column("delivered_at", UTCDateTime(), nullable=True),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )
    idempotency = Table(
        "idempotency_keys",
        metadata,
        Column("id", BigIntPK, primary_key=True, autoincrement=True),
        Column("subject", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("media_type", String(100), nullable=True),
        Column("headers", json_type(), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Index("uq_idempotency_keys_subject_key", "subject", "key", unique=True),
    )
    return KernelTables(outbox=outbox, idempotency=idempotency)
