"""The read API the frontend uses: inbox, groups with timeline, dashboard, delivery health."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import and_, desc, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from signalcraft_runtime.clock import utcnow

from .auth import require_token
from .tables import alerts, deadletters, groups, integration_activity, integrations, notifications, timeline

router = APIRouter(prefix="/api", tags=["read"], dependencies=[Depends(require_token)])


def _engine(request: Request) -> AsyncEngine:
    return request.app.state.service.engine


def _where(table: Any, workspace_id: str, **equal: str | None) -> list[Any]:
    """workspace_id = ..., plus column = value for every filter the caller gave."""
    return [table.c.workspace_id == workspace_id] + [table.c[name] == value for name, value in equal.items() if value]


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


@router.get("/alerts")
async def list_alerts(
    request: Request, workspace_id: str, environment: str | None = None, project: str | None = None,
    severity: str | None = None, source: str | None = None, status: str | None = None,
    before: datetime | None = None, limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """The alert inbox: newest first; `before` (a received_at) pages back."""
    cond = _where(alerts, workspace_id, environment=environment, project=project, severity=severity, source=source,
                  status=status)
    if before:
        cond.append(alerts.c.received_at < before)
    async with _engine(request).connect() as conn:
        rows = _rows(await conn.execute(select(alerts).where(and_(*cond)).order_by(desc(alerts.c.received_at)).limit(limit)))
    return {"items": rows, "next_before": rows[-1]["received_at"] if len(rows) == limit else None}


@router.get("/alert-groups")
async def list_groups(
    request: Request, workspace_id: str, status: str | None = None, environment: str | None = None,
    project: str | None = None, severity: str | None = None, before: datetime | None = None,
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    cond = _where(groups, workspace_id, status=status, environment=environment, project=project, severity=severity)
    if before:
        cond.append(groups.c.last_seen_at < before)
    async with _engine(request).connect() as conn:
        rows = _rows(await conn.execute(select(groups).where(and_(*cond)).order_by(desc(groups.c.last_seen_at)).limit(limit)))
    return {"items": rows, "next_before": rows[-1]["last_seen_at"] if len(rows) == limit else None}


@router.get("/alert-groups/{group_id}")
async def group_detail(request: Request, group_id: UUID, alerts_limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    """A group with its timeline, its recent alerts and its notifications."""
    async with _engine(request).connect() as conn:
        found = _rows(await conn.execute(select(groups).where(groups.c.group_id == group_id)))
        if not found:
            raise HTTPException(404, "no such alert group")
        group = found[0]
        events = _rows(await conn.execute(select(timeline).where(timeline.c.group_id == group_id).order_by(timeline.c.at)))
        related = _rows(await conn.execute(
            select(alerts).where(and_(alerts.c.workspace_id == group["workspace_id"], alerts.c.group_key == group["group_key"],
                                      alerts.c.received_at >= group["first_seen_at"], alerts.c.received_at <= group["last_seen_at"]))
            .order_by(desc(alerts.c.received_at)).limit(alerts_limit)))
        sent = _rows(await conn.execute(select(notifications).where(notifications.c.group_id == group_id)
                                        .order_by(notifications.c.requested_at)))
    return {"group": group, "timeline": events, "alerts": related, "notifications": sent}


@router.get("/dashboard/overview")
async def overview(request: Request, workspace_id: str, hours: int = Query(24, ge=1, le=24 * 30)) -> dict[str, Any]:
    """Noise (alerts, groups, dedup ratio, noisy sources), MTTA, ack rate and delivery, over `hours`."""
    since = utcnow() - timedelta(hours=hours)
    async with _engine(request).connect() as conn:
        alert_count = (await conn.execute(select(func.count()).select_from(alerts).where(
            alerts.c.workspace_id == workspace_id, alerts.c.received_at >= since))).scalar_one()
        g = (await conn.execute(select(
            func.count().label("groups"),
            func.count(groups.c.acknowledged_at).label("acknowledged"),
            func.avg(func.extract("epoch", groups.c.acknowledged_at - groups.c.first_seen_at)).label("mtta"),
            func.count().filter(groups.c.status == "resolved").label("resolved"),
        ).where(groups.c.workspace_id == workspace_id, groups.c.first_seen_at >= since))).one()
        noisy = _rows(await conn.execute(
            select(alerts.c.source, alerts.c.project, func.count().label("alerts"),
                   func.count(func.distinct(alerts.c.group_key)).label("groups"))
            .where(alerts.c.workspace_id == workspace_id, alerts.c.received_at >= since)
            .group_by(alerts.c.source, alerts.c.project).order_by(desc("alerts")).limit(5)))
        delivery = (await conn.execute(select(
            func.count().filter(notifications.c.status == "delivered").label("delivered"),
            func.count().filter(notifications.c.status == "failed").label("failed"),
            func.max(notifications.c.finished_at).filter(notifications.c.status == "delivered").label("last_delivered_at"),
        ).where(notifications.c.workspace_id == workspace_id, notifications.c.requested_at >= since,
                notifications.c.kind != "updated"))).one()  # messages posted; rewrites are not new messages
        last_webhooks = _rows(await conn.execute(select(integration_activity).where(integration_activity.c.workspace_id == workspace_id)))
    for source in noisy:
        source["alerts_per_group"] = round(source["alerts"] / source["groups"], 2) if source["groups"] else None
    return {
        "window_hours": hours,
        "alerts": alert_count,
        "groups": g.groups,
        "dedup_ratio": round(1 - g.groups / alert_count, 4) if alert_count else None,
        "ack_rate": round(g.acknowledged / g.groups, 4) if g.groups else None,
        "mtta_seconds": round(float(g.mtta), 1) if g.mtta is not None else None,
        "resolved": g.resolved,
        "noisy_sources": noisy,
        "notifications": {"delivered": delivery.delivered, "failed": delivery.failed,
                          "last_delivered_at": delivery.last_delivered_at},
        "integrations": last_webhooks,
    }


@router.get("/delivery-health")
async def delivery_health(request: Request, workspace_id: str, limit: int = Query(20, ge=1, le=200)) -> dict[str, Any]:
    """Is anything silently broken? Last webhook per integration, last Slack delivery, failures, dead letters."""
    async with _engine(request).connect() as conn:
        configured = _rows(await conn.execute(
            select(integrations.c.integration_id, integrations.c.provider, integrations.c.name, integrations.c.enabled,
                   integration_activity.c.last_webhook_at, integration_activity.c.alerts_total)
            .select_from(integrations.outerjoin(integration_activity, integrations.c.integration_id == integration_activity.c.integration_id))
            .where(integrations.c.workspace_id == workspace_id)))
        last = (await conn.execute(select(func.max(notifications.c.finished_at)).where(
            notifications.c.workspace_id == workspace_id, notifications.c.status == "delivered"))).scalar()
        pending = (await conn.execute(select(func.count()).select_from(notifications).where(
            notifications.c.workspace_id == workspace_id, notifications.c.status == "requested"))).scalar_one()
        failures = _rows(await conn.execute(select(notifications).where(
            notifications.c.workspace_id == workspace_id, notifications.c.status == "failed")
            .order_by(desc(notifications.c.finished_at)).limit(limit)))
        dead = _rows(await conn.execute(select(deadletters).where(deadletters.c.workspace_id.in_([workspace_id, "unknown"]))
                                        .order_by(desc(deadletters.c.at)).limit(limit)))
    return {"integrations": configured, "last_slack_delivery_at": last, "notifications_pending": pending,
            "recent_failures": failures, "dead_letters": dead}
