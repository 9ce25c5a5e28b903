"""query: the read API of issue 11 — notes, rule and quick actions on groups, a group's first action by
a person (actionability), the change feed behind the SSE stream, webhooks rejected per integration and
status, the Slack token's last auth.test, and indexes for keyset pages"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_read_api"
down_revision = "0004_severity_bump"
SCHEMA = "query"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("groups", sa.Column("rule_id", sa.Text), schema=SCHEMA)
    op.add_column("groups", sa.Column("quick_actions", JSONB), schema=SCHEMA)
    # When a person first acted (ack, snooze, manual resolve): the actionability score counts it.
    op.add_column("groups", sa.Column("person_acted_at", TS), schema=SCHEMA)
    op.create_table(
        "notes", sa.Column("note_id", sa.Uuid, primary_key=True), sa.Column("group_id", sa.Uuid, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False), sa.Column("text", sa.Text, nullable=False),
        sa.Column("by", sa.Text, nullable=False), sa.Column("at", TS, nullable=False), schema=SCHEMA)
    op.create_index("notes_group", "notes", ["group_id", "at"], schema=SCHEMA)
    # Every group change, numbered: the SSE stream's ids, so a resumed stream misses and repeats nothing.
    op.create_table(
        "group_changes", sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True), sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("group_id", sa.Uuid, nullable=False), sa.Column("type", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False), sa.Column("data", JSONB, nullable=False), schema=SCHEMA)
    op.create_index("group_changes_ws_seq", "group_changes", ["workspace_id", "seq"], schema=SCHEMA)
    op.create_table(
        "integration_rejections", sa.Column("integration_id", sa.Text, primary_key=True),
        sa.Column("status", sa.Integer, primary_key=True), sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False), sa.Column("last_at", TS, nullable=False), schema=SCHEMA)
    op.add_column("slack_connections", sa.Column("token_status", sa.Text), schema=SCHEMA)
    op.add_column("slack_connections", sa.Column("token_checked_at", TS), schema=SCHEMA)
    # Keyset pages: (received_at, event_id) and (last_seen_at, group_id) are total orders.
    op.create_index("alerts_ws_received_id", "alerts", ["workspace_id", "received_at", "event_id"], schema=SCHEMA)
    op.create_index("groups_ws_last_seen_id", "groups", ["workspace_id", "last_seen_at", "group_id"], schema=SCHEMA)
    op.create_index("groups_ws_key_first_seen", "groups", ["workspace_id", "group_key", "first_seen_at"], schema=SCHEMA)


def downgrade() -> None:
    for index, table in (("groups_ws_key_first_seen", "groups"), ("groups_ws_last_seen_id", "groups"),
                         ("alerts_ws_received_id", "alerts")):
        op.drop_index(index, table, schema=SCHEMA)
    op.drop_column("slack_connections", "token_checked_at", schema=SCHEMA)
    op.drop_column("slack_connections", "token_status", schema=SCHEMA)
    for table in ("integration_rejections", "group_changes", "notes"):
        op.drop_table(table, schema=SCHEMA)
    for column in ("person_acted_at", "quick_actions", "rule_id"):
        op.drop_column("groups", column, schema=SCHEMA)
