"""query: the dashboard's alert rollup, maintained by the projection (issue 11.8).

alert_hours: alerts received per (workspace, UTC hour, source, project, is_test); alert_keys: per
(workspace, source, project, group key, is_test) the last alert's time, so the groups per source and
project of a window (group keys with an alert since its start) are counted without reading alerts.
Both backfilled from the alerts already projected. NULLS NOT DISTINCT: a NULL project (or source,
key) is one key, as GROUP BY counts it."""

from alembic import op

revision = "0007_alert_rollup"
down_revision = "0006_read_api_indexes"
SCHEMA = "query"


def upgrade() -> None:
    op.execute("""
CREATE TABLE query.alert_hours (
  workspace_id text, hour timestamptz, source text, project text, is_test boolean NOT NULL,
  alerts bigint NOT NULL,
  CONSTRAINT alert_hours_key UNIQUE NULLS NOT DISTINCT (workspace_id, hour, source, project, is_test))""")
    op.execute("""
CREATE TABLE query.alert_keys (
  workspace_id text, source text, project text, group_key text, is_test boolean NOT NULL,
  last_received_at timestamptz,
  CONSTRAINT alert_keys_key UNIQUE NULLS NOT DISTINCT (workspace_id, source, project, group_key, is_test))""")
    # The window's keys per source and project, from the index alone.
    op.execute("CREATE INDEX alert_keys_ws_last ON query.alert_keys (workspace_id, last_received_at) "
               "INCLUDE (source, project, is_test)")
    op.execute("""
INSERT INTO query.alert_hours (workspace_id, hour, source, project, is_test, alerts)
SELECT workspace_id, date_trunc('hour', received_at, 'UTC'), source, project, coalesce(is_test, false), count(*)
FROM query.alerts GROUP BY 1, 2, 3, 4, 5""")
    op.execute("""
INSERT INTO query.alert_keys (workspace_id, source, project, group_key, is_test, last_received_at)
SELECT workspace_id, source, project, group_key, coalesce(is_test, false), max(received_at)
FROM query.alerts GROUP BY 1, 2, 3, 4, 5""")


def downgrade() -> None:
    op.drop_table("alert_keys", schema=SCHEMA)
    op.drop_table("alert_hours", schema=SCHEMA)
