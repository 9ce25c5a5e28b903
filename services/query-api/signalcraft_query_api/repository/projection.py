"""Read-model writes: the rows `domain.projection` makes from events, into the query schema.

Every write is idempotent (an event replayed, or redelivered past the inbox, changes nothing).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from signalcraft_runtime.bulk import BulkRows, last_by
from signalcraft_runtime.unit_of_work import UnitOfWork

from ..domain.projection import FIRST_STAMPS, ProjectionBatch, merged_group_rows, webhook_activity
from .tables import deadletters, integration_activity, integration_rejections, notes

Row = dict[str, Any]

ALERT_ROWS = BulkRows.of(
    event_id="uuid", workspace_id="text", integration_id="text", delivery_id="text", group_key="text", source="text",
    source_event_id="text", project="text", environment="text", severity="text", status="text", fingerprint="text",
    title="text", link="text", tags="jsonb", occurred_at="timestamptz", received_at="timestamptz", is_test="bool")
# Every alert lands here: one constant statement per batch, binary parameters (as ingest does). The
# dashboard's rollup counts the rows this statement inserted, and only those: an alert already there
# (redelivered past the inbox, or twice in one batch) adds nothing. Its hours are appended as changes
# (repository/rollup.py folds them), never upserted, so concurrent batches do not wait on each other;
# alert_keys rows are locked in key order, so they cannot deadlock on them.
INSERT_ALERTS = (
    "WITH inserted AS ("
    f"INSERT INTO query.alerts ({ALERT_ROWS.names}) {ALERT_ROWS.select()} "
    "ON CONFLICT DO NOTHING "
    "RETURNING workspace_id, source, project, group_key, coalesce(is_test, false) AS is_test, received_at), "
    "hours AS (INSERT INTO query.alert_hour_changes (workspace_id, hour, source, project, is_test, alerts, keys) "
    "SELECT workspace_id, date_trunc('hour', received_at, 'UTC'), source, project, is_test, count(*), 0 FROM inserted "
    "GROUP BY 1, 2, 3, 4, 5) "
    "INSERT INTO query.alert_keys (workspace_id, source, project, group_key, is_test, last_received_at) "
    "SELECT workspace_id, source, project, group_key, is_test, max(received_at) FROM inserted "
    "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5 "
    "ON CONFLICT (workspace_id, source, project, group_key, is_test) DO UPDATE "
    "SET last_received_at = greatest(alert_keys.last_received_at, excluded.last_received_at)"
)

# The rest of a batch's rows: one statement per kind of row (`BulkRows`), whatever their number.
GROUP_ROWS = BulkRows.of(
    group_id="uuid", workspace_id="text", group_key="text", source="text", project="text", environment="text",
    severity="text", status="text", title="text", description="text", count="int4", first_seen_at="timestamptz",
    last_seen_at="timestamptz", link="text", tags="jsonb", acknowledged_by="text", snoozed_until="timestamptz",
    resolved_by="text", reopen_count="int4", flapping="bool", is_test="bool", assignee="text",
    acknowledged_at="timestamptz", resolved_at="timestamptz", person_acted_at="timestamptz")
_GROUP_UPDATES = {
    name: f'excluded."{name}"' for name, _ in GROUP_ROWS.columns if name != "group_id"} | {
    "count": 'greatest(groups."count", excluded."count")',  # a replay must not move a count backwards
    # resolved_at is when the group was resolved, while it is: a reopened group has none, an event
    # that leaves a group resolved (an update while resolved) keeps it.
    "resolved_at": "CASE WHEN excluded.status = 'resolved' THEN coalesce(excluded.resolved_at, groups.resolved_at) END",
} | {stamp: f"coalesce(groups.{stamp}, excluded.{stamp})" for stamp in FIRST_STAMPS}
UPSERT_GROUPS = (
    f"INSERT INTO query.groups ({GROUP_ROWS.names}) {GROUP_ROWS.select()} "
    "ON CONFLICT (group_id) DO UPDATE SET " + ", ".join(f'"{name}" = {value}' for name, value in _GROUP_UPDATES.items())
    + " RETURNING group_id, xmax = 0 AS inserted")
# Topics are consumed side by side: a replay from offset 0 (a rebuild) can project a group's first
# notification before the group itself. What would have updated the missing row waits in
# pending_group_routes until the group arrives, so the rebuilt row equals the live one.
_ROUTE_COLUMNS = ("channel", "runbook_url", "rule_id", "quick_actions")
APPLY_PENDING_ROUTES = (
    "WITH p AS (DELETE FROM query.pending_group_routes WHERE group_id = ANY(%b::uuid[]) "
    "RETURNING group_id, route, notified_at) "
    "UPDATE query.groups g SET " + ", ".join(
        f"{c} = CASE WHEN p.route ? '{c}' THEN p.route->{'' if c == 'quick_actions' else '>'}'{c}' ELSE g.{c} END"
        for c in _ROUTE_COLUMNS)
    + ", notified_at = coalesce(g.notified_at, p.notified_at) FROM p WHERE g.group_id = p.group_id")
ROUTE_ROWS = BulkRows.of(group_id="uuid", channel="text", runbook_url="text", rule_id="text", quick_actions="jsonb",
                         first_route="jsonb")
ROUTE_GROUPS = (
    f"WITH s AS ({ROUTE_ROWS.select()}), "
    "routed AS (UPDATE query.groups g SET " + ", ".join(f"{c} = s.{c}" for c in _ROUTE_COLUMNS)
    + " FROM s WHERE g.group_id = s.group_id) "
    "INSERT INTO query.pending_group_routes (group_id, route) SELECT group_id, first_route FROM s "
    "WHERE NOT EXISTS (SELECT FROM query.groups g WHERE g.group_id = s.group_id) "
    "ON CONFLICT (group_id) DO UPDATE SET route = coalesce(pending_group_routes.route, excluded.route)")
NOTIFIED_ROWS = BulkRows.of(group_id="uuid", first_at="timestamptz", earliest_at="timestamptz")
MARK_NOTIFIED = (  # a group already stamped is left alone (no new row version, no trigger)
    f"WITH s AS ({NOTIFIED_ROWS.select()}), "
    "stamped AS (UPDATE query.groups g SET notified_at = s.first_at FROM s "
    "WHERE g.group_id = s.group_id AND g.notified_at IS NULL) "
    "INSERT INTO query.pending_group_routes (group_id, notified_at) SELECT group_id, earliest_at FROM s "
    "WHERE NOT EXISTS (SELECT FROM query.groups g WHERE g.group_id = s.group_id) "
    "ON CONFLICT (group_id) DO UPDATE SET notified_at = least(pending_group_routes.notified_at, excluded.notified_at)")
REQUESTED_ROWS = BulkRows.of(notification_id="uuid", workspace_id="text", group_id="uuid", kind="text", channel="text",
                             status="text", attempts="int4", requested_at="timestamptz")
INSERT_NOTIFICATIONS = (
    f"INSERT INTO query.notifications ({REQUESTED_ROWS.names}) {REQUESTED_ROWS.select()} "
    "ON CONFLICT (notification_id) DO UPDATE "
    "SET requested_at = coalesce(notifications.requested_at, excluded.requested_at)")
RESULT_ROWS = BulkRows.of(notification_id="uuid", workspace_id="text", group_id="uuid", kind="text", channel="text",
                          status="text", error="text", attempts="int4", finished_at="timestamptz", latency_ms="float8")
# A result updates the row of the request it answers; who, what and where stay as requested.
RESULT_COLUMNS = ("status", "error", "attempts", "finished_at", "latency_ms")
UPSERT_RESULTS = (
    f"INSERT INTO query.notifications ({RESULT_ROWS.names}) {RESULT_ROWS.select()} "
    "ON CONFLICT (notification_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in RESULT_COLUMNS))
OUTCOME_ROWS = BulkRows.of(command_id="uuid", group_id="uuid", workspace_id="text", action="text", outcome="text",
                           event="text", reason="text", by="text", at="timestamptz")
INSERT_OUTCOMES = f"INSERT INTO query.command_outcomes ({OUTCOME_ROWS.names}) {OUTCOME_ROWS.select()} ON CONFLICT DO NOTHING"
TIMELINE_ROWS = BulkRows.of(event_id="uuid", group_id="uuid", at="timestamptz", kind="text", detail="jsonb")
INSERT_TIMELINE = f"INSERT INTO query.timeline ({TIMELINE_ROWS.names}) {TIMELINE_ROWS.select()} ON CONFLICT DO NOTHING"
CHANGE_ROWS = BulkRows.of(event_id="uuid", workspace_id="text", group_id="uuid", type="text", at="timestamptz",
                          data="jsonb")
INSERT_GROUP_CHANGES = (
    f"INSERT INTO query.group_changes ({CHANGE_ROWS.names}) SELECT {CHANGE_ROWS.names} "
    f"FROM {CHANGE_ROWS.source(ordinality=True)} ORDER BY n ON CONFLICT DO NOTHING")
CHANGE_FEED_LOCK = 0x5C_C4A1_6E  # pg_advisory_xact_lock key of the group change feed


class ReadModelWriter:
    """Writes inside the consumer's unit of work, so the rows commit with the batch's inbox entries."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._conn = uow.connection

    async def insert_alerts(self, rows: list[Row]) -> None:
        await ALERT_ROWS.execute(self._conn, INSERT_ALERTS, rows)

    async def add_webhook_activity(self, rows: list[Row]) -> None:
        for row in rows:
            stmt = insert(integration_activity).values(**row)
            await self._conn.execute(stmt.on_conflict_do_update(
                index_elements=[integration_activity.c.integration_id],
                set_={"last_webhook_at": func.greatest(integration_activity.c.last_webhook_at, stmt.excluded.last_webhook_at),
                      "alerts_total": integration_activity.c.alerts_total + stmt.excluded.alerts_total},
            ))

    async def add_throttled(self, row: Row) -> None:
        stmt = insert(integration_activity).values(**row)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[integration_activity.c.integration_id],
            set_={"last_throttled_at": func.greatest(integration_activity.c.last_throttled_at,
                                                     stmt.excluded.last_throttled_at),
                  "throttled_total": integration_activity.c.throttled_total + stmt.excluded.throttled_total},
        ))

    async def insert_timeline(self, rows: list[Row]) -> None:
        await TIMELINE_ROWS.execute(self._conn, INSERT_TIMELINE, rows)

    async def write(self, batch: ProjectionBatch) -> None:
        """A batch's rows, one statement per kind of row, in an order that leaves each row as the
        events one after another would (groups first: a route or delivery then finds its group)."""
        await self.insert_alerts(batch.alerts)
        await self.upsert_groups(merged_group_rows(batch.groups))
        await self.record_command_outcomes(batch.outcomes)
        await self.insert_notifications(batch.requested)
        await self.upsert_notification_results(batch.results)
        await self.route_groups(batch.routes)
        await self.mark_groups_notified(batch.notified)
        await self.insert_timeline(batch.timeline)
        await self.add_webhook_activity(webhook_activity(batch.alerts))
        await self.insert_group_changes(batch.changes)

    async def upsert_groups(self, rows: list[Row]) -> None:
        """`rows` one per group (merged_group_rows). A group row that is new may have had its route or
        delivery projected first (a replay): what waited in pending_group_routes is applied to it."""
        cursor = await GROUP_ROWS.execute(self._conn, UPSERT_GROUPS, rows)
        inserted = [group_id for group_id, new in await cursor.fetchall() if new] if cursor else []
        if inserted:
            driver = await self._uow.driver_connection()
            await driver.execute(APPLY_PENDING_ROUTES, [inserted], prepare=True)

    async def route_groups(self, rows: list[Row]) -> None:
        """The last route of the batch goes to its group's row; a group not projected yet keeps its
        first route waiting (pending_group_routes) until it arrives."""
        first: dict[Any, Row] = {}
        last: dict[Any, Row] = {}
        for row in rows:
            first.setdefault(row["group_id"], row)
            last[row["group_id"]] = row
        await ROUTE_ROWS.execute(self._conn, ROUTE_GROUPS, [{**row, "first_route": _route_of(first[group_id])}
                                                            for group_id, row in last.items()])

    async def mark_groups_notified(self, rows: list[Row]) -> None:
        """The first delivery about a group stamps it; later ones do not. A group not projected yet
        keeps the earliest waiting (pending_group_routes)."""
        if not rows:
            return
        stamps: dict[Any, Row] = {}
        for row in rows:
            seen = stamps.setdefault(row["group_id"], {"group_id": row["group_id"], "first_at": row["at"],
                                                       "earliest_at": row["at"]})
            seen["earliest_at"] = min(seen["earliest_at"], row["at"])
        await NOTIFIED_ROWS.execute(self._conn, MARK_NOTIFIED, list(stamps.values()))

    async def insert_notifications(self, rows: list[Row]) -> None:
        """A result projected before its request (a replay) keeps its outcome and gains the request's time."""
        await REQUESTED_ROWS.execute(self._conn, INSERT_NOTIFICATIONS, last_by(rows, "notification_id"))

    async def upsert_notification_results(self, rows: list[Row]) -> None:
        """A result updates the row of the request it answers; who, what and where stay as requested."""
        await RESULT_ROWS.execute(self._conn, UPSERT_RESULTS, last_by(rows, "notification_id"))

    async def record_command_outcomes(self, rows: list[Row]) -> None:
        """The first answer to a command is its outcome (a redelivered event changes nothing)."""
        await OUTCOME_ROWS.execute(self._conn, INSERT_OUTCOMES, rows)

    async def insert_dead_letter(self, row: Row) -> None:
        await self._conn.execute(insert(deadletters).values(**row).on_conflict_do_nothing())

    async def insert_note(self, row: Row) -> None:
        await self._conn.execute(insert(notes).values(**row).on_conflict_do_nothing())

    async def insert_group_changes(self, rows: list[Row]) -> None:
        """Numbered in the order of the batch (identity values follow the ORDER BY); a replayed event
        keeps its first number. The lock makes numbers commit in order across replicas: a stream
        resumed after number n misses nothing."""
        if rows:
            await self._conn.execute(select(func.pg_advisory_xact_lock(CHANGE_FEED_LOCK)))
            await CHANGE_ROWS.execute(self._conn, INSERT_GROUP_CHANGES, rows)

    async def add_rejected(self, row: Row) -> None:
        stmt = insert(integration_rejections).values(**row)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[integration_rejections.c.integration_id, integration_rejections.c.status],
            set_={"count": integration_rejections.c.count + stmt.excluded.count,
                  "last_at": func.greatest(integration_rejections.c.last_at, stmt.excluded.last_at)}))


def _route_of(row: Row) -> Row:
    """A route as it waits in pending_group_routes: the columns it sets on the group's row."""
    return {column: row[column] for column in _ROUTE_COLUMNS if column in row}
