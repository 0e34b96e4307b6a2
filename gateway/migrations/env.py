from gateway.models import GatewayBase
from kernel.migrations import run_env

run_env(GatewayBase.metadata, version_table="alembic_version_gateway")
