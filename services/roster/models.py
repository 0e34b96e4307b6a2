"""Roster tables.

- `regions` and `region_demographics` (population and police establishment per year);
- `quota_rules` (immutable; a change is a new rule with a later `effective_from`);
- `region_counters`: headcount (probation + active) and reserved seats per exact region
  code, maintained in the same transaction as every change that moves them. A region's
  figures are the sum over the counters of its subtree; the counters are also the lock
  rows that serialise seat-taking (see `seats.py`);
- `quota_reservations`: seats held by recruitment plans, converted seat by seat;
- `personnel`, one row per file, and its append-only life events: `status_changes`,
  `suspensions` (derived index of suspended periods), `contracts`, `assessments`,
  `level_changes`, `rewards`, `punishments`, `trainings`, and `personnel_events`, the
  audit log of every change (who, when, why);
- `posts`: each post belongs to one category for good;
- `imports` and `import_row_errors` for bulk imports.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kernel.db import BigIntPK, UTCDateTime, json_type
from services.roster.db import KERNEL_TABLES, RosterBase

__all__ = [
    "KERNEL_TABLES",
    "Assessment",
    "Contract",
    "Import",
    "ImportRowError",
    "LevelChange",
    "Personnel",
    "PersonnelEvent",
    "Post",
    "Punishment",
    "QuotaReservation",
    "QuotaRuleRow",
    "Region",
    "RegionCounter",
    "RegionDemographics",
    "Reward",
    "RosterBase",
    "StatusChange",
    "Suspension",
    "Training",
]

PersonnelFK = BigInteger().with_variant(Integer, "sqlite")


class Region(RosterBase):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    parent: Mapped[str | None] = mapped_column(String(9), index=True)
    level: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}


class RegionDemographics(RosterBase):
    __tablename__ = "region_demographics"
    __table_args__ = (
        UniqueConstraint("region", "year"),
        CheckConstraint("population IS NULL OR population >= 0", name="population"),
        CheckConstraint("police_establishment IS NULL OR police_establishment >= 0", name="police"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(9), ForeignKey("regions.code"))
    year: Mapped[int] = mapped_column(Integer)
    population: Mapped[int | None] = mapped_column(BigInteger)
    police_establishment: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


class QuotaRuleRow(RosterBase):
    __tablename__ = "quota_rules"
    __table_args__ = (
        UniqueConstraint("region_prefix", "categories_key", "effective_from"),
        CheckConstraint("value >= 0", name="value"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region_prefix: Mapped[str] = mapped_column(String(9), index=True)
    basis: Mapped[str] = mapped_column(String(24))
    value: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    post_categories: Mapped[list[str]] = mapped_column(JSON)
    # the sorted categories joined by ",", for the uniqueness constraint
    categories_key: Mapped[str] = mapped_column(String(500))
    effective_from: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class RegionCounter(RosterBase):
    __tablename__ = "region_counters"
    __table_args__ = (
        CheckConstraint("headcount >= 0", name="headcount"),
        CheckConstraint("reserved >= 0", name="reserved"),
    )

    region: Mapped[str] = mapped_column(String(9), primary_key=True)
    headcount: Mapped[int] = mapped_column(Integer, server_default="0")
    reserved: Mapped[int] = mapped_column(Integer, server_default="0")


class QuotaReservation(RosterBase):
    __tablename__ = "quota_reservations"
    __table_args__ = (
        CheckConstraint("seats > 0", name="seats"),
        CheckConstraint(
            "converted >= 0 AND released >= 0 AND converted + released <= seats",
            name="consumed",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(9), index=True)
    seats: Mapped[int] = mapped_column(Integer)
    converted: Mapped[int] = mapped_column(Integer)
    released: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}

    @property
    def held(self) -> int:
        return self.seats - self.converted - self.released


class Post(RosterBase):
    """A post (patrol, clerk, ...) belongs to one category from its first use on."""

    __tablename__ = "posts"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    category: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))


class Personnel(RosterBase):
    __tablename__ = "personnel"
    __table_args__ = (
        # "A duplicate ID among current staff gets 409": one file per person on the staff.
        Index(
            "uq_personnel_current_id_number",
            "id_number",
            unique=True,
            postgresql_where=text("status <> 'left'"),
            sqlite_where=text("status <> 'left'"),
        ),
        # one index for region prefixes (LIKE '3713%', hence the pattern operator class
        # on PostgreSQL, whatever the collation) and region + status filters
        Index(
            "ix_personnel_region_status",
            "region",
            "status",
            postgresql_ops={"region": "varchar_pattern_ops"},
        ),
        # unique where given; most files have none, and they stay out of the index
        Index(
            "uq_personnel_external_reference",
            "external_reference",
            unique=True,
            postgresql_where=text("external_reference IS NOT NULL"),
            sqlite_where=text("external_reference IS NOT NULL"),
        ),
        CheckConstraint("step >= 1", name="step"),
        CheckConstraint("probation_months >= 0 AND probation_months <= 6", name="probation"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id_number: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(50))
    sex: Mapped[str] = mapped_column(String(6))
    birth_date: Mapped[date] = mapped_column(Date)
    region: Mapped[str] = mapped_column(String(9))
    unit: Mapped[str] = mapped_column(String(100))
    post_category: Mapped[str] = mapped_column(String(16))
    post: Mapped[str] = mapped_column(String(40))
    education: Mapped[str] = mapped_column(String(20))
    veteran: Mapped[bool] = mapped_column(Boolean)
    political_status: Mapped[str | None] = mapped_column(String(30))
    phone: Mapped[str | None] = mapped_column(String(20))
    hire_date: Mapped[date] = mapped_column(Date)
    probation_months: Mapped[int] = mapped_column(Integer)
    probation_end: Mapped[date | None] = mapped_column(Date)
    level: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    level_since: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    status_since: Mapped[date] = mapped_column(Date)
    left_date: Mapped[date | None] = mapped_column(Date)
    departure_reason: Mapped[str | None] = mapped_column(String(20))
    last_assessment_year: Mapped[int | None] = mapped_column(Integer)
    last_assessment_grade: Mapped[str | None] = mapped_column(String(24))
    external_reference: Mapped[str | None] = mapped_column(String(200))
    reservation_id: Mapped[int | None] = mapped_column(
        PersonnelFK, ForeignKey("quota_reservations.id")
    )
    import_id: Mapped[int | None] = mapped_column(PersonnelFK)
    import_line: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}

    contracts: Mapped[list[Contract]] = relationship(lazy="raise", order_by="Contract.id")
    assessments: Mapped[list[Assessment]] = relationship(lazy="raise", order_by="Assessment.year")
    level_changes: Mapped[list[LevelChange]] = relationship(lazy="raise", order_by="LevelChange.id")
    status_changes: Mapped[list[StatusChange]] = relationship(
        lazy="raise", order_by="StatusChange.id"
    )
    rewards: Mapped[list[Reward]] = relationship(lazy="raise", order_by="Reward.id")
    punishments: Mapped[list[Punishment]] = relationship(lazy="raise", order_by="Punishment.id")
    trainings: Mapped[list[Training]] = relationship(lazy="raise", order_by="Training.id")


def _personnel_fk() -> Any:
    return mapped_column(PersonnelFK, ForeignKey("personnel.id"), index=True)


class _Recorded:
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


class StatusChange(_Recorded, RosterBase):
    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = _personnel_fk()
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    effective: Mapped[date] = mapped_column(Date)
    departure_reason: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class Suspension(RosterBase):
    """Suspended periods [start, end): derived from the status changes, for as-of queries."""

    __tablename__ = "suspensions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = _personnel_fk()
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date | None] = mapped_column(Date)


class Contract(_Recorded, RosterBase):
    __tablename__ = "contracts"
    __table_args__ = (CheckConstraint("probation_months >= 0", name="probation"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = _personnel_fk()
    kind: Mapped[str] = mapped_column(String(16))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date | None] = mapped_column(Date)
    probation_months: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class Assessment(_Recorded, RosterBase):
    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("personnel_id", "year"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = _personnel_fk()
    year: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)


class LevelChange(_Recorded, RosterBase):
    __tablename__ = "level_changes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = _personnel_fk()
    from_level: Mapped[int] = mapped_column(Integer)
    from_step: Mapped[int] = mapped_column(Integer)
    to_level: Mapped[int] = mapped_column(Integer)
    to_step: Mapped[int] = mapped_column(Integer)
    effective: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)


class Reward(_Recorded, RosterBase):
    __tablename__ = "rewards"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = _personnel_fk()
    awarded_on: Mapped[date] = mapped_column("date", Date)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    authority: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))


class Punishment(_Recorded, RosterBase):
    __tablename__ = "punishments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = _personnel_fk()
    imposed_on: Mapped[date] = mapped_column("date", Date)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    authority: Mapped[str | None] = mapped_column(String(100))


class Training(_Recorded, RosterBase):
    __tablename__ = "trainings"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = _personnel_fk()
    course: Mapped[str] = mapped_column(String(200))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date | None] = mapped_column(Date)
    hours: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[str | None] = mapped_column(String(16))
    provider: Mapped[str | None] = mapped_column(String(100))


class PersonnelEvent(_Recorded, RosterBase):
    """The audit log of a file: every change after creation, with who, when and why."""

    __tablename__ = "personnel_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    personnel_id: Mapped[int] = _personnel_fk()
    kind: Mapped[str] = mapped_column(String(32))
    effective: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(json_type())


class Import(RosterBase):
    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # the uploader's jurisdiction: who may look at the import
    region: Mapped[str] = mapped_column(String(9), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    total_rows: Mapped[int] = mapped_column(Integer)
    processed_rows: Mapped[int] = mapped_column(Integer)
    created_rows: Mapped[int] = mapped_column(Integer)
    skipped_rows: Mapped[int] = mapped_column(Integer)
    failed_rows: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # set with every landed batch: a running import without news for long was interrupted
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImportRowError(RosterBase):
    __tablename__ = "import_row_errors"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    import_id: Mapped[int] = mapped_column(PersonnelFK, ForeignKey("imports.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
