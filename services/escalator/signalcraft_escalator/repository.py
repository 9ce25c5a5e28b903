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


class TimerRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def statuses(self, group_ids: Collection[UUID]) -> dict[UUID, GroupStatus]:
        if not group_ids:
            return {}
        rows = await self._conn.execute(select(group_status).where(group_status.c.group_id.in_(list(group_ids))))
        return {r.group_id: GroupStatus(r.status) for r in rows}

    async def set_status(self, group_id: UUID, status: GroupStatus) -> None:
        stmt = insert(group_status).values(group_id=group_id, status=status.value)
        await self._conn.execute(stmt.on_conflict_do_update(index_elements=[group_status.c.group_id],
                                                            set_={"status": stmt.excluded.status}))

    async def arm(self, timer: Timer, correlation_id: str, causation_id: UUID, only_while_pending: bool) -> None:
        """Set the timer (pending), or re-arm the one of its kind, group and route (only a pending one if asked)."""
        stmt = insert(timers).values(
            kind=timer.kind.value, group_id=timer.group_id, route=timer.route, group_key=timer.group_key,
            workspace_id=timer.workspace_id, due_at=timer.due_at, state="pending", payload=timer.payload,
            correlation_id=correlation_id, causation_id=causation_id)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[timers.c.kind, timers.c.group_id, timers.c.route],
            set_={"due_at": stmt.excluded.due_at, "payload": stmt.excluded.payload, "state": "pending",
                  "correlation_id": stmt.excluded.correlation_id, "causation_id": stmt.excluded.causation_id},
            where=(timers.c.state == "pending") if only_while_pending else None,
        ))

    async def cancel(self, kind: TimerKind, group_id: UUID) -> bool:
        """Cancel the group's pending timer of this kind; whether there was one."""
        result = await self._conn.execute(update(timers).where(and_(
            timers.c.kind == kind.value, timers.c.group_id == group_id, timers.c.state == "pending")).values(state="cancelled"))
        return bool(result.rowcount)

    async def patch_pending(self, kind: TimerKind, group_id: UUID, patch: dict[str, Any]) -> None:
        """Merge `patch` into the payload of the group's pending timer of this kind."""
        await self._conn.execute(update(timers).where(and_(
            timers.c.kind == kind.value, timers.c.group_id == group_id, timers.c.state == "pending")).values(
            payload=timers.c.payload.op("||")(patch)))

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
