"""query: the group lifecycle (issue 9): who acknowledged, snoozes, reopens, flapping, test alerts,
command outcomes (what the API waits for), and seconds-resolution workspace settings"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
SCHEMA = "query"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    for column in (
        sa.Column("acknowledged_by", sa.Text), sa.Column("snoozed_until", TS), sa.Column("resolved_by", sa.Text),
        sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("flapping", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("is_test", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("assignee", sa.Text),
    ):
        op.add_column("groups", column, schema=SCHEMA)
    op.add_column("alerts", sa.Column("is_test", sa.Boolean, nullable=False, server_default=sa.false()), schema=SCHEMA)
    for column in (
        sa.Column("dedup_window_seconds", sa.Integer), sa.Column("auto_close_seconds", sa.Integer),
        sa.Column("flap_threshold", sa.Integer), sa.Column("flap_window_seconds", sa.Integer),
        sa.Column("flap_quiet_seconds", sa.Integer),
    ):
        op.add_column("workspaces", column, schema=SCHEMA)
    # The outcome of each group command, keyed by its id: `?wait=true` answers from here.
    op.create_table(
        "command_outcomes",
        sa.Column("command_id", sa.Uuid, primary_key=True),
        sa.Column("group_id", sa.Uuid, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),  # applied | rejected
        sa.Column("event", sa.Text, nullable=False),  # the event type that answered
        sa.Column("reason", sa.Text),
        sa.Column("by", sa.Text),
        sa.Column("at", TS, nullable=False),
        schema=SCHEMA,
    )
