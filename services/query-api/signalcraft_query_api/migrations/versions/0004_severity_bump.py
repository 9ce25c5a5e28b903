"""query: the workspace's severity bump setting (issue 10.3); NULL: off"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_severity_bump"
down_revision = "0003_hardening"
SCHEMA = "query"


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("severity_bump", JSONB, nullable=True), schema=SCHEMA)
