"""notifier: leases on `sending` deliveries, the rewrite lane's queue, each message's last rewrite

A `sending` delivery gets an owner (a replica) and a lease, so that no second replica takes it over
while the lease lives. Rewrites of a group's message wait in `rewrites` (one row per group, the
latest state), paced per message by `group_messages.last_rewrite_at`.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0002"
down_revision = "0001"
SCHEMA = "notifier"


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("owner", sa.Text), schema=SCHEMA)
    op.add_column("deliveries", sa.Column("lease_until", sa.DateTime(timezone=True)), schema=SCHEMA)
    # The rewrite lane finds a group's new-group delivery (is its message being posted right now?).
    op.create_index("deliveries_group", "deliveries", ["group_id"], schema=SCHEMA)
    op.add_column("group_messages", sa.Column("last_rewrite_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.create_table(
        "rewrites",
        sa.Column("group_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("request", sa.LargeBinary, nullable=False),
        sa.Column("request_ids", ARRAY(sa.Uuid), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.Text),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("rewrites_due", "rewrites", ["due_at"], schema=SCHEMA)
