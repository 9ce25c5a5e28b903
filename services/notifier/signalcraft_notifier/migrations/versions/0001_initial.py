"""notifier: inbox, outbox, deliveries (one per request), attempts, and each group's message"""

import sqlalchemy as sa
from alembic import op

from signalcraft_runtime.migration_ops import create_inbox_and_outbox

revision = "0001"
down_revision = None
SCHEMA = "notifier"


def upgrade() -> None:
    create_inbox_and_outbox(SCHEMA)
    op.create_table(
        "deliveries",
        sa.Column("request_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("group_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),  # sending | sent | failed
        sa.Column("message_ts", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Uuid, nullable=False, index=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),  # ok | retry | retry_after | terminal
        sa.Column("error", sa.Text),
        sa.Column("http_status", sa.Integer),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "group_messages",
        sa.Column("group_id", sa.Uuid, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("message_ts", sa.Text, nullable=False),
        schema=SCHEMA,
    )
