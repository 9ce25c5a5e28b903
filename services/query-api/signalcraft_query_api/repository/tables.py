"""The query schema: read models (projections of topics) and configuration (owned here)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Float, Identity, Integer, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB

from signalcraft_runtime.database import ServiceTables

SCHEMA = "query"
TS = DateTime(timezone=True)
tables = ServiceTables(SCHEMA)
md = tables.metadata

alerts = Table(
    "alerts", md, Column("event_id", Uuid, primary_key=True), Column("workspace_id", Text), Column("integration_id", Text),
    Column("delivery_id", Text), Column("group_key", Text), Column("source", Text), Column("source_event_id", Text),
    Column("project", Text), Column("environment", Text), Column("severity", Text), Column("status", Text),
    Column("fingerprint", Text), Column("title", Text), Column("link", Text), Column("tags", JSONB),
    Column("occurred_at", TS), Column("received_at", TS), Column("is_test", Boolean),
)
groups = Table(
    "groups", md, Column("group_id", Uuid, primary_key=True), Column("workspace_id", Text), Column("group_key", Text),
    Column("source", Text), Column("project", Text), Column("environment", Text), Column("severity", Text),
    Column("status", Text), Column("title", Text), Column("description", Text), Column("count", Integer),
    Column("first_seen_at", TS), Column("last_seen_at", TS), Column("link", Text), Column("tags", JSONB),
    Column("channel", Text), Column("runbook_url", Text), Column("notified_at", TS), Column("acknowledged_at", TS),
    Column("resolved_at", TS), Column("acknowledged_by", Text), Column("snoozed_until", TS), Column("resolved_by", Text),
    Column("reopen_count", Integer), Column("flapping", Boolean), Column("is_test", Boolean), Column("assignee", Text),
    Column("rule_id", Text), Column("quick_actions", JSONB), Column("person_acted_at", TS),
)
command_outcomes = Table(
    "command_outcomes", md, Column("command_id", Uuid, primary_key=True), Column("group_id", Uuid),
    Column("workspace_id", Text), Column("action", Text), Column("outcome", Text), Column("event", Text),
    Column("reason", Text), Column("by", Text), Column("at", TS),
)
timeline = Table(
    "timeline", md, Column("event_id", Uuid, primary_key=True), Column("group_id", Uuid), Column("at", TS),
    Column("kind", Text), Column("detail", JSONB),
)
notifications = Table(
    "notifications", md, Column("notification_id", Uuid, primary_key=True), Column("workspace_id", Text),
    Column("group_id", Uuid), Column("kind", Text), Column("channel", Text), Column("status", Text),
    Column("error", Text), Column("attempts", Integer), Column("latency_ms", Float), Column("requested_at", TS),
    Column("finished_at", TS),
)
integration_activity = Table(
    "integration_activity", md, Column("integration_id", Text, primary_key=True), Column("workspace_id", Text),
    Column("last_webhook_at", TS), Column("alerts_total", BigInteger),
    Column("throttled_total", BigInteger), Column("last_throttled_at", TS),
)
deadletters = Table(
    "deadletters", md, Column("event_id", Uuid, primary_key=True), Column("workspace_id", Text),
    Column("consumer", Text), Column("topic", Text), Column("partition", Integer), Column("offset", BigInteger),
    Column("original_type", Text), Column("error", Text), Column("at", TS),
)
workspaces = Table(
    "workspaces", md, Column("workspace_id", Text, primary_key=True), Column("name", Text),
    Column("dedup_window_minutes", Integer), Column("auto_close_minutes", Integer), Column("default_channel", Text),
    Column("created_at", TS), Column("dedup_window_seconds", Integer), Column("auto_close_seconds", Integer),
    Column("flap_threshold", Integer), Column("flap_window_seconds", Integer), Column("flap_quiet_seconds", Integer),
    Column("severity_bump", JSONB), Column("escalation_policy_id", Text),
)
integrations = Table(
    "integrations", md, Column("integration_id", Text, primary_key=True), Column("workspace_id", Text),
    Column("provider", Text), Column("name", Text), Column("secret_encrypted", Text), Column("options", JSONB),
    Column("enabled", Boolean), Column("created_at", TS), Column("secret_fingerprint", Text),
)
slack_connections = Table(
    "slack_connections", md, Column("workspace_id", Text, primary_key=True), Column("bot_token_encrypted", Text),
    Column("signing_secret_encrypted", Text), Column("team_id", Text), Column("connected_at", TS),
    Column("token_status", Text), Column("token_checked_at", TS),
)
routing_rules = Table(
    "routing_rules", md, Column("rule_id", Text, primary_key=True), Column("workspace_id", Text),
    Column("definition", JSONB), Column("updated_at", TS),
)

# --- the read API of issue 11 (migration 0005_read_api) ---
notes = Table(
    "notes", md, Column("note_id", Uuid, primary_key=True), Column("group_id", Uuid), Column("workspace_id", Text),
    Column("text", Text), Column("by", Text), Column("at", TS),
)
group_changes = Table(
    "group_changes", md, Column("seq", BigInteger, Identity(), primary_key=True), Column("event_id", Uuid, unique=True),
    Column("workspace_id", Text), Column("group_id", Uuid), Column("type", Text), Column("at", TS),
    Column("data", JSONB),
)
integration_rejections = Table(
    "integration_rejections", md, Column("integration_id", Text, primary_key=True),
    Column("status", Integer, primary_key=True), Column("workspace_id", Text), Column("count", BigInteger),
    Column("last_at", TS),
)

# --- sources gone silent raise an alert of their own (issue 11.2, migration silence_0001) ---
silence_alerts = Table(
    "silence_alerts", md, Column("integration_id", Text, primary_key=True), Column("workspace_id", Text),
    Column("quiet_since", TS), Column("alert", JSONB), Column("raised_at", TS), Column("resolved_at", TS),
    Column("resolved_reason", Text),
)

# The dashboard's rollups (alert_hours, alert_keys, group_hours, ... migrations 0007 and 0008) are read
# and written only by the SQL in repository/rollup.py and repository/projection.py: no tables here.
