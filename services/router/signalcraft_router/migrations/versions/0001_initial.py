"""router: inbox, outbox and where each group was routed"""

import sqlalchemy as sa
from alembic import op

from signalcraft_runtime.migration_ops import create_inbox_and_outbox

revision = "0001"
down_revision = None
SCHEMA = "router"


def upgrade() -> None:
    create_inbox_and_outbox(SCHEMA)
    op.create_table(
        "group_routes",
        sa.Column("group_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("rule_id", sa.Text),
        sa.Column("runbook_url", sa.Text),
        sa.Column("mention_here", sa.Boolean, nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
