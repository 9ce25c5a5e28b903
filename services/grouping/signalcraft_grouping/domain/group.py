"""The alert group, as decide/evolve over its events (eventsourcing's aggregate6 shape).

`decide` takes the current group for a group_key (or None), one incoming alert, the time the alert
was received and the workspace's dedup window, and returns the events that follow. `evolve` folds an
event into the next state. Nothing here reads a clock, a database or a broker.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeAlias, TypeVar
from uuid import UUID

from signalcraft_schemas import AlertStatus, NormalizedAlert, Severity
from signalcraft_schemas.events import (
    EventData, GroupAcknowledged, GroupOpened, GroupResolved, GroupSnapshot, GroupStatus, GroupUpdated,
    WorkspaceConfigured,
)

DEFAULT_DEDUP_WINDOW = timedelta(minutes=60)

GroupEvent: TypeAlias = GroupOpened | GroupUpdated | GroupAcknowledged | GroupResolved


def dedup_window(workspace: WorkspaceConfigured | None) -> timedelta:
    """How long a quiet group still takes the same alert: the workspace's setting, or the default."""
    return timedelta(minutes=workspace.dedup_window_minutes) if workspace else DEFAULT_DEDUP_WINDOW


def is_active(group: GroupSnapshot | None) -> bool:
    return group is not None and group.status != GroupStatus.RESOLVED


def within_window(group: GroupSnapshot, received_at: datetime, window: timedelta) -> bool:
    return received_at - group.last_seen_at <= window


def decide(
    group: GroupSnapshot | None,
    alert: NormalizedAlert,
    *,
    group_key: str,
    received_at: datetime,
    window: timedelta,
    new_group_id: UUID,
) -> list[GroupEvent]:
    """What happens to the group when this alert arrives."""
    active = is_active(group) and within_window(group, received_at, window)  # type: ignore[arg-type]
    if alert.status == AlertStatus.RESOLVED:
        if not is_active(group):
            return []  # nothing open to resolve (already resolved, or never seen)
        assert group is not None
        resolved = group.model_copy(update={"status": GroupStatus.RESOLVED, "last_seen_at": max(group.last_seen_at, received_at)})
        return [GroupResolved(group=resolved, reason="source_resolved")]
    if alert.status == AlertStatus.ACKNOWLEDGED:
        if not active or group is None or group.status == GroupStatus.ACKNOWLEDGED:
            return []
        return [GroupAcknowledged(group=group.model_copy(update={"status": GroupStatus.ACKNOWLEDGED}), by=alert.source)]
    if not active:
        opened = GroupSnapshot(
            group_id=new_group_id, group_key=group_key, source=alert.source, project=alert.project,
            environment=alert.environment, fingerprint=alert.fingerprint, title=alert.title,
            description=alert.description, severity=alert.severity, status=GroupStatus.OPEN, count=1,
            first_seen_at=received_at, last_seen_at=received_at, link=alert.link, tags=dict(alert.tags),
        )
        return [GroupOpened(group=opened)]
    assert group is not None
    updated = group.model_copy(
        update={
            "count": group.count + 1,
            "last_seen_at": max(group.last_seen_at, received_at),
            "severity": max(group.severity, alert.severity, key=lambda s: Severity(s).rank),
            "title": alert.title or group.title,
            "link": alert.link or group.link,
        }
    )
    return [GroupUpdated(group=updated, alerts_added=1)]


def evolve(state: GroupSnapshot | None, event: EventData) -> GroupSnapshot | None:
    if isinstance(event, (GroupOpened, GroupUpdated, GroupAcknowledged, GroupResolved)):
        return event.group
    return state


def close_quiet(group: GroupSnapshot | None, *, group_id: UUID, quiet_since: datetime, now: datetime) -> list[GroupEvent]:
    """Auto-close: resolve the group if it is still the same group and nothing arrived since."""
    if not is_active(group) or group is None or group.group_id != group_id:
        return []
    if group.last_seen_at > quiet_since:
        return []  # it spoke again after the escalator's timer was set
    return [GroupResolved(group=group.model_copy(update={"status": GroupStatus.RESOLVED}), reason="quiet_timeout")]


C = TypeVar("C")


def coalesce(emitted: list[tuple[GroupEvent, C]]) -> list[tuple[GroupEvent, C]]:
    """Within one processed batch, many alerts for one group become one event downstream.

    Each event travels with its cause (the incoming event). Opens, acks and resolves are kept; an
    update merges into the group's previous event in the batch when that is an open or an update
    (the snapshot is the newest, the cause the newest alert). Order of first appearance is kept.
    """
    result: list[tuple[GroupEvent, C]] = []
    last_index: dict[UUID, int] = {}
    for event, cause in emitted:
        gid = event.group.group_id
        if isinstance(event, GroupUpdated) and gid in last_index:
            previous, _ = result[last_index[gid]]
            if isinstance(previous, GroupOpened):
                result[last_index[gid]] = (GroupOpened(group=event.group), cause)
                continue
            if isinstance(previous, GroupUpdated):
                merged = GroupUpdated(group=event.group, alerts_added=previous.alerts_added + event.alerts_added)
                result[last_index[gid]] = (merged, cause)
                continue
        result.append((event, cause))
        last_index[gid] = len(result) - 1
    return result
