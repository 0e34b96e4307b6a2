from kernel.migrations import run_env
from services.recruitment.models import RecruitmentBase

run_env(RecruitmentBase.metadata, version_table="alembic_version_recruitment")
