"""grouping: inbox, outbox and the current group per group_key"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from signalcraft_runtime.migration_ops import create_inbox_and_outbox

revision = "0001"
down_revision = None
SCHEMA = "grouping"


def upgrade() -> None:
    create_inbox_and_outbox(SCHEMA)
    op.create_table(
        "group_heads",
        sa.Column("workspace_id", sa.Text, primary_key=True),
        sa.Column("group_key", sa.Text, primary_key=True),
        sa.Column("group_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("snapshot", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
