"""query: escalation policies and on-call schedules (issue 10.1, 10.2), and the workspace default
route's policy. A branch of its own after 0004: other work of the same time adds revisions after 0004
too, and services upgrade to every head."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "escalation_0001"
down_revision = "0004_severity_bump"
branch_labels = ("escalation",)
SCHEMA = "query"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("escalation_policy_id", sa.Text), schema=SCHEMA)
    for table, key in (("escalation_policies", "policy_id"), ("schedules", "schedule_id")):
        op.create_table(
            table, sa.Column(key, sa.Text, primary_key=True), sa.Column("workspace_id", sa.Text, nullable=False),
            sa.Column("definition", JSONB, nullable=False), sa.Column("updated_at", TS, nullable=False),
            schema=SCHEMA)
        op.create_index(f"{table}_workspace", table, ["workspace_id"], schema=SCHEMA)
