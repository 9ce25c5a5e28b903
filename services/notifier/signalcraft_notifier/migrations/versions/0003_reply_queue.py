"""notifier: the reply lane's queue

Thread replies that cannot go at once (their channel's pace, or an earlier reply of their group
waiting) wait here instead of holding up the consumer's batch: one row per reply (never coalesced),
sent in `seq` order per group, claimed under a lease.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
SCHEMA = "notifier"


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column("request_id", sa.Uuid, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("group_id", sa.Uuid, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("request", sa.LargeBinary, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("may_have_posted", sa.Boolean, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.Text),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("replies_group_seq", "replies", ["group_id", "seq"], schema=SCHEMA)
    op.create_index("replies_due", "replies", ["due_at"], schema=SCHEMA)
