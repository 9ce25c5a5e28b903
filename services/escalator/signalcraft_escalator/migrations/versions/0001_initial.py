"""escalator: inbox, outbox, durable timers and the last status of each group"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from signalcraft_runtime.migration_ops import create_inbox_and_outbox

revision = "0001"
down_revision = None
SCHEMA = "escalator"


def upgrade() -> None:
    create_inbox_and_outbox(SCHEMA)
    op.create_table(
        "timers",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("group_id", sa.Uuid, primary_key=True),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text, nullable=False),  # pending | fired | cancelled
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("causation_id", sa.Uuid),
        schema=SCHEMA,
    )
    op.create_index("timers_due", "timers", ["due_at"], schema=SCHEMA, postgresql_where=sa.text("state = 'pending'"))
    op.create_table(
        "group_status",
        sa.Column("group_id", sa.Uuid, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        schema=SCHEMA,
    )
