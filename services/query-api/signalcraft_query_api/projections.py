"""Read models: each event folded into the tables the UI reads. Replaying topics rebuilds them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert

from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import (
    AlertNormalized, EscalationArmed, EscalationFired, GroupAcknowledged, GroupOpened, GroupResolved, GroupUpdated,
    MessageDeadLettered, NotificationDelivered, NotificationFailed, NotificationRequested,
)

from .tables import deadletters, groups, integration_activity, notifications, timeline

ALERT_COLUMNS = ("event_id", "workspace_id", "integration_id", "delivery_id", "group_key", "source", "source_event_id",
                 "project", "environment", "severity", "status", "fingerprint", "title", "link", "tags",
                 "occurred_at", "received_at")
_ALERT_TYPES = ("uuid", *["text"] * 14, "timestamptz", "timestamptz")  # tags travel as text, cast to jsonb
# Every alert lands here: one constant statement per batch, binary parameters (as ingest does).
INSERT_ALERTS = (
    f"INSERT INTO query.alerts ({', '.join(ALERT_COLUMNS)}) "
    f"SELECT {', '.join(f'c{i}::jsonb' if c == 'tags' else f'c{i}' for i, c in enumerate(ALERT_COLUMNS))} "
    f"FROM unnest({', '.join(f'%b::{t}[]' for t in _ALERT_TYPES)}) AS t({', '.join(f'c{i}' for i in range(len(ALERT_COLUMNS)))}) "
    "ON CONFLICT DO NOTHING"
)
GROUP_EVENTS = (GroupOpened, GroupUpdated, GroupAcknowledged, GroupResolved)
TIMELINE_KIND = {
    GroupOpened: "opened", GroupUpdated: "alerts_added", GroupAcknowledged: "acknowledged", GroupResolved: "resolved",
    NotificationRequested: "notification_requested", NotificationDelivered: "notification_delivered",
    NotificationFailed: "notification_failed", EscalationArmed: "escalation_armed", EscalationFired: "escalated",
}


def _timeline_detail(data: Any) -> dict[str, Any]:
    if isinstance(data, GROUP_EVENTS):
        detail = {"count": data.group.count, "severity": data.group.severity, "status": data.group.status}
        if isinstance(data, GroupUpdated):
            detail["alerts_added"] = data.alerts_added
        if isinstance(data, GroupResolved):
            detail["reason"] = data.reason
        if isinstance(data, GroupAcknowledged):
            detail["by"] = data.by
        return detail
    return data.model_dump(mode="json", exclude={"group"})


def _group_id(data: Any) -> Any:
    return data.group.group_id if hasattr(data, "group") else getattr(data, "group_id", None)


async def project(uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> None:
    conn = uow.connection
    alert_rows: list[dict[str, Any]] = []
    activity: dict[str, dict[str, Any]] = {}
    timeline_rows: list[dict[str, Any]] = []
    counts: dict[str, int] = defaultdict(int)
    for env in envelopes:
        data = env.data
        if isinstance(data, AlertNormalized):
            a = data.alert
            alert_rows.append({
                "event_id": env.id, "workspace_id": env.workspace_id, "integration_id": data.integration_id,
                "delivery_id": data.delivery_id, "group_key": data.group_key, "source": a.source,
                "source_event_id": a.source_event_id, "project": a.project, "environment": a.environment,
                "severity": a.severity.value, "status": a.status.value, "fingerprint": a.fingerprint, "title": a.title,
                "link": a.link, "tags": orjson.dumps(a.tags).decode(), "occurred_at": a.occurred_at,
                "received_at": env.occurred_at,
            })
            counts[data.integration_id] += 1
            seen = activity.get(data.integration_id)
            if seen is None or seen["last_webhook_at"] < env.occurred_at:
                activity[data.integration_id] = {"integration_id": data.integration_id, "workspace_id": env.workspace_id,
                                                 "last_webhook_at": env.occurred_at}
            continue
        if isinstance(data, MessageDeadLettered):
            await conn.execute(insert(deadletters).values(
                event_id=env.id, workspace_id=env.workspace_id, consumer=data.consumer, topic=data.topic,
                partition=data.partition, offset=data.offset, original_type=data.original_type, error=data.error,
                at=env.occurred_at).on_conflict_do_nothing())
            continue
        if isinstance(data, GROUP_EVENTS):
            await _upsert_group(conn, env, data)
        elif isinstance(data, NotificationRequested):
            await conn.execute(insert(notifications).values(
                notification_id=env.id, workspace_id=env.workspace_id, group_id=data.group.group_id, kind=data.kind.value,
                channel=data.channel, status="requested", attempts=0, requested_at=env.occurred_at,
            ).on_conflict_do_nothing())
            if data.kind.value == "new_group":
                await conn.execute(update(groups).where(groups.c.group_id == data.group.group_id)
                                   .values(channel=data.channel, runbook_url=data.runbook_url))
        elif isinstance(data, (NotificationDelivered, NotificationFailed)):
            key = data.request_id or env.id
            values = {
                "status": "delivered" if isinstance(data, NotificationDelivered) else "failed",
                "error": getattr(data, "error", None), "attempts": data.attempts, "finished_at": env.occurred_at,
                "latency_ms": getattr(data, "latency_ms", None),
            }
            stmt = insert(notifications).values(notification_id=key, workspace_id=env.workspace_id, group_id=data.group_id,
                                                kind=data.kind.value, channel=data.channel, **values)
            await conn.execute(stmt.on_conflict_do_update(index_elements=[notifications.c.notification_id], set_=values))
            if isinstance(data, NotificationDelivered):
                await conn.execute(update(groups).where(groups.c.group_id == data.group_id, groups.c.notified_at.is_(None))
                                   .values(notified_at=env.occurred_at))
        gid = _group_id(data)
        kind = TIMELINE_KIND.get(type(data))
        if gid is not None and kind is not None:
            timeline_rows.append({"event_id": env.id, "group_id": gid, "at": env.occurred_at, "kind": kind,
                                  "detail": _timeline_detail(data)})
    if alert_rows:
        driver = await uow.driver_connection()
        await driver.execute(INSERT_ALERTS, [[row[c] for row in alert_rows] for c in ALERT_COLUMNS], prepare=True)
    if timeline_rows:
        await conn.execute(insert(timeline).on_conflict_do_nothing(), timeline_rows)
    for integration_id, row in activity.items():
        stmt = insert(integration_activity).values(**row, alerts_total=counts[integration_id])
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=[integration_activity.c.integration_id],
            set_={"last_webhook_at": func.greatest(integration_activity.c.last_webhook_at, stmt.excluded.last_webhook_at),
                  "alerts_total": integration_activity.c.alerts_total + stmt.excluded.alerts_total},
        ))


async def _upsert_group(conn: Any, env: Envelope[Any], data: Any) -> None:
    g = data.group
    values = {
        "workspace_id": env.workspace_id, "group_key": g.group_key, "source": g.source, "project": g.project,
        "environment": g.environment, "severity": g.severity.value, "status": g.status.value, "title": g.title,
        "description": g.description, "count": g.count, "first_seen_at": g.first_seen_at,
        "last_seen_at": g.last_seen_at, "link": g.link, "tags": g.tags,
    }
    if isinstance(data, GroupAcknowledged):
        values["acknowledged_at"] = env.occurred_at
    if isinstance(data, GroupResolved):
        values["resolved_at"] = env.occurred_at
    stmt = insert(groups).values(group_id=g.group_id, **values)
    update_values = {k: stmt.excluded[k] for k in values}
    # Events about one group arrive in order, but a replay must not move a count backwards.
    update_values["count"] = func.greatest(groups.c.count, stmt.excluded["count"])
    await conn.execute(stmt.on_conflict_do_update(index_elements=[groups.c.group_id], set_=update_values))
