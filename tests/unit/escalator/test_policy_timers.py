"""Escalation policies in the escalator: a timer per group and route walks the policy's steps; each
firing notifies one step and hands back the next step's timer; schedules resolve when a step fires."""

from __future__ import annotations

from datetime import timedelta

from signalcraft_escalator.domain.timers import (
    Fired, TimerKind, escalation_timer, fire, fire_step, on_event, resolve_targets,
)
from signalcraft_schemas.events import (
    EscalationArmed, EscalationFired, EscalationLevel, EscalationRepeat, GroupAcknowledged, GroupSnoozed, GroupStatus,
    NotificationRequested,
)

from ..builders import GROUP_ID, WORKSPACE, at, make_group

AUTO_CLOSE = timedelta(hours=24)
LEVELS = [EscalationLevel(after_seconds=60, targets=["#oncall"]),
          EscalationLevel(after_seconds=120, targets=["<@ULEAD>", "schedule:primary", "#sre-leads"])]


def armed(**kw) -> EscalationArmed:
    fields = dict(group=make_group(), channel="#oncall", due_at=at(1), rule_id="r1", policy_id="p1", levels=LEVELS,
                  repeat=EscalationRepeat(every_seconds=30, times=2), route="r1")
    return EscalationArmed(**(fields | kw))


def walk(timer, on_call=lambda _: "<@UCAROL>") -> list[Fired]:
    fired = []
    while timer is not None:
        fired.append(step := fire_step(timer, GroupStatus.OPEN, on_call))
        timer = step.next
    return fired


def notices(fired: Fired) -> list[NotificationRequested]:
    return [e for e in fired.events if isinstance(e, NotificationRequested)]


def escalation(fired: Fired) -> EscalationFired:
    return next(e for e in fired.events if isinstance(e, EscalationFired))


def test_a_policy_arms_one_timer_per_group_and_route_at_the_first_deadline():
    [timer] = on_event(armed(), WORKSPACE, AUTO_CLOSE, GroupStatus.OPEN).arm
    assert (timer.kind, timer.route, timer.due_at, timer.payload["step"]) == (TimerKind.ESCALATION, "r1", at(1), 0)
    assert escalation_timer(armed(route=None, rule_id=None), WORKSPACE).route == "default"


def test_levels_then_repeats_fire_in_order_each_from_the_previous_deadline():
    steps = walk(escalation_timer(armed(), WORKSPACE))
    assert [(escalation(f).level, escalation(f).repeat) for f in steps] == [(1, 0), (2, 0), (2, 1), (2, 2)]
    dues = [escalation_timer(armed(), WORKSPACE).due_at] + [f.next.due_at for f in steps if f.next]
    assert dues == [at(1), at(3), at(3.5), at(4)]
    assert steps[-1].next is None


def test_level_one_in_the_groups_channel_is_a_broadcast_reply_with_here():
    [reply] = notices(fire_step(escalation_timer(armed(), WORKSPACE), GroupStatus.OPEN))
    assert (reply.channel, reply.mention_here, reply.escalation_level, reply.escalation_targets) == (
        "#oncall", True, 1, [])


def test_level_two_mentions_people_and_the_on_call_and_posts_in_the_other_channel():
    level_two = walk(escalation_timer(armed(), WORKSPACE))[1]
    reply, elsewhere = notices(level_two)
    assert (reply.channel, reply.mention_here, reply.escalation_targets) == (
        "#oncall", False, ["<@ULEAD>", "<@UCAROL>", "#sre-leads"])
    assert (elsewhere.channel, elsewhere.group_channel, elsewhere.mention_here, elsewhere.escalation_targets) == (
        "#sre-leads", "#oncall", True, ["<@ULEAD>", "<@UCAROL>"])
    assert escalation(level_two).targets == ["<@ULEAD>", "schedule:primary=<@UCAROL>", "#sre-leads"]


def test_the_schedule_is_resolved_when_the_step_fires():
    on_call = iter(["<@UALICE>", "<@UBOB>", None])
    steps = walk(escalation_timer(armed(), WORKSPACE), on_call=lambda _: next(on_call))
    assert [escalation(f).targets[1] for f in steps[1:]] == [
        "schedule:primary=<@UALICE>", "schedule:primary=<@UBOB>", "schedule:primary=nobody"]


def test_resolving_targets():
    assert resolve_targets(("<!subteam^SDBA>", "schedule:x", "C0123"), lambda _: None) == (
        ["<!subteam^SDBA>"], ["C0123"], ["<!subteam^SDBA>", "schedule:x=nobody", "C0123"])


def test_a_step_of_a_settled_group_stays_quiet_and_stops_the_walk():
    timer = escalation_timer(armed(), WORKSPACE)
    for status in (GroupStatus.ACKNOWLEDGED, GroupStatus.SNOOZED, GroupStatus.RESOLVED):
        assert fire_step(timer, status) == Fired([])
        assert fire(timer, status) == []


def test_ack_and_snooze_cancel_every_route_of_the_group():
    ack = on_event(GroupAcknowledged(group=make_group(status=GroupStatus.ACKNOWLEDGED), by="u"), WORKSPACE,
                   AUTO_CLOSE, GroupStatus.OPEN)
    snooze = on_event(GroupSnoozed(group=make_group(status=GroupStatus.SNOOZED), by="u", until=at(60)), WORKSPACE,
                      AUTO_CLOSE, GroupStatus.OPEN)
    assert (TimerKind.ESCALATION, GROUP_ID) in ack.cancel and (TimerKind.ESCALATION, GROUP_ID) in snooze.cancel


def test_a_rearm_starts_the_policy_again_from_level_one():
    changes = on_event(armed(rearm=True, due_at=at(30)), WORKSPACE, AUTO_CLOSE, GroupStatus.RESOLVED)
    [timer] = changes.arm
    assert changes.rearm and timer.payload["step"] == 0 and timer.due_at == at(30)


def test_a_policy_without_repeat_stops_after_its_last_level():
    steps = walk(escalation_timer(armed(repeat=None), WORKSPACE))
    assert [escalation(f).level for f in steps] == [1, 2]
