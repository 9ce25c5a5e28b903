"""Durable timers: which to arm, cancel or fire, as plain functions of events and `now`.

- escalation: armed by the router, per group and route, for a route whose rule (or the workspace's
  default route) names an escalation policy, or says "escalate after N" (one level, @here in its
  channel); cancelled when the group is acknowledged, snoozed or resolved (`EscalationCancelled` says
  who). Each firing notifies one step of the policy (a level, or a repeat of the last level) and, in
  the same transaction, moves the timer to the next step's deadline: a step fires exactly once. Armed
  again from the first level after a reopen or an unack (`EscalationArmed.rearm`).
- auto_close: re-armed at every group update to last_seen + the workspace's auto-close window;
  firing asks grouping to close the group if it is still quiet.
- snooze: armed at a snooze's end; firing asks grouping to unsnooze the group (a GroupCommand from
  `system:snooze_expired`), which re-notifies only if it fired during the snooze. A later snooze moves
  it; a stale one is rejected by grouping (`snooze_changed`), so it needs no cancelling elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from signalcraft_policies.escalation import TargetKind, next_after, schedule_id, step, target_kind
from signalcraft_schemas.events import (
    SNOOZE_EXPIRED_ACTOR, EscalationLevel, EscalationRepeat, CloseQuietGroup, EscalationArmed, EscalationCancelled, EscalationFired, EventData,
    GroupAcknowledged, GroupAction, GroupAssigned, GroupCommand, GroupOpened, GroupReopened, GroupResolved,
    GroupSnapshot, GroupSnoozed, GroupStatus, GroupUnacknowledged, GroupUnsnoozed, GroupUpdated, NotificationKind,
    NotificationRequested, WorkspaceConfigured,
)

DEFAULT_AUTO_CLOSE = timedelta(hours=24)


GROUP_EVENTS = (GroupOpened, GroupUpdated, GroupAcknowledged, GroupResolved, GroupReopened, GroupUnacknowledged,
                GroupSnoozed, GroupUnsnoozed, GroupAssigned)
# Snooze timers name their unsnooze command deterministically: a timer fired twice asks once.
SNOOZE_COMMANDS = UUID("5c0a3e0e-6b1f-4d5e-9a51-7d0c1f3b2a90")


class TimerKind(StrEnum):
    ESCALATION = "escalation"
    AUTO_CLOSE = "auto_close"
    SNOOZE = "snooze"


def auto_close_window(workspace: WorkspaceConfigured | None) -> timedelta:
    """How long a group may stay quiet before it is closed: the workspace's setting, or the default."""
    return workspace.auto_close_after if workspace else DEFAULT_AUTO_CLOSE


@dataclass(frozen=True)
class Timer:
    kind: TimerKind
    group_id: UUID
    group_key: str
    workspace_id: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    route: str = ""  # escalations: which of the group's routes armed it; one timer per group and route


@dataclass(frozen=True)
class TimerChanges:
    arm: list[Timer] = field(default_factory=list)
    cancel: list[tuple[TimerKind, UUID]] = field(default_factory=list)
    # Newer group snapshot for pending timers (the escalation message shows the current count).
    refresh: GroupSnapshot | None = None
    rearm: bool = False  # arm even over an escalation that fired or was cancelled


def on_event(event: EventData, workspace_id: str, auto_close: timedelta, group_status: GroupStatus | None) -> TimerChanges:
    """What an incoming event does to the timers. `group_status` is the last status seen for the group."""
    if isinstance(event, EscalationArmed):
        # Acknowledged (or snoozed, resolved) before the arming reached us: nothing to arm. A re-arm
        # after a reopen may arrive before the reopen itself (another topic): a resolved status is
        # then stale, so it arms, and `fire` checks the status once due. A test never escalates.
        settled = (GroupStatus.ACKNOWLEDGED, GroupStatus.SNOOZED) + (() if event.rearm else (GroupStatus.RESOLVED,))
        if group_status in settled or event.group.is_test:
            return TimerChanges()
        return TimerChanges(arm=[escalation_timer(event, workspace_id)], rearm=event.rearm)
    if isinstance(event, (GroupOpened, GroupUpdated, GroupReopened)):
        group = event.group
        quiet = Timer(TimerKind.AUTO_CLOSE, group.group_id, group.group_key, workspace_id, group.last_seen_at + auto_close,
                      {"quiet_since": group.last_seen_at.isoformat()})
        return TimerChanges(arm=[quiet], refresh=group)
    if isinstance(event, GroupAcknowledged):
        return TimerChanges(cancel=[(TimerKind.ESCALATION, event.group.group_id)], refresh=event.group)
    if isinstance(event, GroupResolved):
        gid = event.group.group_id
        return TimerChanges(cancel=[(TimerKind.ESCALATION, gid), (TimerKind.AUTO_CLOSE, gid)])
    if isinstance(event, GroupSnoozed):
        return _snoozed(event, workspace_id)
    if isinstance(event, GroupUnsnoozed):
        return TimerChanges(cancel=[(TimerKind.SNOOZE, event.group.group_id)])
    return TimerChanges()


def escalation_timer(event: EscalationArmed, workspace_id: str) -> Timer:
    """The timer of the first step. Without levels (a rule's `escalate_after` as routers before
    policies armed it) the payload is the one-level escalation it always was."""
    group = event.group
    payload: dict[str, Any] = {"group": group.model_dump(mode="json"), "channel": event.channel,
                               "rule_id": event.rule_id, "runbook_url": event.runbook_url, "level": 1}
    if event.levels:
        payload |= {"policy_id": event.policy_id, "step": 0,
                    "levels": [level.model_dump(mode="json") for level in event.levels],
                    "repeat": event.repeat.model_dump(mode="json") if event.repeat else None}
    route = event.route or event.rule_id or "default"
    return Timer(TimerKind.ESCALATION, group.group_id, group.group_key, workspace_id, event.due_at, payload, route)


def _snoozed(event: GroupSnoozed, workspace_id: str) -> TimerChanges:
    """A snooze cancels the escalation and sets the timer of its end (none: until unsnoozed)."""
    group = event.group
    cancel = [(TimerKind.ESCALATION, group.group_id)]
    if event.until is None:
        return TimerChanges(cancel=cancel + [(TimerKind.SNOOZE, group.group_id)])
    timer = Timer(TimerKind.SNOOZE, group.group_id, group.group_key, workspace_id, event.until,
                  {"until": event.until.isoformat()})
    return TimerChanges(arm=[timer], cancel=cancel)


def escalation_cancelled(event: GroupAcknowledged | GroupSnoozed | GroupResolved) -> EscalationCancelled:
    """What the timeline shows when this event cancelled a pending escalation: who, and why."""
    reason = {GroupAcknowledged: "acknowledged", GroupSnoozed: "snoozed", GroupResolved: "resolved"}[type(event)]
    return EscalationCancelled(group_id=event.group.group_id, group_key=event.group.group_key, by=event.by,
                               reason=reason)


def rearms_only_while_pending(kind: TimerKind) -> bool:
    """An escalation fires once per group: arming it again applies only while it is still pending.
    The auto-close timer is re-armed at every update, whether or not an earlier one fired."""
    return kind == TimerKind.ESCALATION


def refreshed_payload(group: GroupSnapshot) -> tuple[TimerKind, dict[str, Any]]:
    """The pending timer that shows the group, and the newer part of its payload (`TimerChanges.refresh`)."""
    return TimerKind.ESCALATION, {"group": group.model_dump(mode="json")}


OnCallLookup = Callable[[str], str | None]  # schedule id -> the Slack user on call now (None: nobody, unknown)
SETTLED = (GroupStatus.ACKNOWLEDGED, GroupStatus.SNOOZED, GroupStatus.RESOLVED)


@dataclass(frozen=True)
class Fired:
    """What a due timer produces, and the timer of the policy's next step (None: it is done)."""

    events: list[EventData]
    next: Timer | None = None


def fire_step(timer: Timer, group_status: GroupStatus | None = None,
              on_call: OnCallLookup = lambda _: None) -> Fired:
    """Fire a due timer. A policy escalation notifies its current step and moves on to the next; one
    whose group is no longer open (an ack, snooze or resolve that raced its re-arming) stays quiet."""
    if timer.kind != TimerKind.ESCALATION or "levels" not in timer.payload:
        return Fired(fire(timer, group_status))
    if group_status in SETTLED:
        return Fired([])
    levels = [EscalationLevel.model_validate(level) for level in timer.payload["levels"]]
    repeat = EscalationRepeat.model_validate(timer.payload["repeat"]) if timer.payload.get("repeat") else None
    index = int(timer.payload.get("step", 0))
    current = step(levels, repeat, index)
    if current is None:
        return Fired([])
    events = escalation_notices(timer, current.level, current.repeat, current.targets, on_call)
    following = next_after(levels, repeat, index, timer.due_at)
    if following is None:
        return Fired(events)
    nxt, due = following
    return Fired(events, Timer(timer.kind, timer.group_id, timer.group_key, timer.workspace_id, due,
                               timer.payload | {"step": nxt.index, "level": nxt.level}, timer.route))


def resolve_targets(targets: tuple[str, ...], on_call: OnCallLookup) -> tuple[list[str], list[str], list[str]]:
    """(people to mention, channels to post in, what the timeline shows): a schedule becomes whoever is
    on call in it now; a schedule with nobody on call is shown as such and mentions nobody."""
    people: list[str] = []
    channels: list[str] = []
    shown: list[str] = []
    for target in targets:
        kind = target_kind(target)
        if kind == TargetKind.SCHEDULE:
            user = on_call(schedule_id(target) or "")
            people += [user] if user else []
            shown.append(f"{target}={user}" if user else f"{target}=nobody")
        else:
            (channels if kind == TargetKind.CHANNEL else people).append(target)
            shown.append(target)
    return people, channels, shown


def escalation_notices(timer: Timer, level: int, repeat: int, targets: tuple[str, ...],
                       on_call: OnCallLookup) -> list[EventData]:
    """A thread reply in the group's message, broadcast to its channel, mentioning the step's people
    (@here when the step names the group's own channel, or nobody at all); its own message in each
    other target channel, linking the group; and the EscalationFired the timeline shows."""
    group = GroupSnapshot.model_validate(timer.payload["group"])
    channel = timer.payload["channel"]
    people, channels, shown = resolve_targets(targets, on_call)
    common = {"kind": NotificationKind.ESCALATION, "group": group, "runbook_url": timer.payload.get("runbook_url"),
              "rule_id": timer.payload.get("rule_id"), "escalation_level": level}
    others = [c for c in dict.fromkeys(channels) if c != channel]
    events: list[EventData] = [NotificationRequested(
        channel=channel, mention_here=channel in channels or not (people or others),
        escalation_targets=people + others, **common)]
    events += [NotificationRequested(channel=other, mention_here=True, escalation_targets=people,
                                     group_channel=channel, **common) for other in others]
    events.append(EscalationFired(group_id=group.group_id, group_key=group.group_key, channel=channel, level=level,
                                  repeat=repeat, targets=shown, policy_id=timer.payload.get("policy_id")))
    return events


def fire(timer: Timer, group_status: GroupStatus | None = None) -> list[EventData]:
    """The events a due timer produces (a policy escalation: see `fire_step`). An escalation whose group
    is, as last seen, no longer open (acknowledged, snoozed or resolved since: an event that raced its
    re-arming) stays quiet."""
    if timer.kind == TimerKind.ESCALATION:
        if group_status in SETTLED:
            return []
        if "levels" in timer.payload:
            return fire_step(timer, group_status).events
        group = GroupSnapshot.model_validate(timer.payload["group"])
        level = int(timer.payload.get("level", 1))
        return [
            NotificationRequested(kind=NotificationKind.ESCALATION, group=group, channel=timer.payload["channel"],
                                  mention_here=True, runbook_url=timer.payload.get("runbook_url"),
                                  rule_id=timer.payload.get("rule_id"), escalation_level=level),
            EscalationFired(group_id=group.group_id, group_key=group.group_key, channel=timer.payload["channel"], level=level),
        ]
    if timer.kind == TimerKind.SNOOZE:
        until = datetime.fromisoformat(timer.payload["until"])
        return [GroupCommand(command_id=uuid5(SNOOZE_COMMANDS, f"{timer.group_id}:{until.isoformat()}"),
                             group_id=timer.group_id, group_key=timer.group_key, action=GroupAction.UNSNOOZE,
                             actor=SNOOZE_EXPIRED_ACTOR, snooze_until=until, reason="snooze expired")]
    return [CloseQuietGroup(group_id=timer.group_id, group_key=timer.group_key,
                            quiet_since=datetime.fromisoformat(timer.payload["quiet_since"]))]


def status_after(event: EventData) -> GroupStatus | None:
    if isinstance(event, GROUP_EVENTS):
        return GroupStatus(event.group.status)
    return None


def wait_before_next_look(next_due: datetime | None, now: datetime, longest_s: float, shortest_s: float) -> float:
    """How long the timer loop sleeps after a drain: until the earliest pending timer is due, at most
    `longest_s` (a timer another replica armed wakes only that replica), at least `shortest_s` (a due
    timer another replica holds locked must not make this one spin)."""
    if next_due is None:
        return longest_s
    return min(longest_s, max(shortest_s, (next_due - now).total_seconds()))
