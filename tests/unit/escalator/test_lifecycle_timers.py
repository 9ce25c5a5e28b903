"""Escalator timers and the group lifecycle: snoozes cancel escalation and set the timer of their
end, whose firing asks grouping to unsnooze; re-arming after a reopen; test groups never escalate."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from signalcraft_schemas.events import (
    SNOOZE_EXPIRED_ACTOR, EscalationArmed, EscalationCancelled, GroupAcknowledged, GroupAction, GroupCommand,
    GroupReopened, GroupResolved, GroupSnoozed, GroupStatus, GroupUnsnoozed, WorkspaceConfigured,
)
from signalcraft_escalator.domain.timers import (
    Timer, TimerChanges, TimerKind, auto_close_window, escalation_cancelled, fire, on_event, rearms_only_while_pending,
    status_after,
)

from ..builders import GROUP_ID, GROUP_KEY, WORKSPACE, at, make_group

AUTO_CLOSE = timedelta(hours=24)
SNOOZED = make_group(status=GroupStatus.SNOOZED, snoozed_until=at(60))


def test_a_snooze_cancels_the_escalation_and_arms_the_timer_of_its_end():
    changes = on_event(GroupSnoozed(group=SNOOZED, until=at(60), by="api:admin"), WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN)
    assert changes.cancel == [(TimerKind.ESCALATION, GROUP_ID)]
    assert changes.arm == [Timer(TimerKind.SNOOZE, GROUP_ID, GROUP_KEY, WORKSPACE, at(60), {"until": at(60).isoformat()})]
    assert not rearms_only_while_pending(TimerKind.SNOOZE)  # a later snooze moves the timer


def test_a_snooze_without_an_end_and_an_unsnooze_leave_no_snooze_timer():
    forever = on_event(GroupSnoozed(group=SNOOZED, until=None, by="sentry"), WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN)
    assert forever.arm == [] and (TimerKind.SNOOZE, GROUP_ID) in forever.cancel
    unsnoozed = GroupUnsnoozed(group=make_group(), by="api:admin", reason="manual")
    assert on_event(unsnoozed, WORKSPACE, AUTO_CLOSE, GroupStatus.SNOOZED) == TimerChanges(
        cancel=[(TimerKind.SNOOZE, GROUP_ID)])


def test_the_snooze_timer_asks_grouping_to_unsnooze_with_one_command_id_per_snooze():
    [timer] = on_event(GroupSnoozed(group=SNOOZED, until=at(60), by="u"), WORKSPACE, AUTO_CLOSE, None).arm
    [command] = fire(timer)
    assert isinstance(command, GroupCommand)
    assert (command.action, command.actor, command.snooze_until, command.group_id, command.group_key) == (
        GroupAction.UNSNOOZE, SNOOZE_EXPIRED_ACTOR, at(60), GROUP_ID, GROUP_KEY)
    assert fire(timer)[0].command_id == command.command_id
    [later] = fire(Timer(TimerKind.SNOOZE, GROUP_ID, GROUP_KEY, WORKSPACE, at(90), {"until": at(90).isoformat()}))
    assert later.command_id != command.command_id


def test_an_escalation_is_not_armed_for_a_snoozed_group_nor_a_test():
    armed = EscalationArmed(group=make_group(), channel="#c", due_at=at(5))
    assert on_event(armed, WORKSPACE, AUTO_CLOSE, GroupStatus.SNOOZED) == TimerChanges()
    test = armed.model_copy(update={"group": make_group(is_test=True)})
    assert on_event(test, WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN) == TimerChanges()


def test_a_rearm_arms_over_an_escalation_that_fired_or_was_cancelled():
    armed = EscalationArmed(group=make_group(), channel="#c", due_at=at(5), rearm=True)
    changes = on_event(armed, WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN)
    assert changes.rearm and [t.kind for t in changes.arm] == [TimerKind.ESCALATION]


def test_a_reopen_rearms_auto_close_like_an_update():
    reopened = make_group(last_seen_at=at(30), reopen_count=1)
    changes = on_event(GroupReopened(group=reopened, flap_count=1, flapping=False), WORKSPACE, timedelta(minutes=10),
                       GroupStatus.RESOLVED)
    assert [(t.kind, t.due_at) for t in changes.arm] == [(TimerKind.AUTO_CLOSE, at(40))]
    assert status_after(GroupReopened(group=reopened, flap_count=1, flapping=False)) == GroupStatus.OPEN


def test_the_timeline_learns_who_cancelled_the_escalation():
    acked = GroupAcknowledged(group=make_group(status=GroupStatus.ACKNOWLEDGED), by="slack:T1/U1", command_id=UUID(int=3))
    assert escalation_cancelled(acked) == EscalationCancelled(group_id=GROUP_ID, group_key=GROUP_KEY,
                                                              by="slack:T1/U1", reason="acknowledged")
    resolved = GroupResolved(group=make_group(status=GroupStatus.RESOLVED), reason="manual", by="api:admin")
    assert escalation_cancelled(resolved).reason == "resolved"


def test_the_auto_close_window_has_seconds_resolution():
    workspace = WorkspaceConfigured(workspace_id=WORKSPACE, name="w", auto_close_minutes=90, auto_close_seconds=45)
    assert auto_close_window(workspace) == timedelta(seconds=45)


def test_a_rearm_that_overtakes_its_reopen_arms_and_a_due_escalation_of_a_settled_group_stays_quiet():
    rearm = EscalationArmed(group=make_group(), channel="#c", due_at=at(5), rearm=True)
    [timer] = on_event(rearm, WORKSPACE, AUTO_CLOSE, GroupStatus.RESOLVED).arm  # the reopen not seen yet
    first = EscalationArmed(group=make_group(), channel="#c", due_at=at(5))
    assert on_event(first, WORKSPACE, AUTO_CLOSE, GroupStatus.RESOLVED) == TimerChanges()
    for settled in (GroupStatus.ACKNOWLEDGED, GroupStatus.SNOOZED, GroupStatus.RESOLVED):
        assert fire(timer, settled) == []
    assert len(fire(timer, GroupStatus.OPEN)) == 2 and len(fire(timer)) == 2
