"""Durable timers: which to arm, cancel or fire, as plain functions of events and `now`.

- escalation: armed by the router for a group whose rule says "escalate after N minutes"; cancelled
  when the group is acknowledged or resolved; firing re-notifies the channel with @here.
- auto_close: re-armed at every group update to last_seen + the workspace's auto-close window;
  firing asks grouping to close the group if it is still quiet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from signalcraft_schemas.events import (
    CloseQuietGroup, EscalationArmed, EscalationFired, EventData, GroupAcknowledged, GroupOpened, GroupResolved,
    GroupSnapshot, GroupStatus, GroupUpdated, NotificationKind, NotificationRequested, WorkspaceConfigured,
)

DEFAULT_AUTO_CLOSE = timedelta(hours=24)


class TimerKind(StrEnum):
    ESCALATION = "escalation"
    AUTO_CLOSE = "auto_close"


def auto_close_window(workspace: WorkspaceConfigured | None) -> timedelta:
    """How long a group may stay quiet before it is closed: the workspace's setting, or the default."""
    return timedelta(minutes=workspace.auto_close_minutes) if workspace else DEFAULT_AUTO_CLOSE


@dataclass(frozen=True)
class Timer:
    kind: TimerKind
    group_id: UUID
    group_key: str
    workspace_id: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimerChanges:
    arm: list[Timer] = field(default_factory=list)
    cancel: list[tuple[TimerKind, UUID]] = field(default_factory=list)
    # Newer group snapshot for pending timers (the escalation message shows the current count).
    refresh: GroupSnapshot | None = None


def on_event(event: EventData, workspace_id: str, auto_close: timedelta, group_status: GroupStatus | None) -> TimerChanges:
    """What an incoming event does to the timers. `group_status` is the last status seen for the group."""
    if isinstance(event, EscalationArmed):
        if group_status in (GroupStatus.ACKNOWLEDGED, GroupStatus.RESOLVED):
            return TimerChanges()  # acknowledged before the arming reached us
        group = event.group
        return TimerChanges(arm=[Timer(TimerKind.ESCALATION, group.group_id, group.group_key, workspace_id, event.due_at, {
            "group": group.model_dump(mode="json"), "channel": event.channel, "rule_id": event.rule_id,
            "runbook_url": event.runbook_url, "level": 1})])
    if isinstance(event, (GroupOpened, GroupUpdated)):
        group = event.group
        quiet = Timer(TimerKind.AUTO_CLOSE, group.group_id, group.group_key, workspace_id, group.last_seen_at + auto_close,
                      {"quiet_since": group.last_seen_at.isoformat()})
        return TimerChanges(arm=[quiet], refresh=group)
    if isinstance(event, GroupAcknowledged):
        return TimerChanges(cancel=[(TimerKind.ESCALATION, event.group.group_id)], refresh=event.group)
    if isinstance(event, GroupResolved):
        gid = event.group.group_id
        return TimerChanges(cancel=[(TimerKind.ESCALATION, gid), (TimerKind.AUTO_CLOSE, gid)])
    return TimerChanges()


def rearms_only_while_pending(kind: TimerKind) -> bool:
    """An escalation fires once per group: arming it again applies only while it is still pending.
    The auto-close timer is re-armed at every update, whether or not an earlier one fired."""
    return kind == TimerKind.ESCALATION


def refreshed_payload(group: GroupSnapshot) -> tuple[TimerKind, dict[str, Any]]:
    """The pending timer that shows the group, and the newer part of its payload (`TimerChanges.refresh`)."""
    return TimerKind.ESCALATION, {"group": group.model_dump(mode="json")}


def fire(timer: Timer) -> list[EventData]:
    """The events a due timer produces."""
    if timer.kind == TimerKind.ESCALATION:
        group = GroupSnapshot.model_validate(timer.payload["group"])
        level = int(timer.payload.get("level", 1))
        return [
            NotificationRequested(kind=NotificationKind.ESCALATION, group=group, channel=timer.payload["channel"],
                                  mention_here=True, runbook_url=timer.payload.get("runbook_url"),
                                  rule_id=timer.payload.get("rule_id"), escalation_level=level),
            EscalationFired(group_id=group.group_id, group_key=group.group_key, channel=timer.payload["channel"], level=level),
        ]
    return [CloseQuietGroup(group_id=timer.group_id, group_key=timer.group_key,
                            quiet_since=datetime.fromisoformat(timer.payload["quiet_since"]))]


def status_after(event: EventData) -> GroupStatus | None:
    if isinstance(event, (GroupOpened, GroupUpdated, GroupAcknowledged, GroupResolved)):
        return GroupStatus(event.group.status)
    return None
