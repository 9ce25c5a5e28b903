"""query: read models for the UI, and the configuration this service owns"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from signalcraft_runtime.migration_ops import create_inbox_and_outbox

revision = "0001"
down_revision = None
SCHEMA = "query"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_inbox_and_outbox(SCHEMA)
    # --- read models (rebuilt from topics) ---
    op.create_table(
        "alerts",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("integration_id", sa.Text, nullable=False),
        sa.Column("delivery_id", sa.Text, nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_event_id", sa.Text, nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("link", sa.Text),
        sa.Column("tags", JSONB, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("alerts_ws_received", "alerts", ["workspace_id", "received_at"], schema=SCHEMA)
    op.create_index("alerts_group", "alerts", ["workspace_id", "group_key", "received_at"], schema=SCHEMA)
    op.create_table(
        "groups",
        sa.Column("group_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("link", sa.Text),
        sa.Column("tags", JSONB, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("runbook_url", sa.Text),
        sa.Column("notified_at", TS),
        sa.Column("acknowledged_at", TS),
        sa.Column("resolved_at", TS),
        schema=SCHEMA,
    )
    op.create_index("groups_ws_last_seen", "groups", ["workspace_id", "last_seen_at"], schema=SCHEMA)
    op.create_table(
        "timeline",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("group_id", sa.Uuid, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("detail", JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("timeline_group", "timeline", ["group_id", "at"], schema=SCHEMA)
    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.Uuid, primary_key=True),  # the request event id (or the failure's)
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("group_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("status", sa.Text, nullable=False),  # requested | delivered | failed
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Float),
        sa.Column("requested_at", TS),
        sa.Column("finished_at", TS),
        schema=SCHEMA,
    )
    op.create_index("notifications_ws_finished", "notifications", ["workspace_id", "finished_at"], schema=SCHEMA)
    op.create_table(
        "integration_activity",
        sa.Column("integration_id", sa.Text, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("last_webhook_at", TS, nullable=False),
        sa.Column("alerts_total", sa.BigInteger, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "deadletters",
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("original_type", sa.Text),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
        schema=SCHEMA,
    )
    # --- configuration (source of truth; published to the compacted `config` topic) ---
    op.create_table(
        "workspaces",
        sa.Column("workspace_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("dedup_window_minutes", sa.Integer, nullable=False),
        sa.Column("auto_close_minutes", sa.Integer, nullable=False),
        sa.Column("default_channel", sa.Text),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_table(
        "integrations",
        sa.Column("integration_id", sa.Text, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("secret_encrypted", sa.Text, nullable=False),
        sa.Column("options", JSONB, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_table(
        "slack_connections",
        sa.Column("workspace_id", sa.Text, primary_key=True),
        sa.Column("bot_token_encrypted", sa.Text, nullable=False),
        sa.Column("signing_secret_encrypted", sa.Text, nullable=False),
        sa.Column("team_id", sa.Text),
        sa.Column("connected_at", TS, nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_table(
        "routing_rules",
        sa.Column("rule_id", sa.Text, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("definition", JSONB, nullable=False),  # the RoutingRuleSaved data
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
