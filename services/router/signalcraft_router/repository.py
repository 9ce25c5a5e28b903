"""Where each group was first routed (router.group_routes): its later messages go there."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from sqlalchemy import Boolean, Column, DateTime, Table, Text, Uuid, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_runtime.database import ServiceTables

from .domain.notifications import FirstRoute

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


class RouteRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def first_routes(self, group_ids: Collection[UUID]) -> dict[UUID, FirstRoute]:
        if not group_ids:
            return {}
        rows = await self._conn.execute(select(group_routes).where(group_routes.c.group_id.in_(list(group_ids))))
        return {r.group_id: FirstRoute(r.channel, r.rule_id, r.runbook_url, r.mention_here) for r in rows}

    async def add(self, routes: list[tuple[str, UUID, FirstRoute]]) -> None:
        """Store (workspace_id, group_id, route) rows; a group keeps the route it was first given."""
        if not routes:
            return
        await self._conn.execute(insert(group_routes).on_conflict_do_nothing(), [
            {"group_id": group_id, "workspace_id": workspace_id, "channel": r.channel, "rule_id": r.rule_id,
             "runbook_url": r.runbook_url, "mention_here": r.mention_here}
            for workspace_id, group_id, r in routes])
