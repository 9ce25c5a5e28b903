"""The alert group's lifecycle, as decide/evolve over its events (eventsourcing's aggregate6 shape).

States: open, acknowledged, snoozed (until T, or until unsnoozed), resolved; with a reopen count and a
flapping flag. `docs/lifecycle.md` is the state table; `tests/unit/grouping/test_lifecycle.py` walks
every state with every input.

- `decide` takes the key's current group (or None), one incoming alert (firing, or a provider's signal:
  resolved, acknowledged, snoozed, assigned), the time it was received and the workspace's policy, and
  returns the events that follow.
- `decide_command` does the same for a person's (or a timer's) command: ack, unack, snooze, unsnooze,
  resolve. A command that changes nothing is answered with GroupCommandRejected and its reason.
- `close_quiet` is the auto-close timer's question: is the group still quiet?
- `evolve` folds an event into the next snapshot; `evolve_lifecycle` into what decide needs beyond it
  (recent reopens, alerts counted during a snooze).

Nothing here reads a clock, a database or a broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias, TypeVar
from uuid import UUID

from signalcraft_schemas import AlertStatus, NormalizedAlert, Severity
from signalcraft_schemas.events import (
    SNOOZE_EXPIRED_ACTOR, EventData, GroupAcknowledged, GroupAction, GroupAssigned, GroupCommand, GroupCommandRejected,
    GroupNoteAdded, GroupOpened, GroupReopened, GroupResolved, GroupSnapshot, GroupSnoozed, GroupStatus, GroupUnacknowledged,
    GroupSeverityRaised, GroupUnsnoozed, GroupUpdated, WorkspaceConfigured,
)

DEFAULT_DEDUP_WINDOW = timedelta(minutes=60)
REOPENS_KEPT = 64  # reopen times remembered for the flap count; more than any sensible threshold

GroupEvent: TypeAlias = (
    GroupOpened | GroupUpdated | GroupAcknowledged | GroupResolved | GroupReopened | GroupUnacknowledged
    | GroupSnoozed | GroupUnsnoozed | GroupAssigned | GroupSeverityRaised | GroupNoteAdded
)
Decision: TypeAlias = GroupEvent | GroupCommandRejected
GROUP_EVENTS = (GroupOpened, GroupUpdated, GroupAcknowledged, GroupResolved, GroupReopened, GroupUnacknowledged,
                GroupSnoozed, GroupUnsnoozed, GroupAssigned, GroupSeverityRaised, GroupNoteAdded)


@dataclass(frozen=True)
class FlapPolicy:
    """More than `threshold` reopens within `window` make a group flapping: its re-notifications are
    damped until it has been quiet for `quiet`."""

    threshold: int = 3
    window: timedelta = timedelta(hours=1)
    quiet: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class Lifecycle:
    """What decide needs beyond the snapshot; `evolve_lifecycle` rebuilds it from the events."""

    reopened_at: tuple[datetime, ...] = ()  # the latest reopen times, oldest first
    fired_during_snooze: int = 0  # alerts counted silently since the current snooze began


NO_HISTORY = Lifecycle()


def dedup_window(workspace: WorkspaceConfigured | None) -> timedelta:
    """How long a quiet group still takes the same alert: the workspace's setting, or the default."""
    return workspace.dedup_window if workspace else DEFAULT_DEDUP_WINDOW


def flap_policy(workspace: WorkspaceConfigured | None) -> FlapPolicy:
    if workspace is None:
        return FlapPolicy()
    return FlapPolicy(workspace.flap_threshold, timedelta(seconds=workspace.flap_window_seconds),
                      timedelta(seconds=workspace.flap_quiet_seconds))


def is_active(group: GroupSnapshot | None) -> bool:
    return group is not None and group.status != GroupStatus.RESOLVED


def within_window(group: GroupSnapshot, received_at: datetime, window: timedelta) -> bool:
    return received_at - group.last_seen_at <= window


def _higher(a: Severity, b: Severity) -> Severity:
    return max(a, b, key=lambda s: Severity(s).rank)


# --- alerts: occurrences and provider signals ----------------------------------------------


def decide(
    group: GroupSnapshot | None,
    alert: NormalizedAlert,
    *,
    group_key: str,
    received_at: datetime,
    window: timedelta,
    new_group_id: UUID,
    lifecycle: Lifecycle = NO_HISTORY,
    flapping: FlapPolicy = FlapPolicy(),
) -> list[GroupEvent]:
    """What happens to the key's group when this alert arrives."""
    if alert.status == AlertStatus.FIRING:
        return _fired(group, alert, group_key, received_at, window, new_group_id, lifecycle, flapping)
    if group is None or not is_active(group):
        return []  # a signal about nothing open: already resolved, or never seen
    by = alert.source
    if alert.status == AlertStatus.RESOLVED:
        return [GroupResolved(group=_resolved(group, received_at, by), reason="source_resolved", by=by)]
    if alert.status == AlertStatus.ACKNOWLEDGED:
        acknowledgeable = group.status in (GroupStatus.OPEN, GroupStatus.SNOOZED)
        if not acknowledgeable or not within_window(group, received_at, window):
            return []
        return [GroupAcknowledged(group=_acknowledged(group, by, received_at), by=by)]
    if alert.status == AlertStatus.SNOOZED:
        until = alert.snoozed_until
        unchanged = group.status == GroupStatus.SNOOZED and group.snoozed_until == until
        if unchanged or (until is not None and until <= received_at):
            return []
        return [GroupSnoozed(group=_snoozed(group, until), until=until, by=by)]
    if alert.status == AlertStatus.ASSIGNED and group.assignee != alert.assignee:
        return [GroupAssigned(group=group.model_copy(update={"assignee": alert.assignee}), assignee=alert.assignee, by=by)]
    return []


def _fired(group: GroupSnapshot | None, alert: NormalizedAlert, group_key: str, received_at: datetime,
           window: timedelta, new_group_id: UUID, lifecycle: Lifecycle, flapping: FlapPolicy) -> list[GroupEvent]:
    """A new occurrence: open, count, reopen, or replace a group whose window has passed."""
    opened = GroupOpened(group=_new_group(alert, group_key, received_at, new_group_id))
    if group is None:
        return [opened]
    if not within_window(group, received_at, window):
        if not is_active(group):
            return [opened]
        # Replaced: the old group ends here rather than staying open forever.
        closed = group.model_copy(update={"status": GroupStatus.RESOLVED, "resolved_at": received_at})
        return [GroupResolved(group=closed, reason="replaced"), opened]
    if group.status == GroupStatus.RESOLVED:
        return [_reopened(group, alert, received_at, lifecycle, flapping)]
    still_flapping = group.flapping and received_at - group.last_seen_at < flapping.quiet
    return [GroupUpdated(group=_counted(group, alert, received_at, flapping=still_flapping), alerts_added=1)]


def _new_group(alert: NormalizedAlert, group_key: str, received_at: datetime, group_id: UUID) -> GroupSnapshot:
    return GroupSnapshot(
        group_id=group_id, group_key=group_key, source=alert.source, project=alert.project,
        environment=alert.environment, fingerprint=alert.fingerprint, title=alert.title,
        description=alert.description, severity=alert.severity, status=GroupStatus.OPEN, count=1,
        first_seen_at=received_at, last_seen_at=received_at, link=alert.link, tags=dict(alert.tags),
        is_test=alert.is_test,
    )


def _counted(group: GroupSnapshot, alert: NormalizedAlert, received_at: datetime, **changes: Any) -> GroupSnapshot:
    """One more alert in the group: count, last seen, a severity that only rises, the newest title and link."""
    return group.model_copy(update={
        "count": group.count + 1,
        "last_seen_at": max(group.last_seen_at, received_at),
        "severity": _higher(group.severity, alert.severity),
        "title": alert.title or group.title,
        "link": alert.link or group.link,
        **changes,
    })


def flap_count(lifecycle: Lifecycle, received_at: datetime, policy: FlapPolicy) -> int:
    """Reopens within the flap window before `received_at`, plus this one."""
    return 1 + sum(1 for at in lifecycle.reopened_at if received_at - at <= policy.window)


def _reopened(group: GroupSnapshot, alert: NormalizedAlert, received_at: datetime, lifecycle: Lifecycle,
              policy: FlapPolicy) -> GroupReopened:
    flaps = flap_count(lifecycle, received_at, policy)
    was_flapping = group.flapping and received_at - group.last_seen_at < policy.quiet
    flapping = flaps > policy.threshold or was_flapping
    snapshot = _counted(group, alert, received_at, status=GroupStatus.OPEN, reopen_count=group.reopen_count + 1,
                        flapping=flapping, resolved_at=None, resolved_by=None, acknowledged_by=None,
                        acknowledged_at=None, snoozed_until=None)
    return GroupReopened(group=snapshot, flap_count=flaps, flapping=flapping)


def _resolved(group: GroupSnapshot, at: datetime, by: str | None) -> GroupSnapshot:
    return group.model_copy(update={"status": GroupStatus.RESOLVED, "last_seen_at": max(group.last_seen_at, at),
                                    "resolved_at": at, "resolved_by": by, "snoozed_until": None})


def _acknowledged(group: GroupSnapshot, by: str, at: datetime) -> GroupSnapshot:
    return group.model_copy(update={"status": GroupStatus.ACKNOWLEDGED, "acknowledged_by": by, "acknowledged_at": at,
                                    "snoozed_until": None})


def _snoozed(group: GroupSnapshot, until: datetime | None) -> GroupSnapshot:
    return group.model_copy(update={"status": GroupStatus.SNOOZED, "snoozed_until": until,
                                    "acknowledged_by": None, "acknowledged_at": None})


def _back_to_open(group: GroupSnapshot, **changes: Any) -> GroupSnapshot:
    return group.model_copy(update={"status": GroupStatus.OPEN, **changes})


# --- commands: ack, unack, snooze, unsnooze, resolve ---------------------------------------


def refusal(group: GroupSnapshot | None, command: GroupCommand, now: datetime) -> str | None:
    """Why this command changes nothing, or None when it applies."""
    if group is None:
        return "unknown_group"
    if command.action == GroupAction.NOTE and group.group_id == command.group_id:
        return None  # a note is welcome at any time, a resolved group's post-mortem too
    if group.group_id != command.group_id or group.status == GroupStatus.RESOLVED:
        return "already_resolved"  # a replaced group was closed when its successor opened
    status, action = group.status, command.action
    if action == GroupAction.ACK and status == GroupStatus.ACKNOWLEDGED:
        return "already_acknowledged"
    if action == GroupAction.UNACK and status != GroupStatus.ACKNOWLEDGED:
        return "not_acknowledged"
    if action == GroupAction.SNOOZE and command.snooze_until is not None and command.snooze_until <= now:
        return "snooze_until_in_the_past"
    if action == GroupAction.ASSIGN and command.assignee == group.assignee:
        return "already_assigned" if command.assignee else "not_assigned"
    if action == GroupAction.UNSNOOZE and status != GroupStatus.SNOOZED:
        return "not_snoozed"
    if action == GroupAction.UNSNOOZE and command.actor == SNOOZE_EXPIRED_ACTOR \
            and command.snooze_until != group.snoozed_until:
        return "snooze_changed"  # a timer for an earlier snooze, since extended or replaced
    return None


def decide_command(group: GroupSnapshot | None, command: GroupCommand, *, now: datetime,
                   lifecycle: Lifecycle = NO_HISTORY) -> list[Decision]:
    """What a command does to the key's group: one event carrying the actor, or a rejection."""
    reason = refusal(group, command, now)
    if reason is not None:
        return [GroupCommandRejected(
            command_id=command.command_id, group_id=command.group_id, group_key=command.group_key,
            action=command.action, reason=reason, by=command.actor, reply_to=command.reply_to,
            group=group if group is not None and group.group_id == command.group_id else None)]
    assert group is not None
    by, cid = command.actor, command.command_id
    if command.action == GroupAction.ACK:
        return [GroupAcknowledged(group=_acknowledged(group, by, now), by=by, command_id=cid)]
    if command.action == GroupAction.UNACK:
        return [GroupUnacknowledged(group=_back_to_open(group, acknowledged_by=None, acknowledged_at=None),
                                    by=by, command_id=cid)]
    if command.action == GroupAction.SNOOZE:
        until = command.snooze_until
        return [GroupSnoozed(group=_snoozed(group, until), until=until, by=by, command_id=cid, reason=command.reason)]
    if command.action == GroupAction.UNSNOOZE:
        reason = "expired" if command.actor == SNOOZE_EXPIRED_ACTOR else "manual"
        return [GroupUnsnoozed(group=_back_to_open(group, snoozed_until=None), by=by, command_id=cid,
                               reason=reason, fired_during_snooze=lifecycle.fired_during_snooze)]
    if command.action == GroupAction.ASSIGN:
        return [GroupAssigned(group=group.model_copy(update={"assignee": command.assignee}),
                              assignee=command.assignee, by=by, command_id=cid)]
    if command.action == GroupAction.NOTE:
        return [GroupNoteAdded(group=group, note_id=cid, text=(command.note or "").strip(), by=by, command_id=cid)]
    return [GroupResolved(group=_resolved(group, now, by), reason="manual", by=by, command_id=cid)]


def close_quiet(group: GroupSnapshot | None, *, group_id: UUID, quiet_since: datetime, now: datetime) -> list[GroupEvent]:
    """Auto-close: resolve the group if it is still the same group and nothing arrived since."""
    if not is_active(group) or group is None or group.group_id != group_id:
        return []
    if group.last_seen_at > quiet_since:
        return []  # it spoke again after the escalator's timer was set
    closed = group.model_copy(update={"status": GroupStatus.RESOLVED, "resolved_at": now, "snoozed_until": None})
    return [GroupResolved(group=closed, reason="quiet_timeout")]


# --- evolve ----------------------------------------------------------------------------------


def evolve(state: GroupSnapshot | None, event: EventData) -> GroupSnapshot | None:
    if isinstance(event, GROUP_EVENTS):
        return event.group
    return state


def evolve_lifecycle(lifecycle: Lifecycle, before: GroupSnapshot | None, event: EventData) -> Lifecycle:
    """The reopen times and the snooze's silent count after `event` (`before`: the snapshot it changed)."""
    if isinstance(event, GroupOpened):
        return NO_HISTORY
    if isinstance(event, GroupReopened):
        kept = (*lifecycle.reopened_at, event.group.last_seen_at)[-REOPENS_KEPT:]
        return Lifecycle(kept, 0)
    if isinstance(event, GroupUpdated) and before is not None and before.status == GroupStatus.SNOOZED:
        return Lifecycle(lifecycle.reopened_at, lifecycle.fired_during_snooze + event.alerts_added)
    if isinstance(event, GroupSnoozed) and before is not None and before.status != GroupStatus.SNOOZED:
        return Lifecycle(lifecycle.reopened_at, 0)  # a new snooze counts from zero; extending one keeps counting
    if isinstance(event, (GroupUnsnoozed, GroupAcknowledged, GroupResolved)):
        return Lifecycle(lifecycle.reopened_at, 0)
    return lifecycle


# --- batches ---------------------------------------------------------------------------------

C = TypeVar("C")


def coalesce(emitted: list[tuple[GroupEvent, C]]) -> list[tuple[GroupEvent, C]]:
    """Within one processed batch, many alerts for one group become one event downstream.

    Each event travels with its cause (the incoming event). Opens, reopens and state changes are kept;
    an update merges into the group's previous event in the batch when that is an open, a reopen or an
    update (the snapshot is the newest, the cause the newest alert). Order of first appearance is kept.
    """
    result: list[tuple[GroupEvent, C]] = []
    last_index: dict[UUID, int] = {}
    for event, cause in emitted:
        gid = event.group.group_id
        if isinstance(event, GroupUpdated) and gid in last_index:
            merged = _merged(result[last_index[gid]][0], event)
            if merged is not None:
                result[last_index[gid]] = (merged, cause)
                continue
        result.append((event, cause))
        last_index[gid] = len(result) - 1
    return result


def _merged(previous: GroupEvent, update: GroupUpdated) -> GroupEvent | None:
    if isinstance(previous, GroupOpened):
        return GroupOpened(group=update.group)
    if isinstance(previous, GroupReopened):
        return previous.model_copy(update={"group": update.group,
                                           "alerts_added": previous.alerts_added + update.alerts_added})
    if isinstance(previous, GroupUpdated):
        return GroupUpdated(group=update.group, alerts_added=previous.alerts_added + update.alerts_added)
    return None
