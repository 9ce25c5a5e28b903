"""The router and the group lifecycle: every state change rewrites the one message where the group was
first routed; reopens and snoozes that expired while firing notify again (no @here when flapping) and
arm the escalation anew; rejections answer the clicker; test notifications never escalate."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from signalcraft_schemas.events import (
    EscalationArmed, GroupAcknowledged, GroupAction, GroupAssigned, GroupCommandRejected, GroupReopened, GroupSnoozed,
    GroupStatus, GroupUnacknowledged, GroupUnsnoozed, NotificationKind, NotificationRequested, SlackReply,
)
from signalcraft_router.domain.notifications import FirstRoute, answer_rejection, announce, follow_up
from signalcraft_router.domain.rules import Route, escalation_delay, route

from ..builders import GROUP_ID, GROUP_KEY, at, make_group, make_rule

FIRST = FirstRoute("#pay", "r1", "https://rb", True)
FIVE_MIN = timedelta(minutes=5)


def test_state_changes_rewrite_the_message_with_who_did_it():
    acked = make_group(status=GroupStatus.ACKNOWLEDGED, acknowledged_by="slack:T1/U1")
    [edit] = follow_up(GroupAcknowledged(group=acked, by="slack:T1/U1", command_id=UUID(int=1)), FIRST,
                       escalate_after=FIVE_MIN, now=at(1))
    assert (edit.kind, edit.channel, edit.mention_here, edit.actor, edit.command_id) == (
        NotificationKind.STATE_CHANGED, "#pay", False, "slack:T1/U1", UUID(int=1))
    snoozed = make_group(status=GroupStatus.SNOOZED, snoozed_until=at(60))
    [edit] = follow_up(GroupSnoozed(group=snoozed, until=at(60), by="api:admin"), FIRST, escalate_after=FIVE_MIN, now=at(1))
    assert edit.kind == NotificationKind.STATE_CHANGED and edit.group.snoozed_until == at(60)
    [edit] = follow_up(GroupAssigned(group=make_group(assignee="bob"), assignee="bob", by="sentry"), FIRST)
    assert edit.kind == NotificationKind.STATE_CHANGED and edit.group.assignee == "bob"


def test_a_reopen_notifies_again_and_rearms_the_escalation():
    reopened = make_group(reopen_count=1, last_seen_at=at(10))
    edit, armed = follow_up(GroupReopened(group=reopened, flap_count=1, flapping=False), FIRST,
                            escalate_after=FIVE_MIN, now=at(10))
    assert (edit.kind, edit.mention_here, edit.flap_count) == (NotificationKind.REOPENED, True, 1)
    assert armed == EscalationArmed(group=reopened, channel="#pay", due_at=at(15), rule_id="r1",
                                    runbook_url="https://rb", rearm=True)


def test_a_flapping_reopen_is_damped_no_here_and_no_escalation():
    flapping = make_group(reopen_count=5, flapping=True)
    [edit] = follow_up(GroupReopened(group=flapping, flap_count=5, flapping=True), FIRST, escalate_after=FIVE_MIN,
                       now=at(10))
    assert (edit.kind, edit.mention_here, edit.flap_count) == (NotificationKind.REOPENED, False, 5)


def test_a_snooze_that_expired_while_firing_notifies_once_and_a_quiet_one_only_rewrites():
    fired = GroupUnsnoozed(group=make_group(), by="system:snooze_expired", reason="expired", fired_during_snooze=3)
    edit, armed = follow_up(fired, FIRST, escalate_after=FIVE_MIN, now=at(30))
    assert (edit.kind, edit.mention_here, edit.fired_during_snooze, edit.reason) == (
        NotificationKind.SNOOZE_EXPIRED, True, 3, "expired")
    assert isinstance(armed, EscalationArmed) and armed.due_at == at(35)
    quiet = fired.model_copy(update={"fired_during_snooze": 0})
    [edit] = follow_up(quiet, FIRST, escalate_after=FIVE_MIN, now=at(30))
    assert (edit.kind, edit.mention_here) == (NotificationKind.STATE_CHANGED, False)
    manual = fired.model_copy(update={"reason": "manual"})
    assert [e.kind for e in follow_up(manual, FIRST, escalate_after=FIVE_MIN, now=at(30))] == [
        NotificationKind.STATE_CHANGED]


def test_an_unack_rearms_the_escalation_from_now():
    edit, armed = follow_up(GroupUnacknowledged(group=make_group(), by="api:admin"), FIRST, escalate_after=FIVE_MIN,
                            now=at(40))
    assert edit.kind == NotificationKind.STATE_CHANGED and armed.due_at == at(45) and armed.rearm


def test_without_an_escalating_rule_nothing_is_armed():
    [edit] = follow_up(GroupReopened(group=make_group(), flap_count=1, flapping=False), FIRST, now=at(1))
    assert edit.kind == NotificationKind.REOPENED


def test_a_rejection_answers_the_clicker_where_the_group_was_posted():
    reply = SlackReply(response_url="https://hooks.slack.com/actions/T1/1/x", channel="C1", user="U1")
    resolved = make_group(status=GroupStatus.RESOLVED)
    rejected = GroupCommandRejected(command_id=UUID(int=9), group_id=GROUP_ID, group_key=GROUP_KEY,
                                    action=GroupAction.ACK, reason="already_resolved", by="slack:T1/U1",
                                    group=resolved, reply_to=reply)
    [answer] = answer_rejection(rejected, FIRST)
    assert answer == NotificationRequested(kind=NotificationKind.COMMAND_REJECTED, group=resolved, channel="#pay",
                                           rule_id="r1", actor="slack:T1/U1", reason="already_resolved",
                                           command_id=UUID(int=9), reply_to=reply)
    assert answer_rejection(rejected.model_copy(update={"reply_to": None}), FIRST) == []  # the API reads its outcome
    assert answer_rejection(rejected, None) == []


def test_a_test_notification_is_announced_but_never_escalates():
    test_group = make_group(is_test=True)
    assert [type(e) for e in announce(test_group, Route("#pay", "r1", None, 15, True))] == [NotificationRequested]
    [edit] = follow_up(GroupReopened(group=test_group, flap_count=1, flapping=False), FIRST, escalate_after=FIVE_MIN,
                       now=at(1))
    assert edit.kind == NotificationKind.REOPENED


def test_escalation_delays_have_seconds_resolution():
    rule = make_rule("r1", escalate_after_seconds=90)
    chosen = route(make_group(first_seen_at=at(0)), [rule], None)
    assert chosen.escalation_due(at(0)) == at(1.5)
    assert escalation_delay([rule], "r1") == timedelta(seconds=90)
    assert escalation_delay([make_rule("r1", escalate_after_minutes=15)], "r1") == timedelta(minutes=15)
    assert escalation_delay([rule], "gone") is None and escalation_delay([rule], None) is None
