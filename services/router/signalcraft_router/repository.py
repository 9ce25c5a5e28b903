"""Every route of each group (router.group_routes, one row per channel it was announced in): its
later messages go to each of them."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Column, DateTime, Integer, Table, Text, Uuid, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_runtime.database import ServiceTables
from signalcraft_schemas.events import QuickAction

from .domain.notifications import GroupRoute

SCHEMA = "router"
tables = ServiceTables(SCHEMA)
group_routes = Table(
    "group_routes", tables.metadata,
    Column("group_id", Uuid, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("workspace_id", Text, nullable=False),
    Column("rule_id", Text),
    Column("runbook_url", Text),
    Column("mention_here", Boolean, nullable=False),
    Column("routed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("position", Integer, nullable=False, server_default="0"),  # the route's rank among the group's
    Column("mention_usergroup", Text),
    Column("quick_actions", JSONB, nullable=False, server_default="[]"),
)


def _route(row: Any) -> GroupRoute:
    return GroupRoute(row.channel, row.rule_id, row.runbook_url, row.mention_here, row.mention_usergroup,
                      tuple(QuickAction.model_validate(a) for a in row.quick_actions))


class RouteRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def routes(self, group_ids: Collection[UUID]) -> dict[UUID, list[GroupRoute]]:
        """Each group's routes, in the order they were chosen."""
        if not group_ids:
            return {}
        rows = await self._conn.execute(select(group_routes).where(group_routes.c.group_id.in_(list(group_ids)))
                                        .order_by(group_routes.c.group_id, group_routes.c.position))
        found: dict[UUID, list[GroupRoute]] = {}
        for row in rows:
            found.setdefault(row.group_id, []).append(_route(row))
        return found

    async def add(self, routes: list[tuple[str, UUID, list[GroupRoute]]]) -> None:
        """Store (workspace_id, group_id, routes) rows; a group keeps the routes it was first given."""
        rows = [{"group_id": group_id, "workspace_id": workspace_id, "channel": r.channel, "rule_id": r.rule_id,
                 "runbook_url": r.runbook_url, "mention_here": r.mention_here, "position": position,
                 "mention_usergroup": r.mention_usergroup,
                 "quick_actions": [a.model_dump(mode="json") for a in r.quick_actions]}
                for workspace_id, group_id, chosen in routes for position, r in enumerate(chosen)]
        if rows:
            await self._conn.execute(insert(group_routes).on_conflict_do_nothing(), rows)
