"""The dashboard's rollups (migration 0008_group_rollup): writers append changes, one fold sums them.

Alerts: the projection appends, with every batch of alert rows, the alerts it inserted per hour,
source and project, and retention appends what it deleted; a trigger on alert_keys appends a group
key's move to the hour of its last alert. Groups and notifications: triggers append a row's old
contribution negated and its new one whenever a column the dashboard reads changes. Appends never
conflict, so projection batches never wait on each other or deadlock over a shared hour; the fold is
the one writer of the sums. Each family's changes are summed three ways: per hour (the edges of a
window), per UTC day (its whole days) and per hour without the breakdown (its series), so a 7-day
window reads a few thousand rows, not one per hour × source × project. Reads add the changes not yet
folded, so the dashboard is exact whether or not the fold has run."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

GROUP_COUNTERS = ("groups", "acknowledged", "ack_seconds", "resolved", "resolved_timed", "resolve_seconds",
                  "acked_slack", "acked_api", "acked_provider", "acted", "self_resolved", "untouched")
FOLD_LOCK = 0x5C_F01D  # pg_advisory_xact_lock key: one fold at a time
DAY = "date_trunc('day', hour, 'UTC')"


@dataclass(frozen=True)
class Sums:
    """A table the changes are summed into: its key columns (name, expression over the changes), the
    counters summed, which changes count (a condition), and its unique constraint `<table>_key`."""

    table: str
    key: tuple[tuple[str, str], ...]
    counters: tuple[str, ...]
    where: str = "true"


@dataclass(frozen=True)
class Rollup:
    changes: str  # the table writers append to
    sums: tuple[Sums, ...]

    def fold_statement(self) -> str:
        """Up to :limit changes moved into every sums table (added per key, keys locked in order);
        returns how many moved and, per sums table, the rows that came back to nothing."""
        parts = [f"moved AS (DELETE FROM query.{self.changes} "
                 f"WHERE ctid IN (SELECT ctid FROM query.{self.changes} LIMIT :limit) RETURNING *)"]
        emptied = []
        for i, target in enumerate(self.sums):
            names = ", ".join(name for name, _ in target.key)
            exprs = ", ".join(expr for _, expr in target.key)
            positions = ", ".join(str(n + 1) for n in range(len(target.key)))
            added = ", ".join(f"{c} = {target.table}.{c} + excluded.{c}" for c in target.counters)
            parts.append(
                f"t{i} AS (INSERT INTO query.{target.table} ({names}, {', '.join(target.counters)}) "
                f"SELECT {exprs}, {', '.join(f'sum({c})' for c in target.counters)} FROM moved WHERE {target.where} "
                f"GROUP BY {positions} ORDER BY {positions} "
                f"ON CONFLICT ON CONSTRAINT {target.table}_key DO UPDATE SET {added} "
                f"RETURNING {target.table}.ctid, {', '.join(target.counters)})")
            nothing = " AND ".join(f"{c} = 0" for c in target.counters)
            emptied.append(f"ARRAY(SELECT ctid::text FROM t{i} WHERE {nothing})")
        return f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM moved), {', '.join(emptied)}"


WORKSPACE = ("workspace_id", "workspace_id")
ALERT_DIMS = (("source", "source"), ("project", "project"), ("is_test", "is_test"))
GROUP_DIMS = (("source", "source"), ("rule_id", "rule_id"))
ROLLUPS = (
    Rollup("alert_hour_changes", (
        Sums("alert_hours", (WORKSPACE, ("hour", "hour"), *ALERT_DIMS), ("alerts", "keys")),
        Sums("alert_days", (WORKSPACE, ("day", DAY), *ALERT_DIMS), ("alerts", "keys")),
        Sums("alert_series", (WORKSPACE, ("hour", "hour")), ("alerts",), where="NOT is_test"),
    )),
    Rollup("group_hour_changes", (
        Sums("group_hours", (WORKSPACE, ("hour", "hour"), *GROUP_DIMS), GROUP_COUNTERS),
        Sums("group_days", (WORKSPACE, ("day", DAY), *GROUP_DIMS), GROUP_COUNTERS),
        Sums("group_series", (WORKSPACE, ("hour", "hour")), ("groups",)),
    )),
    Rollup("notification_hour_changes", (
        Sums("notification_hours", (WORKSPACE, ("hour", "hour")), ("delivered", "failed")),
    )),
)
FOLDS = [(rollup, rollup.fold_statement()) for rollup in ROLLUPS]


# --- reading a window: [since, now) -----------------------------------------------------------------
# Parameters: :w the workspace, :since, :hour the first whole hour from it, :day the first UTC midnight
# from :hour. The window's rows: the part of an hour before :hour from the projected rows themselves
# (an index range of under an hour, through the same contribution as the triggers'), the hours from
# :hour to :day, the days from :day on (the current one included: nothing is received after now), and
# every change not folded yet from :hour on; the series per hour likewise, from the series sums. One
# statement per family, so a fold committing meanwhile is seen whole or not at all.

_GROUP_COLUMNS = ", ".join(GROUP_COUNTERS)
_GROUP_SUMS = ", ".join(f"sum({c})::{'numeric' if c.endswith('_seconds') else 'bigint'} AS {c}"
                        for c in GROUP_COUNTERS)
_GROUP_ZEROS = ", ".join(f"0::{'numeric' if c.endswith('_seconds') else 'bigint'}" for c in GROUP_COUNTERS[1:])
GROUP_WINDOW = f"""
WITH partial AS (
  SELECT c.* FROM query.groups AS g CROSS JOIN LATERAL query.group_contribution(g, 1) AS c
  WHERE g.workspace_id = :w AND g.first_seen_at >= :since AND g.first_seen_at < :hour),
unfolded AS (SELECT * FROM query.group_hour_changes WHERE workspace_id = :w AND hour >= :hour),
breakdown AS (
  SELECT source, rule_id, {_GROUP_COLUMNS} FROM query.group_hours WHERE workspace_id = :w AND hour >= :hour AND hour < :day
  UNION ALL SELECT source, rule_id, {_GROUP_COLUMNS} FROM query.group_days WHERE workspace_id = :w AND day >= :day
  UNION ALL SELECT source, rule_id, {_GROUP_COLUMNS} FROM unfolded
  UNION ALL SELECT source, rule_id, {_GROUP_COLUMNS} FROM partial),
series AS (
  SELECT hour, groups FROM query.group_series WHERE workspace_id = :w AND hour >= :hour
  UNION ALL SELECT hour, groups FROM unfolded
  UNION ALL SELECT hour, groups FROM partial)
SELECT false AS per_hour, grouping(source) = 1 AS no_source, grouping(rule_id) = 1 AS no_rule,
       NULL::timestamptz AS hour, source, rule_id, {_GROUP_SUMS}
FROM breakdown GROUP BY GROUPING SETS ((), (source), (rule_id))
UNION ALL
SELECT true, true, true, hour, NULL, NULL, sum(groups)::bigint, {_GROUP_ZEROS} FROM series GROUP BY hour"""

ALERT_WINDOW = """
WITH partial AS (
  SELECT date_trunc('hour', received_at, 'UTC') AS hour, source, project, count(*) AS alerts FROM query.alerts
  WHERE workspace_id = :w AND received_at >= :since AND received_at < :hour AND is_test IS NOT TRUE
  GROUP BY 1, 2, 3),
unfolded AS (
  SELECT hour, source, project, alerts, keys FROM query.alert_hour_changes
  WHERE workspace_id = :w AND hour >= :hour AND NOT is_test),
breakdown AS (
  SELECT source, project, alerts, keys FROM query.alert_hours
  WHERE workspace_id = :w AND hour >= :hour AND hour < :day AND NOT is_test
  UNION ALL SELECT source, project, alerts, keys FROM query.alert_days WHERE workspace_id = :w AND day >= :day AND NOT is_test
  UNION ALL SELECT source, project, alerts, keys FROM unfolded
  UNION ALL SELECT source, project, alerts, 0 FROM partial
  UNION ALL SELECT source, project, 0, count(*) FROM query.alert_keys
  WHERE workspace_id = :w AND last_received_at >= :since AND last_received_at < :hour AND NOT is_test GROUP BY 1, 2),
series AS (
  SELECT hour, alerts FROM query.alert_series WHERE workspace_id = :w AND hour >= :hour
  UNION ALL SELECT hour, alerts FROM unfolded
  UNION ALL SELECT hour, alerts FROM partial)
SELECT false AS per_hour, NULL::timestamptz AS hour, source, project, sum(alerts)::bigint AS alerts,
       sum(keys)::bigint AS keys
FROM breakdown GROUP BY source, project
UNION ALL
SELECT true, hour, NULL, NULL, sum(alerts)::bigint, 0 FROM series GROUP BY hour"""

# Deliveries per hour are few (no breakdown): hours only. A result finishes after its request: the
# finish-time range starts an hour early only for clocks of different hosts disagreeing, and the
# index's newest delivery is nearly always the window's.
DELIVERY_WINDOW = """
WITH window_rows AS (
  SELECT delivered, failed FROM query.notification_hours WHERE workspace_id = :w AND hour >= :hour
  UNION ALL
  SELECT delivered, failed FROM query.notification_hour_changes WHERE workspace_id = :w AND hour >= :hour
  UNION ALL
  SELECT c.delivered, c.failed
  FROM query.notifications AS n CROSS JOIN LATERAL query.notification_contribution(n, 1) AS c
  WHERE n.workspace_id = :w AND n.requested_at >= :since AND n.requested_at < :hour)
SELECT coalesce(sum(delivered), 0)::bigint AS delivered, coalesce(sum(failed), 0)::bigint AS failed,
       (SELECT finished_at FROM query.notifications
        WHERE workspace_id = :w AND status = 'delivered' AND finished_at >= CAST(:since AS timestamptz) - interval '1 hour'
          AND requested_at >= :since AND kind NOT IN ('updated', 'state_changed')
        ORDER BY finished_at DESC LIMIT 1) AS last_delivered_at
FROM window_rows"""


async def fold_rollup_changes(conn: AsyncConnection, limit: int = 20_000) -> int:
    """One fold of up to `limit` changes of each rollup; how many moved (0: nothing waiting, or another
    fold holds the lock)."""
    if not (await conn.execute(select(func.pg_try_advisory_xact_lock(FOLD_LOCK)))).scalar_one():
        return 0
    moved = 0
    for rollup, statement in FOLDS:
        count, *emptied = (await conn.execute(text(statement), {"limit": limit})).one()
        for target, gone in zip(rollup.sums, emptied, strict=True):
            if gone:
                await conn.execute(text(f"DELETE FROM query.{target.table} WHERE ctid = ANY(CAST(:gone AS tid[]))"),
                                   {"gone": list(gone)})
        moved += count
    return moved
