from kernel.migrations import run_env
from services.roster.models import RosterBase

run_env(RosterBase.metadata, version_table="alembic_version_roster")
