"""Read-model writes: the rows `domain.projection` makes from events, into the query schema.

Every write is idempotent (an event replayed, or redelivered past the inbox, changes nothing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from signalcraft_runtime.unit_of_work import UnitOfWork

from .maintenance import pending_group_routes
from .tables import (
    command_outcomes, deadletters, group_changes, groups, integration_activity, integration_rejections, notes,
    notifications, timeline,
)

Row = dict[str, Any]

ALERT_COLUMNS = ("event_id", "workspace_id", "integration_id", "delivery_id", "group_key", "source", "source_event_id",
                 "project", "environment", "severity", "status", "fingerprint", "title", "link", "tags",
                 "occurred_at", "received_at", "is_test")
_ALERT_TYPES = ("uuid", *["text"] * 14, "timestamptz", "timestamptz", "bool")  # tags travel as text, cast to jsonb
# Every alert lands here: one constant statement per batch, binary parameters (as ingest does). The
# dashboard's rollup counts the rows this statement inserted, and only those: an alert already there
# (redelivered past the inbox, or twice in one batch) adds nothing. Its hours are appended as changes
# (repository/rollup.py folds them), never upserted, so concurrent batches do not wait on each other;
# alert_keys rows are locked in key order, so they cannot deadlock on them.
INSERT_ALERTS = (
    "WITH inserted AS ("
    f"INSERT INTO query.alerts ({', '.join(ALERT_COLUMNS)}) "
    f"SELECT {', '.join(f'c{i}::jsonb' if c == 'tags' else f'c{i}' for i, c in enumerate(ALERT_COLUMNS))} "
    f"FROM unnest({', '.join(f'%b::{t}[]' for t in _ALERT_TYPES)}) AS t({', '.join(f'c{i}' for i in range(len(ALERT_COLUMNS)))}) "
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
# A result updates the row of the request it answers; who, what and where stay as requested.
RESULT_COLUMNS = ("status", "error", "attempts", "finished_at", "latency_ms")
CHANGE_FEED_LOCK = 0x5C_C4A1_6E  # pg_advisory_xact_lock key of the group change feed


class ReadModelWriter:
    """Writes inside the consumer's unit of work, so the rows commit with the batch's inbox entries."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._conn = uow.connection

    async def insert_alerts(self, rows: list[Row]) -> None:
        if not rows:
            return
        columns = [[orjson.dumps(row[c]).decode() for row in rows] if c == "tags" else [row[c] for row in rows]
                   for c in ALERT_COLUMNS]
        driver = await self._uow.driver_connection()
        await driver.execute(INSERT_ALERTS, columns, prepare=True)

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
        if rows:
            await self._conn.execute(insert(timeline).on_conflict_do_nothing(), rows)

    async def upsert_group(self, row: Row) -> None:
        stmt = insert(groups).values(**row)
        update_values = {k: stmt.excluded[k] for k in row if k != "group_id"}
        # Events about one group arrive in order, but a replay must not move a count backwards.
        update_values["count"] = func.greatest(groups.c.count, stmt.excluded["count"])
        if "acknowledged_at" in row:  # the first acknowledgement is the one MTTA measures
            update_values["acknowledged_at"] = func.coalesce(groups.c.acknowledged_at, stmt.excluded["acknowledged_at"])
        if "person_acted_at" in row:  # likewise the first person's action (actionability)
            update_values["person_acted_at"] = func.coalesce(groups.c.person_acted_at, stmt.excluded["person_acted_at"])
        upserted = await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[groups.c.group_id], set_=update_values).returning(text("xmax = 0 AS inserted")))
        if upserted.scalar_one():  # a new row: its route or notification may have been projected first
            await self._apply_pending(row["group_id"])

    # Topics are consumed side by side: a replay from offset 0 (a rebuild) can project a group's first
    # notification before the group itself. What would have updated the missing row waits in
    # pending_group_routes until the group arrives, so the rebuilt row equals the live one.
    async def route_group(self, group_id: UUID, route: Row) -> None:
        routed = await self._conn.execute(update(groups).where(groups.c.group_id == group_id).values(**route)
                                          .returning(groups.c.group_id))
        if routed.first() is None:
            stmt = insert(pending_group_routes).values(group_id=group_id, route=route)
            await self._conn.execute(stmt.on_conflict_do_update(
                index_elements=[pending_group_routes.c.group_id],
                set_={"route": func.coalesce(pending_group_routes.c.route, stmt.excluded.route)}))

    async def mark_group_notified(self, group_id: UUID, at: datetime) -> None:
        """The first delivery about a group stamps it; later ones do not."""
        stamped = await self._conn.execute(update(groups).where(groups.c.group_id == group_id)
                                           .values(notified_at=func.coalesce(groups.c.notified_at, at))
                                           .returning(groups.c.group_id))
        if stamped.first() is None:
            stmt = insert(pending_group_routes).values(group_id=group_id, notified_at=at)
            await self._conn.execute(stmt.on_conflict_do_update(
                index_elements=[pending_group_routes.c.group_id],
                set_={"notified_at": func.least(pending_group_routes.c.notified_at, stmt.excluded.notified_at)}))

    async def _apply_pending(self, group_id: UUID) -> None:
        pending = (await self._conn.execute(delete(pending_group_routes).where(
            pending_group_routes.c.group_id == group_id).returning(pending_group_routes.c.route,
                                                                   pending_group_routes.c.notified_at))).first()
        if pending is None:
            return
        values: Row = dict(pending.route or {})
        if pending.notified_at is not None:
            values["notified_at"] = func.coalesce(groups.c.notified_at, pending.notified_at)
        if values:
            await self._conn.execute(update(groups).where(groups.c.group_id == group_id).values(**values))

    async def insert_notification(self, row: Row) -> None:
        """A result projected before its request (a replay) keeps its outcome and gains the request's time."""
        stmt = insert(notifications).values(**row)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[notifications.c.notification_id],
            set_={"requested_at": func.coalesce(notifications.c.requested_at, stmt.excluded.requested_at)}))

    async def upsert_notification_result(self, row: Row) -> None:
        stmt = insert(notifications).values(**row)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[notifications.c.notification_id], set_={c: row[c] for c in RESULT_COLUMNS}))

    async def record_command_outcome(self, row: Row) -> None:
        """The first answer to a command is its outcome (a redelivered event changes nothing)."""
        await self._conn.execute(insert(command_outcomes).values(**row).on_conflict_do_nothing())

    async def insert_dead_letter(self, row: Row) -> None:
        await self._conn.execute(insert(deadletters).values(**row).on_conflict_do_nothing())

    async def insert_note(self, row: Row) -> None:
        await self._conn.execute(insert(notes).values(**row).on_conflict_do_nothing())

    async def insert_group_changes(self, rows: list[Row]) -> None:
        """Numbered in the order of the batch; a replayed event keeps its first number. The lock makes
        numbers commit in order across replicas: a stream resumed after number n misses nothing."""
        if not rows:
            return
        await self._conn.execute(select(func.pg_advisory_xact_lock(CHANGE_FEED_LOCK)))
        for row in rows:  # one by one: the identity column must follow the batch's order
            await self._conn.execute(insert(group_changes).values(**row).on_conflict_do_nothing())

    async def add_rejected(self, row: Row) -> None:
        stmt = insert(integration_rejections).values(**row)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[integration_rejections.c.integration_id, integration_rejections.c.status],
            set_={"count": integration_rejections.c.count + stmt.excluded.count,
                  "last_at": func.greatest(integration_rejections.c.last_at, stmt.excluded.last_at)}))
