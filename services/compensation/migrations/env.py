from kernel.migrations import run_env
from services.compensation.models import CompensationBase

run_env(CompensationBase.metadata, version_table="alembic_version_compensation")
