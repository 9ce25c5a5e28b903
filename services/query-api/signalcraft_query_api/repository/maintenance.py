"""Maintenance of the read models: retention deletes (issue 11.6), dropping the projections before a
rebuild, and the Slack connection's status and removal (issue 11.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from sqlalchemy import Boolean, Column, DateTime, Integer, Table, Uuid, delete, select, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_runtime.consumer import is_transient
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory

from .tables import SCHEMA, md, slack_connections

# A group's route or first delivery projected before the group itself (repository/projection.py).
pending_group_routes = Table(
    "pending_group_routes", md, Column("group_id", Uuid, primary_key=True), Column("route", JSONB),
    Column("notified_at", DateTime(timezone=True)),
)
# Which generation of the projections is current: 0 (no row) until the first rebuild.
projection_generation = Table(
    "projection_generation", md, Column("singleton", Boolean, primary_key=True),
    Column("generation", Integer, nullable=False), Column("rebuilt_at", DateTime(timezone=True), nullable=False),
)

# Per retention kind: the table and the column its age is read from.
RETENTION_COLUMNS = {"alerts": ("alerts", "received_at"), "timelines": ("timeline", "at"),
                     "notifications": ("notifications", "requested_at"), "dead_letters": ("deadletters", "at")}
# The projections of consumed topics: what a rebuild empties and replays. Configuration and identity
# (workspaces, integrations, Slack connections, rules, users, tokens...) are owned here, not projected.
PROJECTION_TABLES = ("alerts", "groups", "command_outcomes", "timeline", "notifications", "integration_activity",
                     "deadletters", "notes", "group_changes", "integration_rejections", "pending_group_routes",
                     "alert_hours", "alert_keys", "alert_days", "alert_series", "alert_hour_changes", "group_hours",
                     "group_days", "group_series", "group_hour_changes", "notification_hours",
                     "notification_hour_changes")
# Alerts leave the dashboard's rollup with their rows: each deleted batch is appended, negated, to
# the changes the fold sums (exact, also for the hour the cut-off falls in), and the group keys whose
# last alert is older than the cut-off go (all their alerts are gone once the deletes are drained; the
# trigger on alert_keys appends their leaving). Sums that come back to nothing the fold drops.
DELETE_ALERTS = """
WITH gone AS (
  DELETE FROM query.alerts WHERE ctid IN (SELECT ctid FROM query.alerts WHERE received_at < :before LIMIT :limit)
  RETURNING workspace_id, date_trunc('hour', received_at, 'UTC') AS hour, source, project,
            coalesce(is_test, false) AS is_test),
taken AS (
  INSERT INTO query.alert_hour_changes (workspace_id, hour, source, project, is_test, alerts, keys)
  SELECT workspace_id, hour, source, project, is_test, -count(*), 0 FROM gone GROUP BY 1, 2, 3, 4, 5)
SELECT count(*) FROM gone"""


async def delete_older_than(conn: AsyncConnection, kind: str, before: datetime, limit: int = 5000) -> int:
    """Up to `limit` rows of `kind` older than `before` deleted; how many."""
    if kind == "alerts":
        deleted = int((await conn.execute(text(DELETE_ALERTS), {"before": before, "limit": limit})).scalar_one())
        if deleted == limit:
            return deleted
        # The old alerts are gone (this was the last batch): so go their keys.
        keys = await conn.execute(text(
            "DELETE FROM query.alert_keys WHERE ctid IN (SELECT ctid FROM query.alert_keys "
            "WHERE last_received_at < :before LIMIT :limit)"), {"before": before, "limit": limit - deleted})
        return deleted + (keys.rowcount or 0)
    table, column = RETENTION_COLUMNS[kind]
    result = await conn.execute(text(
        f'DELETE FROM "{SCHEMA}"."{table}" WHERE ctid IN (SELECT ctid FROM "{SCHEMA}"."{table}" '
        f'WHERE "{column}" < :before LIMIT :limit)'), {"before": before, "limit": limit})
    return result.rowcount or 0


async def start_rebuild(uow_factory: UnitOfWorkFactory, now: datetime) -> tuple[int, list[str]]:
    """In one transaction, a new projection generation begins and every projection table and the inbox
    are emptied; the generation and the tables. Emptying waits for locks other writers hold (retention,
    a request's transaction), and PostgreSQL may break a deadlock by aborting us: tried a few times
    before the error goes up (a 503)."""
    async for attempt in AsyncRetrying(retry=retry_if_exception(is_transient), stop=stop_after_attempt(4),
                                       wait=wait_exponential(multiplier=0.5, max=4), reraise=True):
        with attempt:
            async with uow_factory() as uow:
                generation = await start_generation(uow.connection, now)
                emptied = await drop_projections(uow.connection)
                await uow.commit()
    return generation, emptied


async def drop_projections(conn: AsyncConnection) -> list[str]:
    """Empty every projection table that exists, and forget which events were projected (the inbox),
    so a replay from offset 0 projects them all again. Returns the tables emptied."""
    present = {r.table_name for r in await conn.execute(text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": SCHEMA})}
    emptied = [t for t in PROJECTION_TABLES if t in present]
    # Waiting for a long transaction of another writer blocks every read behind our lock queue: give
    # up after a while instead (the caller tries again).
    await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
    await conn.execute(text(f"TRUNCATE {', '.join(f'{SCHEMA}.{t}' for t in [*emptied, 'inbox'])}"))
    return emptied


async def current_generation(conn: AsyncConnection) -> int:
    row = (await conn.execute(select(projection_generation.c.generation))).first()
    return row.generation if row is not None else 0


async def start_generation(conn: AsyncConnection, now: datetime) -> int:
    """The next generation, made current; returns its number."""
    stmt = insert(projection_generation).values(singleton=True, generation=1, rebuilt_at=now)
    row = (await conn.execute(stmt.on_conflict_do_update(
        index_elements=[projection_generation.c.singleton],
        set_={"generation": projection_generation.c.generation + 1, "rebuilt_at": now},
    ).returning(projection_generation.c.generation))).one()
    return int(row.generation)


async def projection_counts(conn: AsyncConnection) -> dict[str, int]:
    present = {r.table_name for r in await conn.execute(text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": SCHEMA})}
    return {t: (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.{t}"))).scalar_one()
            for t in PROJECTION_TABLES if t in present}


async def slack_connection(conn: AsyncConnection, workspace_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(slack_connections.c.workspace_id, slack_connections.c.team_id,
                                     slack_connections.c.connected_at)
                              .where(slack_connections.c.workspace_id == workspace_id))).first()
    return dict(row._mapping) if row is not None else None


async def delete_slack_connection(conn: AsyncConnection, workspace_id: str) -> bool:
    deleted = await conn.execute(delete(slack_connections).where(slack_connections.c.workspace_id == workspace_id)
                                 .returning(slack_connections.c.workspace_id))
    return deleted.first() is not None
