"""grouping: remember what was last published per group, so count updates can be debounced"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
SCHEMA = "grouping"


def upgrade() -> None:
    op.add_column("group_heads", sa.Column("published_count", sa.Integer, nullable=False, server_default="0"), schema=SCHEMA)
    op.add_column("group_heads", sa.Column("published_severity", sa.Text, nullable=True), schema=SCHEMA)
    op.add_column("group_heads", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    # The incoming event behind the newest unpublished change: causation of the deferred update.
    op.add_column("group_heads", sa.Column("pending_cause", JSONB, nullable=True), schema=SCHEMA)
    op.create_index("group_heads_pending", "group_heads", ["published_at"], schema=SCHEMA,
                    postgresql_where=sa.text("pending_cause IS NOT NULL"))
