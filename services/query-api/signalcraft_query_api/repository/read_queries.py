"""What the read API selects: inbox, groups with timeline, dashboard figures, delivery health, the
change feed. Pages are keyset pages over a total order ((time or count, id)), so rows sharing a
timestamp are neither skipped nor repeated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, asc, case, desc, func, literal, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.read_views import OverviewCounts, first_whole_day, first_whole_hour
from .rollup import ALERT_WINDOW, DELIVERY_WINDOW, GROUP_COUNTERS, GROUP_WINDOW
from .tables import (
    alerts, deadletters, group_changes, groups, integration_activity, integration_rejections,
    integrations, notes, notifications, slack_connections, timeline,
)

Row = dict[str, Any]

def _window(workspace_id: str, since: datetime) -> dict[str, Any]:
    """The parameters of a window's rollup statements: from `since`, the first whole hour and day."""
    hour = first_whole_hour(since)
    return {"w": workspace_id, "since": since, "hour": hour, "day": first_whole_day(hour)}


def _mean(total: Any, count: int) -> float | None:
    return float(total) / count if count else None

SEVERITY_RANK = case({"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}, value=groups.c.severity, else_=0)
SORT_KEYS = {"last_seen": groups.c.last_seen_at, "count": groups.c.count, "severity": SEVERITY_RANK}


@dataclass(frozen=True)
class Filters:
    """The inbox filters: column = value for each given, tags all present (key=value), title containing
    `text`, and a time range (received_at for alerts, last_seen_at for groups)."""

    equal: dict[str, str | None] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(table: Any, workspace_id: str, filters: Filters, time_column: Any) -> list[Any]:
    cond = [table.c.workspace_id == workspace_id]
    cond += [table.c[name] == value for name, value in filters.equal.items() if value is not None]
    if filters.tags:
        cond.append(table.c.tags.contains(filters.tags))
    if filters.text:
        escaped = filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond.append(table.c.title.ilike(f"%{escaped}%", escape="\\"))
    if filters.since is not None:
        cond.append(time_column >= filters.since)
    if filters.until is not None:
        cond.append(time_column < filters.until)
    return cond


def _rows(result: Any) -> list[Row]:
    return [dict(r._mapping) for r in result]


def _group_of_alert() -> Any:
    """The group an alert counted in: of its key's groups, the last opened at or before it arrived
    (a key holds one group at a time; a new one opens only when the last one is closed)."""
    g = groups.alias("g")
    return (select(g.c.group_id).where(g.c.workspace_id == alerts.c.workspace_id, g.c.group_key == alerts.c.group_key,
                                       g.c.first_seen_at <= alerts.c.received_at)
            .order_by(desc(g.c.first_seen_at)).limit(1).scalar_subquery().label("group_id"))


class ReadQueries:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def alerts(self, workspace_id: str, filters: Filters, limit: int, after: tuple[datetime, UUID] | None = None,
                     before: datetime | None = None) -> list[Row]:
        """Newest first, each with its group_id; `after`: the (received_at, event_id) the previous page
        ended with; `before` (deprecated): received_at strictly before."""
        cond = _where(alerts, workspace_id, filters, alerts.c.received_at)
        if after is not None:
            cond.append(tuple_(alerts.c.received_at, alerts.c.event_id) < tuple_(literal(after[0]), literal(after[1])))
        if before is not None:
            cond.append(alerts.c.received_at < before)
        return _rows(await self._conn.execute(
            select(alerts, _group_of_alert()).where(and_(*cond))
            .order_by(desc(alerts.c.received_at), desc(alerts.c.event_id)).limit(limit)))

    async def groups(self, workspace_id: str, filters: Filters, limit: int, sort: str = "last_seen",
                     after: tuple[Any, UUID] | None = None, before: datetime | None = None,
                     unassigned: bool = False) -> list[Row]:
        """Largest `sort` key first (last seen, count or severity), ties by group id; `after`: the
        (key, group_id) the previous page ended with."""
        key = SORT_KEYS[sort]
        cond = _where(groups, workspace_id, filters, groups.c.last_seen_at)
        if unassigned:
            cond.append(groups.c.assignee.is_(None))
        if after is not None:
            cond.append(tuple_(key, groups.c.group_id) < tuple_(literal(after[0]), literal(after[1])))
        if before is not None:
            cond.append(groups.c.last_seen_at < before)
        return _rows(await self._conn.execute(
            select(groups, key.label("sort_key")).where(and_(*cond))
            .order_by(desc(key), desc(groups.c.group_id)).limit(limit)))

    async def group_totals(self, workspace_id: str, filters: Filters, unassigned: bool = False) -> tuple[dict[str, int], int]:
        """Per status, the groups matching the filters other than status; and how many are unassigned."""
        equal = {k: v for k, v in filters.equal.items() if k != "status"}
        cond = _where(groups, workspace_id, Filters(equal, filters.tags, filters.text, filters.since, filters.until),
                      groups.c.last_seen_at)
        if unassigned:
            cond.append(groups.c.assignee.is_(None))
        result = await self._conn.execute(
            select(groups.c.status, func.count().label("n"),
                   func.count().filter(groups.c.assignee.is_(None)).label("unassigned"))
            .where(and_(*cond)).group_by(groups.c.status))
        by_status, unassigned_total = {}, 0
        for row in result:
            if filters.equal.get("status") in (None, row.status):
                unassigned_total += row.unassigned
            by_status[row.status] = row.n
        return by_status, unassigned_total

    async def group(self, group_id: UUID, workspace_id: str | None = None) -> Row | None:
        query = select(groups).where(groups.c.group_id == group_id)
        if workspace_id is not None:
            query = query.where(groups.c.workspace_id == workspace_id)
        found = _rows(await self._conn.execute(query))
        return found[0] if found else None

    async def group_detail(self, group: Row, alerts_limit: int) -> dict[str, Any]:
        """The group's stored timeline, first alert, recent alerts, notifications and notes."""
        conn, group_id = self._conn, group["group_id"]
        events = _rows(await conn.execute(select(timeline).where(timeline.c.group_id == group_id)
                                          .order_by(timeline.c.at, timeline.c.event_id)))
        of_group = (alerts.c.workspace_id == group["workspace_id"], alerts.c.group_key == group["group_key"],
                    alerts.c.received_at >= group["first_seen_at"], alerts.c.received_at <= group["last_seen_at"])
        related = _rows(await conn.execute(select(alerts, _group_of_alert()).where(*of_group)
                                           .order_by(desc(alerts.c.received_at), desc(alerts.c.event_id))
                                           .limit(alerts_limit)))
        first = _rows(await conn.execute(select(alerts).where(*of_group)
                                         .order_by(asc(alerts.c.received_at), asc(alerts.c.event_id)).limit(1)))
        sent = _rows(await conn.execute(select(notifications).where(notifications.c.group_id == group_id)
                                        .order_by(notifications.c.requested_at)))
        written = _rows(await conn.execute(select(notes).where(notes.c.group_id == group_id)
                                           .order_by(notes.c.at, notes.c.note_id)))
        return {"timeline": events, "first_alert": first[0] if first else None, "alerts": related,
                "notifications": sent, "notes": written}

    async def overview_counts(self, workspace_id: str, since: datetime) -> OverviewCounts:
        conn = self._conn
        alerts_per_hour, noisy = await self._alert_figures(workspace_id, since)
        per_hour_groups, totals, by_source, by_rule = await self._group_figures(workspace_id, since)
        delivery = await self._delivery_figures(workspace_id, since)
        last_webhooks = _rows(await conn.execute(select(integration_activity).where(integration_activity.c.workspace_id == workspace_id)))
        alert_count = sum(alerts_per_hour.values())  # the same alerts as the hours': no scan of its own
        return OverviewCounts(
            alerts=alert_count, groups=totals["groups"], acknowledged=totals["acknowledged"],
            mean_ack_seconds=_mean(totals["ack_seconds"], totals["acknowledged"]),
            resolved=totals["resolved"], noisy_sources=noisy,
            acknowledged_by={"slack": totals["acked_slack"], "api": totals["acked_api"],
                             "provider": totals["acked_provider"]},
            delivered=delivery.delivered, failed=delivery.failed, last_delivered_at=delivery.last_delivered_at,
            integrations=last_webhooks, mean_resolve_seconds=_mean(totals["resolve_seconds"], totals["resolved_timed"]),
            alerts_per_hour=alerts_per_hour, groups_per_hour=per_hour_groups, by_source=by_source, by_rule=by_rule)

    async def _group_figures(self, workspace_id: str, since: datetime) -> tuple[dict[datetime, int], Row, list[Row], list[Row]]:
        """Groups opened since `since`: per hour, in all, per source and per rule, from the rollup
        (repository/rollup.py). Test notifications count nowhere. The same figures as counting the
        window's groups."""
        per_hour: dict[datetime, int] = {}
        totals: Row = dict.fromkeys(GROUP_COUNTERS, 0)
        by: dict[str, list[Row]] = {"source": [], "rule_id": []}
        for r in await self._conn.execute(text(GROUP_WINDOW), _window(workspace_id, since)):
            if not r.groups or r.groups <= 0:  # none, or every group of it taken back (deleted), not yet folded away
                continue
            if r.per_hour:
                per_hour[r.hour] = r.groups
            elif not r.no_source or not r.no_rule:
                key = "source" if not r.no_source else "rule_id"
                by[key].append({key: r.source if key == "source" else r.rule_id, "groups": r.groups, "acted": r.acted,
                                "self_resolved": r.self_resolved, "untouched": r.untouched})
            else:
                totals = {c: getattr(r, c) for c in GROUP_COUNTERS}
        return per_hour, totals, by["source"], by["rule_id"]

    async def _delivery_figures(self, workspace_id: str, since: datetime) -> Any:
        """First messages delivered and failed since `since` (from the rollup, as the groups'), and the
        newest delivery's finish time (from the end of an index of deliveries by finish time)."""
        return (await self._conn.execute(text(DELIVERY_WINDOW), _window(workspace_id, since))).one()

    async def _alert_figures(self, workspace_id: str, since: datetime) -> tuple[dict[datetime, int], list[Row]]:
        """Alerts received per hour since `since` and the five noisiest sources with their groups (group
        keys whose last alert is since `since`), from the rollup (repository/rollup.py), not from the
        window's alerts. Test notifications count nowhere. The same figures as counting the window's
        alerts."""
        per_hour: dict[datetime, int] = {}
        per_source: list[Row] = []
        for r in await self._conn.execute(text(ALERT_WINDOW), _window(workspace_id, since)):
            if r.alerts <= 0:  # an hour emptied by retention, not yet folded away, counts nothing
                continue
            if r.per_hour:
                per_hour[r.hour] = r.alerts
            else:
                per_source.append({"source": r.source, "project": r.project, "alerts": r.alerts, "groups": r.keys})
        per_source.sort(key=lambda row: (-row["alerts"], row["source"] or "", row["project"] or ""))
        return per_hour, per_source[:5]

    async def delivery_health(self, workspace_id: str, limit: int, history_since: datetime) -> dict[str, Any]:
        """Is anything silently broken? Per integration: last webhook, webhooks throttled and rejected,
        its webhooks over the history window (for its usual gap); last Slack delivery, failures, dead
        letters, the Slack token's last check. Only this workspace's dead letters: one whose
        workspace could not be read is in `dead_letters` (the global view), not here."""
        conn = self._conn
        configured = _rows(await conn.execute(
            select(integrations.c.integration_id, integrations.c.provider, integrations.c.name, integrations.c.enabled,
                   integration_activity.c.last_webhook_at, integration_activity.c.alerts_total,
                   integration_activity.c.throttled_total, integration_activity.c.last_throttled_at)
            .select_from(integrations.outerjoin(integration_activity, integrations.c.integration_id == integration_activity.c.integration_id))
            .where(integrations.c.workspace_id == workspace_id).order_by(integrations.c.integration_id)))
        rejected = _rows(await conn.execute(select(integration_rejections).where(
            integration_rejections.c.workspace_id == workspace_id).order_by(integration_rejections.c.status)))
        history = _rows(await conn.execute(
            select(alerts.c.integration_id, func.count(func.distinct(alerts.c.delivery_id)).label("webhooks"),
                   func.min(alerts.c.received_at).label("first_at"))
            .where(alerts.c.workspace_id == workspace_id, alerts.c.received_at >= history_since)
            .group_by(alerts.c.integration_id)))
        last = (await conn.execute(select(func.max(notifications.c.finished_at)).where(
            notifications.c.workspace_id == workspace_id, notifications.c.status == "delivered"))).scalar()
        pending = (await conn.execute(select(func.count()).select_from(notifications).where(
            notifications.c.workspace_id == workspace_id, notifications.c.status == "requested"))).scalar_one()
        failures = _rows(await conn.execute(select(notifications).where(
            notifications.c.workspace_id == workspace_id, notifications.c.status == "failed")
            .order_by(desc(notifications.c.finished_at)).limit(limit)))
        slack = _rows(await conn.execute(select(slack_connections.c.team_id, slack_connections.c.token_status,
                                                slack_connections.c.token_checked_at)
                                         .where(slack_connections.c.workspace_id == workspace_id)))
        dead = await self.dead_letters(workspace_id, limit)
        return {"integrations": configured, "rejected": rejected, "history": {h["integration_id"]: h for h in history},
                "last_slack_delivery_at": last, "notifications_pending": pending, "recent_failures": failures,
                "dead_letters": dead, "slack": slack[0] if slack else None}

    async def dead_letters(self, workspace_id: str | None, limit: int) -> list[Row]:
        """Newest first; of one workspace, or (None) of all, including those whose workspace is unknown."""
        query = select(deadletters).order_by(desc(deadletters.c.at)).limit(limit)
        if workspace_id is not None:
            query = query.where(deadletters.c.workspace_id == workspace_id)
        return _rows(await self._conn.execute(query))

    async def changes_after(self, workspace_id: str, seq: int, limit: int) -> list[Row]:
        """The workspace's group changes numbered after `seq`, oldest first."""
        return _rows(await self._conn.execute(
            select(group_changes.c.seq, group_changes.c.type, group_changes.c.data)
            .where(group_changes.c.workspace_id == workspace_id, group_changes.c.seq > seq)
            .order_by(group_changes.c.seq).limit(limit)))

    async def last_change(self, workspace_id: str) -> int:
        return (await self._conn.execute(select(func.coalesce(func.max(group_changes.c.seq), 0))
                                         .where(group_changes.c.workspace_id == workspace_id))).scalar_one()
