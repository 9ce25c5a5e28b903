"""The escalator's durable timers (escalator.timers) and the last status seen of each group
(escalator.group_status)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, Table, Text, Uuid, and_, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_runtime.bulk import BulkRows
from signalcraft_runtime.database import ServiceTables
from signalcraft_schemas.events import GroupStatus

from .domain.timers import Timer, TimerKind

SCHEMA = "escalator"
tables = ServiceTables(SCHEMA)
timers = Table(
    "timers", tables.metadata,
    Column("kind", Text, primary_key=True), Column("group_id", Uuid, primary_key=True),
    Column("group_key", Text, nullable=False), Column("workspace_id", Text, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False), Column("state", Text, nullable=False),
    Column("payload", JSONB, nullable=False), Column("correlation_id", Text, nullable=False),
    Column("causation_id", Uuid),
    # Escalations: which of the group's routes armed it ("" for the other kinds); see migration 0002.
    Column("route", Text, primary_key=True, server_default=""),
)
group_status = Table("group_status", tables.metadata, Column("group_id", Uuid, primary_key=True),
                     Column("status", Text, nullable=False))

DueTimer = tuple[Timer, str, UUID | None]  # the timer, with the correlation and causation of what armed it
TimerKey = tuple[str, UUID, str]  # kind, group, route

# A consumed batch's re-arms, refreshes and statuses wait in memory and are written one statement per
# kind at the end (`flush`): a group update re-arms its auto-close timer and refreshes its escalation's
# payload, and three statements per event were most of the escalator's time.
ARM_ROWS = BulkRows.of(kind="text", group_id="uuid", route="text", group_key="text", workspace_id="text",
                       due_at="timestamptz", payload="jsonb", correlation_id="text", causation_id="uuid")
ARM = (f'INSERT INTO escalator.timers ({ARM_ROWS.names}, state) SELECT *, \'pending\' FROM {ARM_ROWS.source()} '
       "ORDER BY kind, group_id, route "  # the same lock order in every transaction
       "ON CONFLICT (kind, group_id, route) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, "
       "state = 'pending', correlation_id = excluded.correlation_id, causation_id = excluded.causation_id")
PATCH_ROWS = BulkRows.of(kind="text", group_id="uuid", patch="jsonb")
PATCH = (f"UPDATE escalator.timers t SET payload = t.payload || s.patch FROM {PATCH_ROWS.source()} "
         "WHERE t.kind = s.kind AND t.group_id = s.group_id AND t.state = 'pending'")
STATUS_ROWS = BulkRows.of(group_id="uuid", status="text")
SET_STATUSES = (f"INSERT INTO escalator.group_status (group_id, status) SELECT * FROM {STATUS_ROWS.source()} "
                "ORDER BY group_id ON CONFLICT (group_id) DO UPDATE SET status = excluded.status")


class TimerRepository:
    """Reads and writes inside one unit of work. `arm` (a plain re-arm), `patch_pending` and
    `set_status` are held back and written by `flush`, folded as running them in turn would have left
    the rows; anything that must see them (a cancel, a conditional arm, a patch of a timer armed in
    the batch) flushes first. The consumer's handler flushes before its commit."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._arms: dict[TimerKey, dict[str, Any]] = {}
        self._patches: dict[tuple[str, UUID], dict[str, Any]] = {}
        self._statuses: dict[UUID, str] = {}

    async def statuses(self, group_ids: Collection[UUID]) -> dict[UUID, GroupStatus]:
        if not group_ids:
            return {}
        await self._flush_statuses()
        rows = await self._conn.execute(select(group_status).where(group_status.c.group_id.in_(list(group_ids))))
        return {r.group_id: GroupStatus(r.status) for r in rows}

    async def set_status(self, group_id: UUID, status: GroupStatus) -> None:
        self._statuses[group_id] = status.value

    async def arm(self, timer: Timer, correlation_id: str, causation_id: UUID, only_while_pending: bool) -> None:
        """Set the timer (pending), or re-arm the one of its kind, group and route (only a pending one if asked)."""
        if only_while_pending or (timer.kind.value, timer.group_id) in self._patches:
            await self.flush()  # its effect depends on the row as the held-back writes leave it
        if not only_while_pending:
            self._arms[(timer.kind.value, timer.group_id, timer.route)] = {
                "kind": timer.kind.value, "group_id": timer.group_id, "route": timer.route,
                "group_key": timer.group_key, "workspace_id": timer.workspace_id, "due_at": timer.due_at,
                "payload": timer.payload, "correlation_id": correlation_id, "causation_id": causation_id}
            return
        stmt = insert(timers).values(
            kind=timer.kind.value, group_id=timer.group_id, route=timer.route, group_key=timer.group_key,
            workspace_id=timer.workspace_id, due_at=timer.due_at, state="pending", payload=timer.payload,
            correlation_id=correlation_id, causation_id=causation_id)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[timers.c.kind, timers.c.group_id, timers.c.route],
            set_={"due_at": stmt.excluded.due_at, "payload": stmt.excluded.payload, "state": "pending",
                  "correlation_id": stmt.excluded.correlation_id, "causation_id": stmt.excluded.causation_id},
            where=timers.c.state == "pending",
        ))

    async def cancel(self, kind: TimerKind, group_id: UUID) -> bool:
        """Cancel the group's pending timer of this kind; whether there was one."""
        await self.flush()
        result = await self._conn.execute(update(timers).where(and_(
            timers.c.kind == kind.value, timers.c.group_id == group_id, timers.c.state == "pending")).values(state="cancelled"))
        return bool(result.rowcount)

    async def patch_pending(self, kind: TimerKind, group_id: UUID, patch: dict[str, Any]) -> None:
        """Merge `patch` into the payload of the group's pending timer of this kind."""
        if any(key[:2] == (kind.value, group_id) for key in self._arms):
            await self.flush()  # the patch applies to the timer as armed
        self._patches[(kind.value, group_id)] = self._patches.get((kind.value, group_id), {}) | patch

    async def flush(self) -> None:
        """Write what is held back: one statement per kind of write."""
        arms, self._arms = list(self._arms.values()), {}
        await ARM_ROWS.execute(self._conn, ARM, arms)
        patches = [{"kind": kind, "group_id": group_id, "patch": patch}
                   for (kind, group_id), patch in self._patches.items()]
        self._patches = {}
        await PATCH_ROWS.execute(self._conn, PATCH, patches)
        await self._flush_statuses()

    async def _flush_statuses(self) -> None:
        rows = [{"group_id": group_id, "status": status} for group_id, status in self._statuses.items()]
        self._statuses = {}
        await STATUS_ROWS.execute(self._conn, SET_STATUSES, rows)

    async def due(self, now: datetime, limit: int) -> list[DueTimer]:
        """Pending timers due at `now`, earliest first; replicas share them (SKIP LOCKED)."""
        rows = (await self._conn.execute(
            select(timers).where(and_(timers.c.state == "pending", timers.c.due_at <= now))
            .order_by(timers.c.due_at).limit(limit).with_for_update(skip_locked=True)
        )).all()
        return [(Timer(TimerKind(r.kind), r.group_id, r.group_key, r.workspace_id, r.due_at, dict(r.payload), r.route),
                 r.correlation_id, r.causation_id) for r in rows]

    async def next_due(self) -> datetime | None:
        """When the earliest pending timer is due (index timers_due)."""
        return (await self._conn.execute(select(func.min(timers.c.due_at)).where(timers.c.state == "pending"))).scalar()

    async def mark_fired(self, timer: Timer) -> None:
        await self._conn.execute(update(timers).where(self._key(timer)).values(state="fired"))

    async def advance(self, fired: Timer, following: Timer) -> None:
        """The fired step's timer becomes the next step's: in the transaction that records the fired
        step's events, so a crash either fires the step and moves on, or does neither."""
        await self._conn.execute(update(timers).where(and_(self._key(fired), timers.c.state == "pending")).values(
            due_at=following.due_at, payload=following.payload))

    @staticmethod
    def _key(timer: Timer) -> Any:
        return and_(timers.c.kind == timer.kind.value, timers.c.group_id == timer.group_id,
                    timers.c.route == timer.route)
