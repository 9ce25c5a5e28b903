"""What the what-if replay reads (issue 10.6): the workspace's grouping settings, the stored firing
alerts of a range, and the first notifications actually sent per channel. Reads only: the
connection is never committed and nothing is written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_schemas import Severity

from ..domain.simulate import ChannelCount, ReplayedAlert
from .tables import alerts, notifications, workspaces

# More alerts than this in one range are not replayed in one request (the answer says so).
MAX_REPLAYED_ALERTS = 200_000


class SimulationRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def workspace(self, workspace_id: str) -> dict[str, Any] | None:
        found = (await self._conn.execute(select(workspaces).where(workspaces.c.workspace_id == workspace_id))).first()
        return dict(found._mapping) if found is not None else None

    async def firing_alerts(self, workspace_id: str, since: datetime, until: datetime) -> list[ReplayedAlert]:
        """Firing alerts received in [since, until), in the order they were received."""
        rows = await self._conn.execute(
            select(alerts.c.group_key, alerts.c.received_at, alerts.c.source, alerts.c.project,
                   alerts.c.environment, alerts.c.severity, alerts.c.fingerprint, alerts.c.title, alerts.c.tags)
            .where(alerts.c.workspace_id == workspace_id, alerts.c.status == "firing",
                   alerts.c.received_at >= since, alerts.c.received_at < until)
            .order_by(alerts.c.received_at, alerts.c.event_id).limit(MAX_REPLAYED_ALERTS))
        return [ReplayedAlert(r.group_key, r.received_at, r.source, r.project or "", r.environment or "",
                              Severity(r.severity), r.fingerprint or "", r.title or "", r.tags or {}) for r in rows]

    async def first_notifications(self, workspace_id: str, since: datetime, until: datetime) -> dict[str, ChannelCount]:
        """Per channel: distinct groups and top-level messages (kind new_group) requested in [since, until)."""
        rows = await self._conn.execute(
            select(notifications.c.channel, func.count(func.distinct(notifications.c.group_id)).label("groups"),
                   func.count().label("notifications"))
            .where(notifications.c.workspace_id == workspace_id, notifications.c.kind == "new_group",
                   notifications.c.channel.is_not(None),
                   notifications.c.requested_at >= since, notifications.c.requested_at < until)
            .group_by(notifications.c.channel))
        return {r.channel: ChannelCount(r.groups, r.notifications) for r in rows}

