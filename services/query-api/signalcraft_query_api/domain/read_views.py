"""What the read API answers, shaped from what its queries return: the typed response models (the
OpenAPI document shows them), keyset cursors, the timeline's steps, a group's quick actions, and
the dashboard's and delivery health's arithmetic (dedup ratio, ack rate, MTTA, MTTR, hourly series,
actionability, sources gone silent)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, SupportsFloat
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field

Row = dict[str, Any]


# --- keyset cursors ----------------------------------------------------------------------------


class InvalidCursor(ValueError):
    """A cursor this API did not hand out (422)."""


def encode_cursor(*key: Any) -> str:
    """An opaque cursor: the sort key of the last row of a page, (value, id). The next page starts
    strictly after that pair, so rows sharing a timestamp (or a count) are neither skipped nor repeated."""
    values = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, UUID) else v for v in key]
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> tuple[Any, ...]:
    """The key a cursor holds, each value read as its kind (datetime, int, UUID)."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("wrong length")
        return tuple(_read(kind, value) for kind, value in zip(kinds, values, strict=True))
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise InvalidCursor(f"not a cursor of this list: {exc}") from None


def _read(kind: type, value: Any) -> Any:
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("cursor time without a zone")
        return parsed
    if kind is int and isinstance(value, bool):
        raise ValueError("not a number")
    return kind(value)


def page(rows: list[Row], limit: int, cursor: str) -> dict[str, Any]:
    """Newest first; a full page says where the next one starts (`before` = its last `cursor` value).
    Kept for callers of `before`; `next_cursor` is the page boundary that skips nothing."""
    return {"items": rows, "next_before": rows[-1][cursor] if len(rows) == limit else None}


def next_cursor(rows: list[Row], limit: int, *key: str) -> str | None:
    """The cursor after a full page (its last row's key), None after the last page."""
    return encode_cursor(*(rows[-1][k] for k in key)) if len(rows) == limit and rows else None


# --- response models ---------------------------------------------------------------------------


class Alert(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event_id: UUID
    group_id: UUID | None = Field(description="The group the alert counted in; None until grouping has decided")
    workspace_id: str
    integration_id: str | None
    delivery_id: str | None
    group_key: str
    source: str
    source_event_id: str | None = None
    project: str | None
    environment: str | None
    severity: str
    status: str
    fingerprint: str | None = None
    title: str | None
    link: str | None = None
    tags: dict[str, str] | None = None
    occurred_at: datetime | None = None
    received_at: datetime
    is_test: bool | None = None


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; None: this is the last")
    next_before: datetime | None = Field(description="Deprecated: `before` skips rows sharing a time; use cursor")


class LinkAction(BaseModel):
    label: str
    url: str


class Group(BaseModel):
    group_id: UUID
    workspace_id: str
    group_key: str
    source: str
    project: str | None
    environment: str | None
    severity: str
    status: str
    title: str | None
    description: str | None = None
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    link: str | None = None
    tags: dict[str, str] | None = None
    channel: str | None = None
    runbook_url: str | None = None
    rule_id: str | None = None
    notified_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    snoozed_until: datetime | None = None
    reopen_count: int | None = None
    flapping: bool | None = None
    is_test: bool | None = None
    assignee: str | None = None
    quick_actions: list[LinkAction] | None = Field(default=None, description="The routing rule's link buttons")
    person_acted_at: datetime | None = Field(default=None, description="When a person first acked, snoozed or "
                                             "resolved it")


class GroupTotals(BaseModel):
    total: int = Field(description="Groups matching the filters, whatever their status")
    by_status: dict[str, int]
    unassigned: int


class GroupPage(BaseModel):
    items: list[Group]
    totals: GroupTotals
    next_cursor: str | None
    next_before: datetime | None = Field(description="Deprecated (last_seen sort only): use cursor")


Step = Literal["received", "grouped", "routed", "update_requested", "notified", "notify_failed", "acked", "unacked", "snoozed",
               "unsnoozed", "escalation_armed", "escalated", "escalation_cancelled", "resolved", "reopened",
               "assigned", "note", "severity_raised", "command_rejected"]
# The stored kinds of timeline entries, in the words a person reads a group's history in.
STEP_OF_KIND: dict[str, Step] = {
    "received": "received", "opened": "grouped", "alerts_added": "grouped", "notification_requested": "routed",
    "notification_delivered": "notified", "notification_failed": "notify_failed", "acknowledged": "acked",
    "unacknowledged": "unacked", "snoozed": "snoozed", "unsnoozed": "unsnoozed", "escalation_armed": "escalation_armed",
    "escalated": "escalated", "escalation_cancelled": "escalation_cancelled", "resolved": "resolved",
    "reopened": "reopened", "assigned": "assigned", "note": "note", "severity_raised": "severity_raised",
    "command_rejected": "command_rejected",
}
# Who acts at a step when the event names no person: the service that took it.
SERVICE_OF_STEP: dict[str, str] = {"grouped": "grouping", "routed": "router", "update_requested": "router",
                                   "notified": "notifier",
                                   "notify_failed": "notifier", "escalation_armed": "escalator",
                                   "escalated": "escalator", "escalation_cancelled": "escalator",
                                   "severity_raised": "grouping", "resolved": "grouping", "reopened": "grouping"}


class TimelineEntry(BaseModel):
    event_id: UUID | None = Field(description="None for `received`, which is the first alert itself")
    at: datetime
    kind: str = Field(description="The stored kind (opened, alerts_added, notification_delivered, ...)")
    step: Step
    actor: str = Field(description='Who: "slack:T/U", "api:alice", a provider, or the service that acted')
    detail: dict[str, Any] = Field(default_factory=dict)


class Notification(BaseModel):
    notification_id: UUID
    workspace_id: str | None
    group_id: UUID | None
    kind: str | None
    channel: str | None
    status: str | None
    error: str | None = None
    attempts: int | None = None
    latency_ms: float | None = None
    requested_at: datetime | None = None
    finished_at: datetime | None = None


class Note(BaseModel):
    note_id: UUID
    text: str
    by: str
    at: datetime


class QuickAction(BaseModel):
    label: str
    kind: Literal["command", "link"]
    method: Literal["POST", "GET"]
    url: str = Field(description="An API path (command) or the rule's link")


class GroupDetail(BaseModel):
    group: Group
    assignee: str | None
    runbook_url: str | None
    timeline: list[TimelineEntry] = Field(description="Oldest first")
    alerts: list[Alert] = Field(description="Newest first, at most alerts_limit")
    notifications: list[Notification]
    notes: list[Note] = Field(description="Oldest first")
    quick_actions: list[QuickAction]


def timeline(first_alert: Row | None, entries: list[Row]) -> list[TimelineEntry]:
    """The group's history, oldest first: when its first alert arrived (from which source), then each
    stored entry with its step and who acted."""
    lines = []
    if first_alert is not None:
        lines.append(TimelineEntry(event_id=None, at=first_alert["received_at"], kind="received", step="received",
                                   actor=f"{first_alert['source']}:{first_alert['integration_id']}",
                                   detail={"alert_event_id": str(first_alert["event_id"]),
                                           "delivery_id": first_alert["delivery_id"]}))
    for entry in entries:
        step = STEP_OF_KIND.get(entry["kind"], "grouped")
        detail = entry["detail"] or {}
        if step == "routed" and detail.get("kind") not in (None, "new_group"):
            step = "update_requested"  # a rewrite or reply about a change, not the group's routing
        actor = ("router" if step == "routed" else
                 detail.get("by") or detail.get("actor") or SERVICE_OF_STEP.get(step, "signalcraft"))
        lines.append(TimelineEntry(event_id=entry["event_id"], at=entry["at"], kind=entry["kind"], step=step,
                                   actor=str(actor), detail=detail))
    return lines


COMMANDS_IN_STATE: dict[str, tuple[str, ...]] = {
    "open": ("ack", "snooze", "resolve"),
    "acknowledged": ("unack", "snooze", "resolve"),
    "snoozed": ("ack", "unsnooze", "resolve"),
    "resolved": (),
}


def quick_actions(group: Row) -> list[QuickAction]:
    """What a person can do from the group's page now: the state's commands, assign and note, the
    runbook, and the routing rule's link buttons."""
    base = f"/api/alert-groups/{group['group_id']}"
    actions = [QuickAction(label=name, kind="command", method="POST", url=f"{base}/{name}")
               for name in COMMANDS_IN_STATE.get(group["status"], ())]
    if group["status"] != "resolved":
        actions.append(QuickAction(label="assign", kind="command", method="POST", url=f"{base}/assign"))
    actions.append(QuickAction(label="note", kind="command", method="POST", url=f"{base}/notes"))
    if group.get("runbook_url"):
        actions.append(QuickAction(label="Runbook", kind="link", method="GET", url=group["runbook_url"]))
    actions += [QuickAction(label=link["label"], kind="link", method="GET", url=link["url"])
                for link in group.get("quick_actions") or []]
    return actions


# --- the dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverviewCounts:
    """The dashboard's raw figures over its window, as the queries count them."""

    alerts: int
    groups: int
    acknowledged: int
    mean_ack_seconds: SupportsFloat | None  # over the acknowledged groups; None when none was
    resolved: int
    noisy_sources: list[Row]  # source, project, alerts, groups: the five noisiest
    delivered: int
    failed: int
    last_delivered_at: datetime | None
    integrations: list[Row]  # last webhook and alert total per integration
    # Who acknowledged the groups that are acknowledged now: people in Slack, API callers, providers.
    acknowledged_by: dict[str, int] = field(default_factory=dict)
    mean_resolve_seconds: SupportsFloat | None = None  # over the resolved groups
    alerts_per_hour: dict[datetime, int] = field(default_factory=dict)  # hour -> alerts received
    groups_per_hour: dict[datetime, int] = field(default_factory=dict)  # hour -> groups opened
    by_source: list[Row] = field(default_factory=list)  # source, groups, acted, self_resolved, untouched
    by_rule: list[Row] = field(default_factory=list)  # rule_id, likewise


def dedup_ratio(alerts: int, groups: int) -> float | None:
    """The share of alerts that did not open a group of their own."""
    return round(1 - groups / alerts, 4) if alerts else None


def ack_rate(groups: int, acknowledged: int) -> float | None:
    return round(acknowledged / groups, 4) if groups else None


def mtta_seconds(mean_ack_seconds: SupportsFloat | None) -> float | None:
    return round(float(mean_ack_seconds), 1) if mean_ack_seconds is not None else None


def alerts_per_group(alerts: int, groups: int) -> float | None:
    return round(alerts / groups, 2) if groups else None


def first_whole_hour(since: datetime) -> datetime:
    """The start of the first hour wholly within a window from `since` on: `since` itself if it is
    on the hour, else the next hour. What precedes it is the part of an hour the rollup cannot give."""
    hour = since.replace(minute=0, second=0, microsecond=0)
    return hour if hour == since else hour + timedelta(hours=1)


def first_whole_day(whole_hour: datetime) -> datetime:
    """The first UTC midnight at or after `whole_hour` (itself on the hour): the rollup gives the hours
    before it one by one and the days from it on."""
    hour = whole_hour.astimezone(timezone.utc)
    day = hour.replace(hour=0)
    return day if day == hour else day + timedelta(days=1)


def hours_of(since: datetime, now: datetime) -> list[datetime]:
    """Every hour from the one `since` falls in to the one `now` falls in, oldest first."""
    hour = since.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= now:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


class SeriesPoint(BaseModel):
    at: datetime = Field(description="The hour's start")
    alerts: int
    groups: int = Field(description="Groups opened in the hour")


def hourly_series(alerts: dict[datetime, int], groups: dict[datetime, int], since: datetime,
                  now: datetime) -> list[SeriesPoint]:
    """One point per hour of the window, hours without alerts as zeros."""
    return [SeriesPoint(at=hour, alerts=alerts.get(hour, 0), groups=groups.get(hour, 0))
            for hour in hours_of(since, now)]


class Actionability(BaseModel):
    """Of a source's (or rule's) groups: how many a person acked, snoozed or resolved, against those
    that resolved themselves or that nobody touched. A low score is noise worth deleting."""

    key: str = Field(description="The source, or the rule id (`default` for the default channel)")
    groups: int
    acted: int
    self_resolved: int
    untouched: int
    score: float | None = Field(description="acted / groups")


def actionability(rows: list[Row], key: str) -> list[Actionability]:
    """Least actionable first: what to look at when deleting noise."""
    scored = [Actionability(key=str(row[key] or "default"), groups=row["groups"], acted=row["acted"],
                            self_resolved=row["self_resolved"], untouched=row["untouched"],
                            score=round(row["acted"] / row["groups"], 4) if row["groups"] else None)
              for row in rows]
    return sorted(scored, key=lambda a: (a.score if a.score is not None else 1.0, -a.groups, a.key))


class NoisySource(BaseModel):
    source: str
    project: str | None
    alerts: int
    groups: int
    alerts_per_group: float | None


class DeliveryCounts(BaseModel):
    delivered: int
    failed: int
    last_delivered_at: datetime | None


class IntegrationActivity(BaseModel):
    model_config = ConfigDict(extra="allow")

    integration_id: str
    workspace_id: str | None = None
    last_webhook_at: datetime | None = None
    alerts_total: int | None = None
    throttled_total: int | None = None
    last_throttled_at: datetime | None = None


class Overview(BaseModel):
    window_hours: int
    alerts: int
    groups: int
    dedup_ratio: float | None
    ack_rate: float | None
    acknowledged_by: dict[str, int]
    mtta_seconds: float | None
    mttr_seconds: float | None = Field(description="Mean time from a group's first alert to its resolution")
    resolved: int
    noisy_sources: list[NoisySource]
    notifications: DeliveryCounts
    integrations: list[IntegrationActivity]
    series: list[SeriesPoint] = Field(description="Alerts received and groups opened per hour of the window")
    actionability_by_source: list[Actionability]
    actionability_by_rule: list[Actionability]


def overview(counts: OverviewCounts, window_hours: int, since: datetime | None = None,
             now: datetime | None = None) -> Overview:
    """Noise (alerts, groups, dedup ratio, noisy sources), MTTA, MTTR, ack rate, delivery, the hourly
    series and actionability. Acks count whoever made them (Slack, the API, a provider); test
    notifications count nowhere."""
    noisy = [NoisySource(**source, alerts_per_group=alerts_per_group(source["alerts"], source["groups"]))
             for source in counts.noisy_sources]
    series = (hourly_series(counts.alerts_per_hour, counts.groups_per_hour, since, now)
              if since is not None and now is not None else [])
    return Overview(
        window_hours=window_hours, alerts=counts.alerts, groups=counts.groups,
        dedup_ratio=dedup_ratio(counts.alerts, counts.groups), ack_rate=ack_rate(counts.groups, counts.acknowledged),
        acknowledged_by=counts.acknowledged_by, mtta_seconds=mtta_seconds(counts.mean_ack_seconds),
        mttr_seconds=mtta_seconds(counts.mean_resolve_seconds), resolved=counts.resolved, noisy_sources=noisy,
        notifications=DeliveryCounts(delivered=counts.delivered, failed=counts.failed,
                                     last_delivered_at=counts.last_delivered_at),
        integrations=[IntegrationActivity(**row) for row in counts.integrations], series=series,
        actionability_by_source=actionability(counts.by_source, "source"),
        actionability_by_rule=actionability(counts.by_rule, "rule_id"),
    )


# --- delivery health -------------------------------------------------------------------------------

SILENT_FACTOR = 10  # quiet for ten of its usual gaps
MIN_SILENCE = timedelta(minutes=15)  # and at least this long: a source that speaks every minute may pause
MIN_HISTORY = 3  # webhooks within the history window before a usual gap means anything
HISTORY = timedelta(days=7)


@dataclass(frozen=True)
class Silence:
    usual_gap_seconds: float | None
    silent_for_seconds: float | None
    silent: bool


def silence(webhooks: int, first_at: datetime | None, last_at: datetime | None, now: datetime) -> Silence:
    """Is the source quiet much longer than usual? Its usual gap is the mean gap between its webhooks
    of the history window; quiet for SILENT_FACTOR of them (and at least MIN_SILENCE) is silent. A
    source that sent nothing within the window but did before has been quiet for over a week: silent."""
    if last_at is None:
        return Silence(None, None, False)
    quiet = (now - last_at).total_seconds()
    if webhooks < MIN_HISTORY or first_at is None:
        return Silence(None, quiet, quiet > HISTORY.total_seconds())
    gap = (last_at - first_at).total_seconds() / (webhooks - 1)
    return Silence(round(gap, 1), quiet, quiet > max(SILENT_FACTOR * gap, MIN_SILENCE.total_seconds()))


class IntegrationHealth(BaseModel):
    integration_id: str
    provider: str | None
    name: str | None
    enabled: bool | None
    last_webhook_at: datetime | None
    alerts_total: int | None
    throttled_total: int | None
    last_throttled_at: datetime | None
    rejected: dict[str, int] = Field(description="Webhooks refused per status (401 bad signature, 4xx)")
    rejected_total: int
    last_rejected_at: datetime | None
    usual_gap_seconds: float | None = Field(description="Mean gap between its webhooks over the last 7 days")
    silent_for_seconds: float | None
    silent: bool = Field(description="Quiet for much longer than its usual gap")


class SlackHealth(BaseModel):
    connected: bool
    team_id: str | None = None
    token_status: str | None = Field(default=None, description='"valid", Slack\'s error (invalid_auth, '
                                     'token_revoked, account_inactive...), "unreachable", or None until checked')
    token_checked_at: datetime | None = None


class DeadLetter(BaseModel):
    event_id: UUID
    workspace_id: str | None
    consumer: str | None
    topic: str | None
    partition: int | None
    offset: int | None
    original_type: str | None
    error: str | None
    at: datetime | None


class DeliveryHealth(BaseModel):
    integrations: list[IntegrationHealth]
    last_slack_delivery_at: datetime | None
    notifications_pending: int
    recent_failures: list[Notification]
    dead_letters: list[DeadLetter]
    slack: SlackHealth


def integration_health(row: Row, rejected: list[Row], history: Row | None, now: datetime) -> IntegrationHealth:
    quiet = silence(history["webhooks"] if history else 0, history["first_at"] if history else None,
                    row["last_webhook_at"], now)
    return IntegrationHealth(
        **{k: row.get(k) for k in ("integration_id", "provider", "name", "enabled", "last_webhook_at",
                                   "alerts_total", "throttled_total", "last_throttled_at")},
        rejected={str(r["status"]): r["count"] for r in rejected}, rejected_total=sum(r["count"] for r in rejected),
        last_rejected_at=max((r["last_at"] for r in rejected), default=None),
        usual_gap_seconds=quiet.usual_gap_seconds, silent_for_seconds=quiet.silent_for_seconds, silent=quiet.silent)


# --- the change stream (SSE) -------------------------------------------------------------------------


def sse_message(seq: int, event_type: str, data: dict[str, Any]) -> str:
    """One server-sent event: its id is the change's number, which Last-Event-ID resumes after."""
    return f"id: {seq}\nevent: {event_type}\ndata: {orjson.dumps(data).decode()}\n\n"


def resume_after(last_event_id: str | None) -> int | None:
    """The change number a stream resumes after; None (no or unreadable Last-Event-ID): from now on."""
    try:
        return max(0, int((last_event_id or "").strip()))
    except ValueError:
        return None


# --- pages and views, from the queries' rows ------------------------------------------------------


def alert_page(rows: list[Row], limit: int) -> AlertPage:
    return AlertPage(items=[Alert(**row) for row in rows],
                     next_cursor=next_cursor(rows, limit, "received_at", "event_id"),
                     next_before=rows[-1]["received_at"] if len(rows) == limit else None)


def group_page(rows: list[Row], limit: int, by_status: dict[str, int], unassigned: int, sort: str) -> GroupPage:
    """`totals` count every status under the other filters, so a tab bar shows them all at once."""
    return GroupPage(
        items=[Group(**row) for row in rows], next_cursor=next_cursor(rows, limit, "sort_key", "group_id"),
        next_before=rows[-1]["last_seen_at"] if len(rows) == limit and sort == "last_seen" else None,
        totals=GroupTotals(total=sum(by_status.values()), by_status=by_status, unassigned=unassigned))


def group_detail_view(group: Row, parts: dict[str, Any]) -> GroupDetail:
    return GroupDetail(
        group=Group(**group), assignee=group["assignee"], runbook_url=group["runbook_url"],
        timeline=timeline(parts["first_alert"], parts["timeline"]), alerts=[Alert(**a) for a in parts["alerts"]],
        notifications=[Notification(**n) for n in parts["notifications"]], notes=[Note(**n) for n in parts["notes"]],
        quick_actions=quick_actions(group))


def delivery_health_view(found: dict[str, Any], now: datetime) -> DeliveryHealth:
    rejected: dict[str, list[Row]] = {}
    for row in found["rejected"]:
        rejected.setdefault(row["integration_id"], []).append(row)
    slack = found["slack"]
    return DeliveryHealth(
        integrations=[integration_health(row, rejected.get(row["integration_id"], []),
                                         found["history"].get(row["integration_id"]), now)
                      for row in found["integrations"]],
        last_slack_delivery_at=found["last_slack_delivery_at"], notifications_pending=found["notifications_pending"],
        recent_failures=[Notification(**n) for n in found["recent_failures"]],
        dead_letters=[DeadLetter(**d) for d in found["dead_letters"]],
        slack=SlackHealth(connected=slack is not None, **(slack or {})))
