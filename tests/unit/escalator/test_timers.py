"""Escalator timers: what each event arms or cancels, and what a due timer emits."""

from __future__ import annotations

from datetime import timedelta

from signalcraft_schemas.events import (
    CloseQuietGroup, EscalationArmed, EscalationFired, GroupAcknowledged, GroupOpened, GroupResolved, GroupStatus,
    GroupUpdated, NotificationKind, NotificationRequested, RoutingRuleDeleted, WorkspaceConfigured,
)
from signalcraft_escalator.domain.timers import (
    DEFAULT_AUTO_CLOSE, Timer, TimerChanges, TimerKind, auto_close_window, fire, on_event, rearms_only_while_pending,
    refreshed_payload, status_after,
)

from ..builders import GROUP_ID, GROUP_KEY, WORKSPACE, at, make_group

AUTO_CLOSE = timedelta(hours=24)


def armed(**kw):
    fields = dict(group=make_group(count=2), channel="#oncall", due_at=at(15), rule_id="r1", runbook_url="https://rb")
    fields.update(kw)
    return EscalationArmed(**fields)


def test_escalation_armed_arms_an_escalation_timer_at_due_at():
    changes = on_event(armed(), WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN)
    assert changes.cancel == [] and changes.refresh is None
    [timer] = changes.arm
    assert (timer.kind, timer.group_id, timer.group_key, timer.workspace_id, timer.due_at) == (
        TimerKind.ESCALATION, GROUP_ID, GROUP_KEY, WORKSPACE, at(15))
    assert timer.payload == {"group": make_group(count=2).model_dump(mode="json"), "channel": "#oncall",
                             "rule_id": "r1", "runbook_url": "https://rb", "level": 1}
    # status not known yet: still arms
    assert len(on_event(armed(), WORKSPACE, AUTO_CLOSE, None).arm) == 1


def test_escalation_armed_is_ignored_when_already_acknowledged_or_resolved():
    for status in (GroupStatus.ACKNOWLEDGED, GroupStatus.RESOLVED):
        assert on_event(armed(), WORKSPACE, AUTO_CLOSE, status) == TimerChanges(), status


def test_group_opened_and_updated_arm_auto_close_at_last_seen_plus_window():
    for event in (GroupOpened(group=make_group(last_seen_at=at(30))),
                  GroupUpdated(group=make_group(count=4, last_seen_at=at(30)), alerts_added=3)):
        changes = on_event(event, WORKSPACE, timedelta(minutes=90), GroupStatus.OPEN)
        assert changes.arm == [Timer(TimerKind.AUTO_CLOSE, GROUP_ID, GROUP_KEY, WORKSPACE, at(120),
                                     {"quiet_since": at(30).isoformat()})]
        assert changes.refresh == event.group
        assert changes.cancel == []


def test_group_acknowledged_cancels_escalation_only():
    group = make_group(status=GroupStatus.ACKNOWLEDGED)
    changes = on_event(GroupAcknowledged(group=group, by="u1"), WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN)
    assert changes == TimerChanges(arm=[], cancel=[(TimerKind.ESCALATION, GROUP_ID)], refresh=group)


def test_group_resolved_cancels_both_timers():
    event = GroupResolved(group=make_group(status=GroupStatus.RESOLVED), reason="manual")
    changes = on_event(event, WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN)
    assert changes.arm == []
    assert sorted(changes.cancel) == sorted([(TimerKind.ESCALATION, GROUP_ID), (TimerKind.AUTO_CLOSE, GROUP_ID)])


def test_unrelated_events_change_nothing():
    assert on_event(RoutingRuleDeleted(rule_id="r", workspace_id=WORKSPACE), WORKSPACE, AUTO_CLOSE, None) == TimerChanges()


def test_firing_an_escalation_renotifies_with_here_and_records_the_escalation():
    [timer] = on_event(armed(), WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN).arm
    notification, fired = fire(timer)
    assert notification == NotificationRequested(
        kind=NotificationKind.ESCALATION, group=make_group(count=2), channel="#oncall", mention_here=True,
        runbook_url="https://rb", rule_id="r1", escalation_level=1)
    assert fired == EscalationFired(group_id=GROUP_ID, group_key=GROUP_KEY, channel="#oncall", level=1)


def test_firing_an_escalation_uses_the_payload_level():
    timer = Timer(TimerKind.ESCALATION, GROUP_ID, GROUP_KEY, WORKSPACE, at(0),
                  {"group": make_group().model_dump(mode="json"), "channel": "#c", "level": 3})
    notification, fired = fire(timer)
    assert (notification.escalation_level, fired.level, notification.rule_id, notification.runbook_url) == (3, 3, None, None)


def test_firing_auto_close_asks_grouping_to_close_if_still_quiet():
    [timer] = on_event(GroupOpened(group=make_group(last_seen_at=at(30))), WORKSPACE, AUTO_CLOSE, None).arm
    assert fire(timer) == [CloseQuietGroup(group_id=GROUP_ID, group_key=GROUP_KEY, quiet_since=at(30))]


def test_status_after():
    assert status_after(GroupOpened(group=make_group())) == GroupStatus.OPEN
    assert status_after(GroupAcknowledged(group=make_group(status=GroupStatus.ACKNOWLEDGED), by="x")) == GroupStatus.ACKNOWLEDGED
    assert status_after(GroupResolved(group=make_group(status=GroupStatus.RESOLVED), reason="manual")) == GroupStatus.RESOLVED
    assert status_after(armed()) is None


def test_an_escalation_fires_once_while_auto_close_is_rearmed_whatever_became_of_it():
    assert rearms_only_while_pending(TimerKind.ESCALATION)
    assert not rearms_only_while_pending(TimerKind.AUTO_CLOSE)


def test_a_refresh_puts_the_newer_group_into_the_pending_escalation():
    group = make_group(count=7)
    assert refreshed_payload(group) == (TimerKind.ESCALATION, {"group": group.model_dump(mode="json")})
    [timer] = on_event(armed(), WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN).arm
    kind, patch = refreshed_payload(group)
    refreshed = Timer(kind, timer.group_id, timer.group_key, timer.workspace_id, timer.due_at, timer.payload | patch)
    [notification, _] = fire(refreshed)
    assert notification.group == group and notification.channel == "#oncall"  # the message shows the current count


def test_the_auto_close_window_is_the_workspace_setting_or_the_default():
    workspace = WorkspaceConfigured(workspace_id=WORKSPACE, name="w", auto_close_minutes=90)
    assert auto_close_window(workspace) == timedelta(minutes=90)
    assert auto_close_window(None) == DEFAULT_AUTO_CLOSE == timedelta(hours=24)
