"""Read models: each event folded into the tables the UI reads. Replaying topics rebuilds them.

Pure decisions only: which rows (plain dicts keyed by column name) and which timeline entry an
event becomes. `handlers.py` says what happens to each event type; the repository writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from signalcraft_schemas import Envelope
from signalcraft_schemas.events import (
    AlertNormalized, EscalationArmed, EscalationCancelled, EscalationFired, EventData, GroupAcknowledged, GroupAction,
    GroupAssigned, GroupCommandRejected, GroupOpened, GroupReopened, GroupResolved, GroupSeverityRaised, GroupSnoozed,
    GroupUnacknowledged, GroupUnsnoozed, GroupUpdated, MessageDeadLettered, NotificationDelivered, NotificationFailed, NotificationKind,
    NotificationRequested, WebhooksThrottled,
)
from signalcraft_schemas.events import GroupNoteAdded, WebhooksRejected

from .silence import SIGNALCRAFT

Row = dict[str, Any]  # one read-model row: column name -> value

GroupEvent = (GroupOpened | GroupUpdated | GroupAcknowledged | GroupResolved | GroupReopened | GroupUnacknowledged
              | GroupSnoozed | GroupUnsnoozed | GroupAssigned | GroupSeverityRaised | GroupNoteAdded)
NotificationResult = NotificationDelivered | NotificationFailed
TIMELINE_KIND: dict[type[EventData], str] = {
    GroupOpened: "opened", GroupUpdated: "alerts_added", GroupAcknowledged: "acknowledged", GroupResolved: "resolved",
    GroupReopened: "reopened", GroupUnacknowledged: "unacknowledged", GroupSnoozed: "snoozed",
    GroupUnsnoozed: "unsnoozed", GroupAssigned: "assigned", GroupCommandRejected: "command_rejected",
    NotificationRequested: "notification_requested", NotificationDelivered: "notification_delivered",
    NotificationFailed: "notification_failed", EscalationArmed: "escalation_armed", EscalationFired: "escalated",
    EscalationCancelled: "escalation_cancelled", GroupSeverityRaised: "severity_raised", GroupNoteAdded: "note",
}
# The action each applied command's event answers (its outcome, for `?wait=true`).
ACTION_OF: dict[type[EventData], GroupAction] = {
    GroupAcknowledged: GroupAction.ACK, GroupUnacknowledged: GroupAction.UNACK, GroupSnoozed: GroupAction.SNOOZE,
    GroupUnsnoozed: GroupAction.UNSNOOZE, GroupResolved: GroupAction.RESOLVE, GroupAssigned: GroupAction.ASSIGN,
    GroupNoteAdded: GroupAction.NOTE,
}
# Timeline details worth showing, where an event has them.
_DETAIL_FIELDS = ("by", "reason", "until", "flap_count", "flapping", "fired_during_snooze", "assignee", "command_id",
                  "from_severity", "to_severity", "alerts", "within_seconds", "environment", "text")


@dataclass
class ProjectionBatch:
    """Rows of one consumed batch that are written together, one statement per kind of row, after
    every event of the batch has been seen (a statement per event cost a round trip each: most of
    the projection's time). Each list is in event order; `merged_group_rows` and the repository fold
    several rows about one group or notification the way one statement per event would have."""

    alerts: list[Row] = field(default_factory=list)
    groups: list[Row] = field(default_factory=list)  # group_row()s
    outcomes: list[Row] = field(default_factory=list)  # command_outcome_row()s
    requested: list[Row] = field(default_factory=list)  # notification_requested_row()s
    results: list[Row] = field(default_factory=list)  # notification_result_row()s
    routes: list[Row] = field(default_factory=list)  # group_route()s, with their group_id
    notified: list[Row] = field(default_factory=list)  # {"group_id", "at"}: a delivery about the group
    timeline: list[Row] = field(default_factory=list)
    changes: list[Row] = field(default_factory=list)  # the workspace change feed (SSE), in event order


# Stamps the first event to set them keeps: the first acknowledgement (MTTA), the first person's action.
FIRST_STAMPS = ("acknowledged_at", "person_acted_at")


def merged_group_rows(rows: list[Row]) -> list[Row]:
    """One row per group, as upserting `rows` one after another would leave it: the newest event's
    columns, the highest count (a replay must not move it back), the first stamps of FIRST_STAMPS,
    and `resolved_at` as the last event that set or cleared it did. In order of first appearance."""
    merged: dict[Any, Row] = {}
    for row in rows:
        seen = merged.get(row["group_id"])
        if seen is None:
            merged[row["group_id"]] = dict(row)
            continue
        folded = {**seen, **row, "count": max(seen["count"], row["count"])}
        for stamp in FIRST_STAMPS:
            if seen.get(stamp) is not None:
                folded[stamp] = seen[stamp]
        merged[row["group_id"]] = folded
    return list(merged.values())


def alert_row(env: Envelope[AlertNormalized]) -> Row:
    data, alert = env.data, env.data.alert
    return {
        "event_id": env.id, "workspace_id": env.workspace_id, "integration_id": data.integration_id,
        "delivery_id": data.delivery_id, "group_key": data.group_key, "source": alert.source,
        "source_event_id": alert.source_event_id, "project": alert.project, "environment": alert.environment,
        "severity": alert.severity.value, "status": alert.status.value, "fingerprint": alert.fingerprint,
        "title": alert.title, "link": alert.link, "tags": alert.tags, "occurred_at": alert.occurred_at,
        "received_at": env.occurred_at, "is_test": alert.is_test,
    }


def webhook_activity(alerts: list[Row]) -> list[Row]:
    """Per integration, in order of first appearance: its newest webhook in these alerts and how many
    alerts it sent (added to the stored total). SignalCraft's own alerts (a source gone silent) came
    through no webhook: no integration's activity."""
    activity: dict[str, Row] = {}
    for alert in alerts:
        if alert["integration_id"] == SIGNALCRAFT:
            continue
        seen = activity.get(alert["integration_id"])
        if seen is None:
            activity[alert["integration_id"]] = {
                "integration_id": alert["integration_id"], "workspace_id": alert["workspace_id"],
                "last_webhook_at": alert["received_at"], "alerts_total": 1}
            continue
        seen["alerts_total"] += 1
        if seen["last_webhook_at"] < alert["received_at"]:
            seen["workspace_id"], seen["last_webhook_at"] = alert["workspace_id"], alert["received_at"]
    return list(activity.values())


def throttled_activity(env: Envelope[WebhooksThrottled]) -> Row:
    """Webhooks ingest refused over the integration's rate limit: added to its throttled total."""
    return {"integration_id": env.data.integration_id, "workspace_id": env.workspace_id,
            "alerts_total": 0, "throttled_total": env.data.count, "last_throttled_at": env.data.last_at}


def group_row(env: Envelope[GroupEvent]) -> Row:
    """The group as its newest event shows it; an acknowledgement or resolution also stamps when."""
    group, data = env.data.group, env.data
    row = {
        "group_id": group.group_id, "workspace_id": env.workspace_id, "group_key": group.group_key,
        "source": group.source, "project": group.project, "environment": group.environment,
        "severity": group.severity.value, "status": group.status.value, "title": group.title,
        "description": group.description, "count": group.count, "first_seen_at": group.first_seen_at,
        "last_seen_at": group.last_seen_at, "link": group.link, "tags": group.tags,
        "acknowledged_by": group.acknowledged_by, "snoozed_until": group.snoozed_until, "resolved_by": group.resolved_by,
        "reopen_count": group.reopen_count, "flapping": group.flapping, "is_test": group.is_test,
        "assignee": group.assignee,
    }
    if isinstance(data, GroupAcknowledged):
        row["acknowledged_at"] = env.occurred_at  # the first acknowledgement stays (MTTA)
    if isinstance(data, GroupResolved):
        row["resolved_at"] = env.occurred_at
    if isinstance(data, GroupReopened):
        row["resolved_at"] = None
    if acted_by_a_person(data):
        row["person_acted_at"] = env.occurred_at  # the first stays (actionability)
    return row


def acted_by_a_person(data: EventData) -> bool:
    """Someone looked at the group: acked or snoozed it (in Slack, the API, or the provider's own UI),
    or resolved it by hand. A source resolving its own alert, a timer, or a quiet timeout is nobody."""
    if isinstance(data, GroupResolved):
        return data.reason == "manual"
    if isinstance(data, (GroupAcknowledged, GroupSnoozed)):
        return not data.by.startswith("system:")
    return False


def note_row(env: Envelope[GroupNoteAdded]) -> Row:
    data = env.data
    return {"note_id": data.note_id, "group_id": data.group.group_id, "workspace_id": env.workspace_id,
            "text": data.text, "by": data.by, "at": env.occurred_at}


def group_change_row(env: Envelope[GroupEvent]) -> Row:
    """A line of the workspace's change feed (the SSE stream): the event's type and the group as it
    now stands, enough for a list to update a row without fetching it."""
    group = env.data.group
    data = {"group_id": str(group.group_id), "status": group.status.value, "severity": group.severity.value,
            "count": group.count, "title": group.title, "source": group.source, "project": group.project,
            "environment": group.environment, "last_seen_at": group.last_seen_at.isoformat(),
            "assignee": group.assignee, "by": getattr(env.data, "by", None)}
    return {"event_id": env.id, "workspace_id": env.workspace_id, "group_id": group.group_id,
            "type": env.data.TYPE, "at": env.occurred_at, "data": data}


def rejected_row(env: Envelope[WebhooksRejected]) -> Row:
    """Webhooks ingest refused (401, 4xx) for a known integration: added to its count for the status."""
    data = env.data
    return {"integration_id": data.integration_id, "status": data.status, "workspace_id": env.workspace_id,
            "count": data.count, "last_at": data.last_at}


def command_outcome_row(env: Envelope[Any]) -> Row | None:
    """Grouping's answer to a command: the group event carrying its id (applied) or its rejection."""
    data = env.data
    if isinstance(data, GroupCommandRejected):
        return {"command_id": data.command_id, "group_id": data.group_id, "workspace_id": env.workspace_id,
                "action": data.action.value, "outcome": "rejected", "event": data.TYPE, "reason": data.reason,
                "by": data.by, "at": env.occurred_at}
    command_id = getattr(data, "command_id", None)
    if command_id is None or type(data) not in ACTION_OF:
        return None  # not an answer to a command (an alert's doing, a provider's signal)
    reason = getattr(data, "reason", None)
    return {"command_id": command_id, "group_id": data.group.group_id, "workspace_id": env.workspace_id,
            "action": ACTION_OF[type(data)].value, "outcome": "applied", "event": data.TYPE,
            "reason": str(reason) if reason is not None else None, "by": data.by, "at": env.occurred_at}


def notification_requested_row(env: Envelope[NotificationRequested]) -> Row:
    data = env.data
    return {"notification_id": env.id, "workspace_id": env.workspace_id, "group_id": data.group.group_id,
            "kind": data.kind.value, "channel": data.channel, "status": "requested", "attempts": 0,
            "requested_at": env.occurred_at}


def group_route(data: NotificationRequested) -> Row | None:
    """The channel, runbook, rule and quick actions a group was first posted with; later requests
    (updates, resolutions, escalations) do not move it."""
    if data.kind != NotificationKind.NEW_GROUP:
        return None
    return {"channel": data.channel, "runbook_url": data.runbook_url, "rule_id": data.rule_id,
            "quick_actions": [button.model_dump(mode="json") for button in data.link_buttons]}


def notification_result_row(env: Envelope[NotificationResult]) -> Row:
    """The outcome, keyed by the request it answers (a result without one, e.g. no_route, by itself)."""
    data = env.data
    delivered = isinstance(data, NotificationDelivered)
    return {
        "notification_id": data.request_id or env.id, "workspace_id": env.workspace_id, "group_id": data.group_id,
        "kind": data.kind.value, "channel": data.channel, "status": "delivered" if delivered else "failed",
        "error": None if delivered else data.error, "attempts": data.attempts, "finished_at": env.occurred_at,
        "latency_ms": data.latency_ms if delivered else None,
    }


def dead_letter_row(env: Envelope[MessageDeadLettered]) -> Row:
    data = env.data
    return {"event_id": env.id, "workspace_id": env.workspace_id, "consumer": data.consumer, "topic": data.topic,
            "partition": data.partition, "offset": data.offset, "original_type": data.original_type,
            "error": data.error, "at": env.occurred_at}


def timeline_entry(env: Envelope[Any]) -> Row:
    """A line of a group's history: what happened (kind) and the facts worth showing (detail)."""
    data = env.data
    group_id = data.group_id if hasattr(data, "group_id") else data.group.group_id
    return {"event_id": env.id, "group_id": group_id, "at": env.occurred_at, "kind": TIMELINE_KIND[type(data)],
            "detail": _timeline_detail(data)}


def _timeline_detail(data: Any) -> dict[str, Any]:
    if isinstance(data, GroupEvent):
        detail: dict[str, Any] = {"count": data.group.count, "severity": data.group.severity,
                                  "status": data.group.status}
        if isinstance(data, GroupUpdated):
            detail["alerts_added"] = data.alerts_added
        if isinstance(data, GroupResolved):
            detail["reason"] = data.reason
        fields = data.model_dump(mode="json", include=set(_DETAIL_FIELDS))
        detail.update({name: value for name, value in fields.items() if value is not None})
        return detail
    return data.model_dump(mode="json", exclude={"group", "reply_to"})
