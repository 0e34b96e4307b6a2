"""The compensation service's declarative base, with its own metadata and the kernel's tables."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from kernel.db import make_metadata
from kernel.tables import kernel_tables


class CompensationBase(DeclarativeBase):
    metadata = make_metadata()


KERNEL_TABLES = kernel_tables(CompensationBase.metadata)
