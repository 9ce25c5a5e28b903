"""query: the secret a rotation replaced, accepted until its grace period ends (issue 11.3); which
generation of the projections is current (a rebuild starts a new one, in a new consumer group) and a
group's route projected before the group (a replay consumes topics side by side); indexes
for the test webhook's trace and for the retention cleanup (issue 11.6)"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "intops_0001"
down_revision = "0003_hardening"
SCHEMA = "query"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "integration_rotations",
        sa.Column("integration_id", sa.Text, primary_key=True),
        sa.Column("previous_secret_encrypted", sa.Text, nullable=False),
        sa.Column("previous_secret_valid_until", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "projection_generation",
        sa.Column("singleton", sa.Boolean, primary_key=True, server_default=sa.true()),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("rebuilt_at", TS, nullable=False),
        sa.CheckConstraint("singleton", name="projection_generation_one_row"),
        schema=SCHEMA,
    )
    op.create_table(
        "pending_group_routes",
        sa.Column("group_id", sa.Uuid, primary_key=True),
        sa.Column("route", JSONB),
        sa.Column("notified_at", TS),
        schema=SCHEMA,
    )
    op.create_index("alerts_delivery", "alerts", ["delivery_id"], schema=SCHEMA)
    op.create_index("alerts_received", "alerts", ["received_at"], schema=SCHEMA)
    op.create_index("timeline_at", "timeline", ["at"], schema=SCHEMA)
    op.create_index("notifications_requested", "notifications", ["requested_at"], schema=SCHEMA)
    op.create_index("deadletters_at", "deadletters", ["at"], schema=SCHEMA)
    op.create_index("groups_last_seen", "groups", ["last_seen_at"], schema=SCHEMA)
