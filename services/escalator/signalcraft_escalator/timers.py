"""The escalator's tables and the two things it does: apply events to timers, fire due timers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, Table, Text, Uuid, and_, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert

from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.unit_of_work import UnitOfWork, UnitOfWorkFactory
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import GroupStatus

from .domain.timers import DEFAULT_AUTO_CLOSE, Timer, TimerKind, fire, on_event, status_after

SCHEMA = "escalator"
tables = ServiceTables(SCHEMA)
timers = Table(
    "timers", tables.metadata,
    Column("kind", Text, primary_key=True), Column("group_id", Uuid, primary_key=True),
    Column("group_key", Text, nullable=False), Column("workspace_id", Text, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False), Column("state", Text, nullable=False),
    Column("payload", JSONB, nullable=False), Column("correlation_id", Text, nullable=False),
    Column("causation_id", Uuid),
)
group_status = Table("group_status", tables.metadata, Column("group_id", Uuid, primary_key=True),
                     Column("status", Text, nullable=False))


def auto_close_window(config: ConfigState | None, workspace_id: str) -> timedelta:
    workspace = config.workspaces.get(workspace_id) if config else None
    return timedelta(minutes=workspace.auto_close_minutes) if workspace else DEFAULT_AUTO_CLOSE


async def handle_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]], config: ConfigState | None) -> None:
    conn = uow.connection
    group_ids = {e.data.group.group_id for e in envelopes if hasattr(e.data, "group")}
    statuses: dict[UUID, GroupStatus] = {}
    if group_ids:
        rows = await conn.execute(select(group_status).where(group_status.c.group_id.in_(list(group_ids))))
        statuses = {r.group_id: GroupStatus(r.status) for r in rows}
    for env in envelopes:
        group = getattr(env.data, "group", None)
        gid = group.group_id if group is not None else None
        changes = on_event(env.data, env.workspace_id, auto_close_window(config, env.workspace_id), statuses.get(gid) if gid else None)
        for timer in changes.arm:
            stmt = insert(timers).values(
                kind=timer.kind.value, group_id=timer.group_id, group_key=timer.group_key,
                workspace_id=timer.workspace_id, due_at=timer.due_at, state="pending", payload=timer.payload,
                correlation_id=env.correlation_id, causation_id=env.id)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=[timers.c.kind, timers.c.group_id],
                set_={"due_at": stmt.excluded.due_at, "payload": stmt.excluded.payload, "state": "pending",
                      "correlation_id": stmt.excluded.correlation_id, "causation_id": stmt.excluded.causation_id},
                # an escalation fires once per group; re-arming applies only while it is still pending
                where=(timers.c.state == "pending") if timer.kind == TimerKind.ESCALATION else None,
            ))
        for kind, group_id in changes.cancel:
            await conn.execute(update(timers).where(and_(timers.c.kind == kind.value, timers.c.group_id == group_id,
                                                          timers.c.state == "pending")).values(state="cancelled"))
        if changes.refresh is not None:
            await conn.execute(update(timers).where(and_(
                timers.c.kind == TimerKind.ESCALATION.value, timers.c.group_id == changes.refresh.group_id,
                timers.c.state == "pending")).values(
                payload=timers.c.payload.op("||")({"group": changes.refresh.model_dump(mode="json")})))
        new_status = status_after(env.data)
        if new_status is not None and gid is not None:
            statuses[gid] = new_status
            stmt2 = insert(group_status).values(group_id=gid, status=new_status.value)
            await conn.execute(stmt2.on_conflict_do_update(index_elements=[group_status.c.group_id],
                                                           set_={"status": stmt2.excluded.status}))


async def fire_due(uow_factory: UnitOfWorkFactory, now: datetime, limit: int = 200) -> int:
    """Fire every timer due at `now` (SKIP LOCKED: replicas share the work). Returns how many fired."""
    async with uow_factory() as uow:
        rows = (await uow.connection.execute(
            select(timers).where(and_(timers.c.state == "pending", timers.c.due_at <= now))
            .order_by(timers.c.due_at).limit(limit).with_for_update(skip_locked=True)
        )).all()
        for row in rows:
            timer = Timer(TimerKind(row.kind), row.group_id, row.group_key, row.workspace_id, row.due_at, dict(row.payload))
            for data in fire(timer):
                uow.emit(Envelope.wrap(data, workspace_id=row.workspace_id, key=row.group_key,
                                       correlation_id=row.correlation_id, causation_id=row.causation_id, occurred_at=now))
            await uow.connection.execute(update(timers).where(and_(timers.c.kind == row.kind, timers.c.group_id == row.group_id))
                                         .values(state="fired"))
        await uow.commit()
        return len(rows)
