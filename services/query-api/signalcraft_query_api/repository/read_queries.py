"""What the read API selects: inbox, groups with timeline, dashboard figures, delivery health."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, desc, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.read_views import OverviewCounts
from .tables import alerts, deadletters, groups, integration_activity, integrations, notifications, timeline

Row = dict[str, Any]


def _where(table: Any, workspace_id: str, **equal: str | None) -> list[Any]:
    """workspace_id = ..., plus column = value for every filter the caller gave."""
    return [table.c.workspace_id == workspace_id] + [table.c[name] == value for name, value in equal.items() if value]


def _rows(result: Any) -> list[Row]:
    return [dict(r._mapping) for r in result]


class ReadQueries:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def alerts(self, workspace_id: str, before: datetime | None, limit: int, **equal: str | None) -> list[Row]:
        """Newest first; `before` (a received_at) pages back; `equal`: column = value filters."""
        cond = _where(alerts, workspace_id, **equal)
        if before:
            cond.append(alerts.c.received_at < before)
        return _rows(await self._conn.execute(
            select(alerts).where(and_(*cond)).order_by(desc(alerts.c.received_at)).limit(limit)))

    async def groups(self, workspace_id: str, before: datetime | None, limit: int, **equal: str | None) -> list[Row]:
        """Most recently seen first; `before` (a last_seen_at) pages back; `equal`: column = value filters."""
        cond = _where(groups, workspace_id, **equal)
        if before:
            cond.append(groups.c.last_seen_at < before)
        return _rows(await self._conn.execute(
            select(groups).where(and_(*cond)).order_by(desc(groups.c.last_seen_at)).limit(limit)))

    async def group_detail(self, group_id: UUID, alerts_limit: int) -> dict[str, Any] | None:
        """A group with its timeline, its recent alerts and its notifications; None if there is no such group."""
        conn = self._conn
        found = _rows(await conn.execute(select(groups).where(groups.c.group_id == group_id)))
        if not found:
            return None
        group = found[0]
        events = _rows(await conn.execute(select(timeline).where(timeline.c.group_id == group_id).order_by(timeline.c.at)))
        related = _rows(await conn.execute(
            select(alerts).where(and_(alerts.c.workspace_id == group["workspace_id"], alerts.c.group_key == group["group_key"],
                                      alerts.c.received_at >= group["first_seen_at"], alerts.c.received_at <= group["last_seen_at"]))
            .order_by(desc(alerts.c.received_at)).limit(alerts_limit)))
        sent = _rows(await conn.execute(select(notifications).where(notifications.c.group_id == group_id)
                                        .order_by(notifications.c.requested_at)))
        return {"group": group, "timeline": events, "alerts": related, "notifications": sent}

    async def overview_counts(self, workspace_id: str, since: datetime) -> OverviewCounts:
        conn = self._conn
        # Providers' test notifications stay out of the noise, ack-rate and MTTA figures.
        real_alerts = (alerts.c.workspace_id == workspace_id, alerts.c.received_at >= since, alerts.c.is_test.is_not(True))
        alert_count = (await conn.execute(select(func.count()).select_from(alerts).where(*real_alerts))).scalar_one()
        acked_by = groups.c.acknowledged_by
        g = (await conn.execute(select(
            func.count().label("groups"),
            func.count(groups.c.acknowledged_at).label("acknowledged"),
            func.avg(func.extract("epoch", groups.c.acknowledged_at - groups.c.first_seen_at)).label("mtta"),
            func.count().filter(groups.c.status == "resolved").label("resolved"),
            func.count().filter(acked_by.like("slack:%")).label("acked_slack"),
            func.count().filter(acked_by.like("api:%")).label("acked_api"),
            func.count().filter(acked_by.is_not(None), acked_by.not_like("slack:%"), acked_by.not_like("api:%"))
            .label("acked_provider"),
        ).where(groups.c.workspace_id == workspace_id, groups.c.first_seen_at >= since,
                groups.c.is_test.is_not(True)))).one()
        noisy = _rows(await conn.execute(
            select(alerts.c.source, alerts.c.project, func.count().label("alerts"),
                   func.count(func.distinct(alerts.c.group_key)).label("groups"))
            .where(*real_alerts)
            .group_by(alerts.c.source, alerts.c.project).order_by(desc("alerts")).limit(5)))
        delivery = (await conn.execute(select(
            func.count().filter(notifications.c.status == "delivered").label("delivered"),
            func.count().filter(notifications.c.status == "failed").label("failed"),
            func.max(notifications.c.finished_at).filter(notifications.c.status == "delivered").label("last_delivered_at"),
        ).where(notifications.c.workspace_id == workspace_id, notifications.c.requested_at >= since,
                notifications.c.kind.not_in(("updated", "state_changed"))))).one()  # rewrites are not new messages
        last_webhooks = _rows(await conn.execute(select(integration_activity).where(integration_activity.c.workspace_id == workspace_id)))
        return OverviewCounts(
            alerts=alert_count, groups=g.groups, acknowledged=g.acknowledged, mean_ack_seconds=g.mtta,
            resolved=g.resolved, noisy_sources=noisy,
            acknowledged_by={"slack": g.acked_slack, "api": g.acked_api, "provider": g.acked_provider}, delivered=delivery.delivered, failed=delivery.failed,
            last_delivered_at=delivery.last_delivered_at, integrations=last_webhooks)

    async def delivery_health(self, workspace_id: str, limit: int) -> dict[str, Any]:
        """Is anything silently broken? Last webhook per integration (and webhooks refused over its rate
        limit), last Slack delivery, failures, dead letters. Only this workspace's dead letters: one
        whose workspace could not be read is in `dead_letters` (the global view), not here."""
        conn = self._conn
        configured = _rows(await conn.execute(
            select(integrations.c.integration_id, integrations.c.provider, integrations.c.name, integrations.c.enabled,
                   integration_activity.c.last_webhook_at, integration_activity.c.alerts_total,
                   integration_activity.c.throttled_total, integration_activity.c.last_throttled_at)
            .select_from(integrations.outerjoin(integration_activity, integrations.c.integration_id == integration_activity.c.integration_id))
            .where(integrations.c.workspace_id == workspace_id)))
        last = (await conn.execute(select(func.max(notifications.c.finished_at)).where(
            notifications.c.workspace_id == workspace_id, notifications.c.status == "delivered"))).scalar()
        pending = (await conn.execute(select(func.count()).select_from(notifications).where(
            notifications.c.workspace_id == workspace_id, notifications.c.status == "requested"))).scalar_one()
        failures = _rows(await conn.execute(select(notifications).where(
            notifications.c.workspace_id == workspace_id, notifications.c.status == "failed")
            .order_by(desc(notifications.c.finished_at)).limit(limit)))
        dead = await self.dead_letters(workspace_id, limit)
        return {"integrations": configured, "last_slack_delivery_at": last, "notifications_pending": pending,
                "recent_failures": failures, "dead_letters": dead}

    async def dead_letters(self, workspace_id: str | None, limit: int) -> list[Row]:
        """Newest first; of one workspace, or (None) of all, including those whose workspace is unknown."""
        query = select(deadletters).order_by(desc(deadletters.c.at)).limit(limit)
        if workspace_id is not None:
            query = query.where(deadletters.c.workspace_id == workspace_id)
        return _rows(await self._conn.execute(query))
