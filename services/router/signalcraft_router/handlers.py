"""Router's handler: a new group gets a route (or a visible no-route failure); later changes to the
group (its count, its resolution) go where the group was first routed, to update that message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Column, DateTime, Table, Text, Uuid, func, select
from sqlalchemy.dialects.postgresql import insert

from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import (
    EscalationArmed, GroupOpened, GroupResolved, GroupUpdated, NotificationFailed, NotificationKind, NotificationRequested,
)

from .domain.rules import route

SCHEMA = "router"
tables = ServiceTables(SCHEMA)
group_routes = Table(
    "group_routes", tables.metadata,
    Column("group_id", Uuid, primary_key=True),
    Column("workspace_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("rule_id", Text),
    Column("runbook_url", Text),
    Column("mention_here", Boolean, nullable=False),
    Column("routed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


@dataclass(frozen=True)
class StoredRoute:
    channel: str
    rule_id: str | None
    runbook_url: str | None
    mention_here: bool


async def handle_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]], config: ConfigState) -> None:
    conn = uow.connection
    resolved_ids = [e.data.group.group_id for e in envelopes if isinstance(e.data, (GroupUpdated, GroupResolved))]
    known: dict[UUID, StoredRoute] = {}
    if resolved_ids:
        rows = await conn.execute(select(group_routes).where(group_routes.c.group_id.in_(resolved_ids)))
        known = {r.group_id: StoredRoute(r.channel, r.rule_id, r.runbook_url, r.mention_here) for r in rows}
    new_routes: list[dict[str, Any]] = []
    for env in envelopes:
        data = env.data
        if isinstance(data, GroupOpened):
            group = data.group
            workspace = config.workspaces.get(env.workspace_id)
            chosen = route(group, config.rules_for(env.workspace_id), workspace.default_channel if workspace else None)
            if chosen is None:
                uow.emit(env.caused(NotificationFailed(
                    request_id=None, kind=NotificationKind.NEW_GROUP, group_id=group.group_id, channel=None,
                    error="no_route", attempts=0)))
                continue
            row = {"group_id": group.group_id, "workspace_id": env.workspace_id, "channel": chosen.channel,
                   "rule_id": chosen.rule_id, "runbook_url": chosen.runbook_url, "mention_here": chosen.mention_here}
            new_routes.append(row)
            known[group.group_id] = StoredRoute(chosen.channel, chosen.rule_id, chosen.runbook_url, chosen.mention_here)
            uow.emit(env.caused(NotificationRequested(
                kind=NotificationKind.NEW_GROUP, group=group, channel=chosen.channel,
                mention_here=chosen.mention_here, runbook_url=chosen.runbook_url, rule_id=chosen.rule_id)))
            due = chosen.escalation_due(group.first_seen_at)
            if due is not None:
                uow.emit(env.caused(EscalationArmed(
                    group=group, channel=chosen.channel, due_at=due, rule_id=chosen.rule_id,
                    runbook_url=chosen.runbook_url)))
        elif isinstance(data, (GroupUpdated, GroupResolved)):
            previous = known.get(data.group.group_id)
            if previous is None:
                continue  # never notified (no route at the time): nothing to update
            kind = NotificationKind.RESOLVED if isinstance(data, GroupResolved) else NotificationKind.UPDATED
            # An edited message keeps its form (editing does not notify anyone again).
            uow.emit(env.caused(NotificationRequested(
                kind=kind, group=data.group, channel=previous.channel,
                mention_here=previous.mention_here and kind == NotificationKind.UPDATED,
                runbook_url=previous.runbook_url, rule_id=previous.rule_id)))
    if new_routes:
        await conn.execute(insert(group_routes).on_conflict_do_nothing(), new_routes)
