"""query: the dashboard's rollups of alerts, groups and deliveries, by hour and by day (issue 11.8).

Writers append changes; one fold (repository/rollup.py) sums them per hour, per UTC day and per hour
without breakdown (the series):
- alerts: the projection appends the alerts it inserted per hour, source, project and is_test (into
  `alert_hour_changes`, no longer upserting `alert_hours` itself), retention appends what it deleted,
  and a trigger on `alert_keys` appends a group key's move to the hour of its last alert (`keys`:
  a window's groups per source and project are summed, not counted from its keys);
- groups: what a group counts for (opened, acknowledged and how fast, resolved and how fast, who
  acknowledged it, whether a person acted) is one row of `query.group_contribution(group, sign)`, by the
  UTC hour it opened, its source and its rule. A trigger on `query.groups` appends its old row's
  contribution negated and its new row's whenever a column it reads changes, so every write path (the
  projection's upsert, a route arriving, a delete) keeps the rollup in step without each remembering
  to. Updates that change none of those columns (a group's count and last-seen time, the common case)
  do not fire it. Test notifications contribute nothing;
- notifications: likewise, delivered and failed first messages per UTC hour of their request (rewrites
  of a message are not new messages).
Backfilled from the rows already projected."""

from alembic import op

revision = "0008_group_rollup"
down_revision = "0007_alert_rollup"
SCHEMA = "query"

GROUP_COUNTERS = ("groups", "acknowledged", "ack_seconds", "resolved", "resolved_timed", "resolve_seconds",
                  "acked_slack", "acked_api", "acked_provider", "acted", "self_resolved", "untouched")
# The columns of query.groups a contribution reads: an update that changes none of them changes nothing.
GROUP_INPUTS = ("workspace_id", "first_seen_at", "source", "rule_id", "is_test", "status", "acknowledged_at",
                "acknowledged_by", "resolved_at", "person_acted_at")
NOTIFICATION_INPUTS = ("workspace_id", "requested_at", "kind", "status")
GROUP_TABLES = ("group_hours", "group_days", "group_series", "group_hour_changes")
ALERT_TABLES = ("alert_days", "alert_series", "alert_hour_changes")
NOTIFICATION_TABLES = ("notification_hours", "notification_hour_changes")


def _counters(names: tuple[str, ...]) -> str:
    return ", ".join(f"{n} {'numeric' if n.endswith('_seconds') else 'bigint'} NOT NULL" for n in names)


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)


def _appending_triggers(table: str, kind: str, update_when: str) -> None:
    """Triggers on `table` running query.<kind>_rollup_change() after each insert, delete and update
    (the update only when `update_when`)."""
    op.execute(f"CREATE TRIGGER {kind}_rollup_insert AFTER INSERT ON query.{table} "
               f"FOR EACH ROW EXECUTE FUNCTION query.{kind}_rollup_change()")
    op.execute(f"CREATE TRIGGER {kind}_rollup_update AFTER UPDATE ON query.{table} FOR EACH ROW "
               f"WHEN ({update_when}) EXECUTE FUNCTION query.{kind}_rollup_change()")
    op.execute(f"CREATE TRIGGER {kind}_rollup_delete AFTER DELETE ON query.{table} "
               f"FOR EACH ROW EXECUTE FUNCTION query.{kind}_rollup_change()")


def _appending_function(kind: str, old: str, new: str) -> None:
    op.execute(f"""
CREATE FUNCTION query.{kind}_rollup_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN {old}; END IF;
  IF TG_OP <> 'DELETE' THEN {new}; END IF;
  RETURN NULL;
END $$""")


def upgrade() -> None:
    alerts = _counters(("alerts", "keys"))
    groups = _counters(GROUP_COUNTERS)

    # --- alerts ---
    op.execute("ALTER TABLE query.alert_hours ADD COLUMN keys bigint NOT NULL DEFAULT 0")
    op.execute("CREATE TABLE query.alert_hour_changes (workspace_id text, hour timestamptz, source text, "
               f"project text, is_test boolean NOT NULL, {alerts})")
    op.execute(f"""
CREATE TABLE query.alert_days (workspace_id text, day timestamptz, source text, project text, is_test boolean NOT NULL,
  {alerts}, CONSTRAINT alert_days_key UNIQUE NULLS NOT DISTINCT (workspace_id, day, source, project, is_test))""")
    op.execute("""
CREATE TABLE query.alert_series (workspace_id text, hour timestamptz, alerts bigint NOT NULL,
  CONSTRAINT alert_series_key UNIQUE NULLS NOT DISTINCT (workspace_id, hour))""")
    key_change = ("INSERT INTO query.alert_hour_changes VALUES ({r}.workspace_id, "
                  "date_trunc('hour', {r}.last_received_at, 'UTC'), {r}.source, {r}.project, {r}.is_test, 0, {sign})")
    _appending_function("alert_key", key_change.format(r="OLD", sign=-1), key_change.format(r="NEW", sign=1))
    # A key's later alerts in the hour of its last one change nothing here: most updates.
    _appending_triggers("alert_keys", "alert_key",
                        "date_trunc('hour', OLD.last_received_at, 'UTC') IS DISTINCT FROM "
                        "date_trunc('hour', NEW.last_received_at, 'UTC') OR OLD.is_test IS DISTINCT FROM NEW.is_test")
    op.execute("""
INSERT INTO query.alert_hours (workspace_id, hour, source, project, is_test, alerts, keys)
SELECT workspace_id, date_trunc('hour', last_received_at, 'UTC'), source, project, is_test, 0, count(*)
FROM query.alert_keys GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ON CONSTRAINT alert_hours_key DO UPDATE SET keys = excluded.keys""")
    op.execute("""
INSERT INTO query.alert_days
SELECT workspace_id, date_trunc('day', hour, 'UTC'), source, project, is_test, sum(alerts), sum(keys)
FROM query.alert_hours GROUP BY 1, 2, 3, 4, 5""")
    op.execute("""
INSERT INTO query.alert_series
SELECT workspace_id, hour, sum(alerts) FROM query.alert_hours WHERE NOT is_test GROUP BY 1, 2 HAVING sum(alerts) <> 0""")

    # --- groups ---
    op.execute(f"CREATE TABLE query.group_hour_changes (workspace_id text, hour timestamptz, source text, "
               f"rule_id text, {groups})")
    op.execute(f"""
CREATE TABLE query.group_hours (workspace_id text, hour timestamptz, source text, rule_id text, {groups},
  CONSTRAINT group_hours_key UNIQUE NULLS NOT DISTINCT (workspace_id, hour, source, rule_id))""")
    op.execute(f"""
CREATE TABLE query.group_days (workspace_id text, day timestamptz, source text, rule_id text, {groups},
  CONSTRAINT group_days_key UNIQUE NULLS NOT DISTINCT (workspace_id, day, source, rule_id))""")
    op.execute("""
CREATE TABLE query.group_series (workspace_id text, hour timestamptz, groups bigint NOT NULL,
  CONSTRAINT group_series_key UNIQUE NULLS NOT DISTINCT (workspace_id, hour))""")
    # Counted as the dashboard counted the window's group rows: a NULL status is neither resolved nor
    # untouched; a mean is over the rows whose interval is known.
    op.execute("""
CREATE FUNCTION query.group_contribution(g query.groups, sign integer) RETURNS SETOF query.group_hour_changes
LANGUAGE sql IMMUTABLE AS $$
SELECT g.workspace_id, date_trunc('hour', g.first_seen_at, 'UTC'), g.source, g.rule_id,
       sign::bigint,
       sign * (g.acknowledged_at IS NOT NULL)::int,
       sign * coalesce(extract(epoch FROM g.acknowledged_at - g.first_seen_at), 0),
       sign * coalesce(g.status = 'resolved', false)::int,
       sign * (coalesce(g.status = 'resolved', false) AND g.resolved_at IS NOT NULL)::int,
       sign * CASE WHEN g.status = 'resolved' THEN coalesce(extract(epoch FROM g.resolved_at - g.first_seen_at), 0)
                   ELSE 0 END,
       sign * coalesce(g.acknowledged_by LIKE 'slack:%', false)::int,
       sign * coalesce(g.acknowledged_by LIKE 'api:%', false)::int,
       sign * coalesce(g.acknowledged_by NOT LIKE 'slack:%' AND g.acknowledged_by NOT LIKE 'api:%', false)::int,
       sign * (g.person_acted_at IS NOT NULL)::int,
       sign * (g.person_acted_at IS NULL AND coalesce(g.status = 'resolved', false))::int,
       sign * (g.person_acted_at IS NULL AND coalesce(g.status <> 'resolved', false))::int
WHERE g.first_seen_at IS NOT NULL AND g.is_test IS NOT TRUE
$$""")
    _appending_function("group",
                        "INSERT INTO query.group_hour_changes SELECT * FROM query.group_contribution(OLD, -1)",
                        "INSERT INTO query.group_hour_changes SELECT * FROM query.group_contribution(NEW, 1)")
    _appending_triggers("groups", "group", _changed(GROUP_INPUTS))
    sums = ", ".join(f"sum({c})" for c in GROUP_COUNTERS)
    op.execute(f"""
INSERT INTO query.group_hours
SELECT c.workspace_id, c.hour, c.source, c.rule_id, {sums}
FROM query.groups AS g CROSS JOIN LATERAL query.group_contribution(g, 1) AS c GROUP BY 1, 2, 3, 4""")
    op.execute(f"""
INSERT INTO query.group_days
SELECT workspace_id, date_trunc('day', hour, 'UTC'), source, rule_id, {sums} FROM query.group_hours GROUP BY 1, 2, 3, 4""")
    op.execute("INSERT INTO query.group_series SELECT workspace_id, hour, sum(groups) FROM query.group_hours GROUP BY 1, 2")

    # --- notifications ---
    op.execute("CREATE TABLE query.notification_hour_changes (workspace_id text, hour timestamptz, "
               "delivered bigint NOT NULL, failed bigint NOT NULL)")
    op.execute("""
CREATE TABLE query.notification_hours (workspace_id text, hour timestamptz, delivered bigint NOT NULL,
  failed bigint NOT NULL, CONSTRAINT notification_hours_key UNIQUE NULLS NOT DISTINCT (workspace_id, hour))""")
    op.execute("""
CREATE FUNCTION query.notification_contribution(n query.notifications, sign integer)
RETURNS SETOF query.notification_hour_changes LANGUAGE sql IMMUTABLE AS $$
SELECT n.workspace_id, date_trunc('hour', n.requested_at, 'UTC'),
       sign * (n.status = 'delivered')::int, sign * (n.status = 'failed')::int
WHERE n.requested_at IS NOT NULL AND n.kind NOT IN ('updated', 'state_changed')
  AND n.status IN ('delivered', 'failed')
$$""")
    _appending_function(
        "notification",
        "INSERT INTO query.notification_hour_changes SELECT * FROM query.notification_contribution(OLD, -1)",
        "INSERT INTO query.notification_hour_changes SELECT * FROM query.notification_contribution(NEW, 1)")
    _appending_triggers("notifications", "notification", _changed(NOTIFICATION_INPUTS))
    op.execute("""
INSERT INTO query.notification_hours
SELECT c.workspace_id, c.hour, sum(c.delivered), sum(c.failed)
FROM query.notifications AS n CROSS JOIN LATERAL query.notification_contribution(n, 1) AS c GROUP BY 1, 2""")

    # A window's rows of one workspace, not every workspace's (the sums tables hold them all).
    op.execute("CREATE INDEX alert_hours_ws_hour ON query.alert_hours (workspace_id, hour) "
               "INCLUDE (source, project, is_test, alerts, keys)")
    op.execute("CREATE INDEX alert_days_ws_day ON query.alert_days (workspace_id, day) "
               "INCLUDE (source, project, is_test, alerts, keys)")
    op.execute("CREATE INDEX group_hours_ws_hour ON query.group_hours (workspace_id, hour)")
    op.execute("CREATE INDEX group_days_ws_day ON query.group_days (workspace_id, day)")
    # The window's last delivery: the newest delivered finish time, from the index's end.
    op.execute("CREATE INDEX notifications_ws_delivered_finished ON query.notifications (workspace_id, finished_at) "
               "WHERE status = 'delivered'")


def downgrade() -> None:
    op.drop_index("notifications_ws_delivered_finished", "notifications", schema=SCHEMA)
    op.drop_index("alert_hours_ws_hour", "alert_hours", schema=SCHEMA)
    for table, kind in (("groups", "group"), ("notifications", "notification"), ("alert_keys", "alert_key")):
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER {kind}_rollup_{event} ON query.{table}")
        op.execute(f"DROP FUNCTION query.{kind}_rollup_change()")
    op.execute("DROP FUNCTION query.group_contribution(query.groups, integer)")
    op.execute("DROP FUNCTION query.notification_contribution(query.notifications, integer)")
    # Changes not folded yet would be lost with their table: 0007's projection upserts alert_hours itself.
    op.execute("""
INSERT INTO query.alert_hours (workspace_id, hour, source, project, is_test, alerts)
SELECT workspace_id, hour, source, project, is_test, sum(alerts) FROM query.alert_hour_changes GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ON CONSTRAINT alert_hours_key DO UPDATE SET alerts = alert_hours.alerts + excluded.alerts""")
    for table in (*GROUP_TABLES, *ALERT_TABLES, *NOTIFICATION_TABLES):
        op.drop_table(table, schema=SCHEMA)
    op.execute("DELETE FROM query.alert_hours WHERE alerts <= 0")
    op.drop_column("alert_hours", "keys", schema=SCHEMA)
