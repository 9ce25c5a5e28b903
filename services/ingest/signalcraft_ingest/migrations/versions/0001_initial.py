"""ingest: inbox, outbox and every accepted webhook delivery, raw"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from signalcraft_runtime.migration_ops import create_inbox_and_outbox

revision = "0001"
down_revision = None
SCHEMA = "ingest"


def upgrade() -> None:
    create_inbox_and_outbox(SCHEMA)
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.Uuid, primary_key=True),
        sa.Column("integration_id", sa.Text, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("delivery_key", sa.Text, nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("headers", JSONB, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("alert_count", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    # A provider's retry of the same delivery (same key) is acknowledged and not processed again.
    op.create_index("deliveries_dedup", "deliveries", ["integration_id", "delivery_key"], unique=True, schema=SCHEMA)
    op.create_index("deliveries_received", "deliveries", ["received_at"], schema=SCHEMA)
