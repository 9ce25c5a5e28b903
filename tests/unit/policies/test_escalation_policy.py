"""Escalation policy arithmetic: steps, deadlines, repeats, target validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from signalcraft_policies.escalation import (
    InvalidPolicy, TargetKind, check_policy, first_deadline, next_after, one_level, schedule, step, step_count,
    target_kind,
)
from signalcraft_schemas.events import EscalationLevel, EscalationRepeat

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEVELS = [EscalationLevel(after_seconds=300, targets=["#oncall"]),
          EscalationLevel(after_seconds=600, targets=["<@U0LEAD>", "schedule:primary"])]
REPEAT = EscalationRepeat(every_seconds=120, times=2)


def test_levels_then_repeats_of_the_last_level_unroll_into_steps():
    assert step_count(LEVELS, REPEAT) == 4
    assert [(s.level, s.repeat, s.delay.total_seconds()) for s, _ in schedule(LEVELS, REPEAT, T0)] == [
        (1, 0, 300), (2, 0, 600), (2, 1, 120), (2, 2, 120)]
    assert step(LEVELS, REPEAT, 3).targets == ("<@U0LEAD>", "schedule:primary")  # type: ignore[union-attr]
    assert step(LEVELS, REPEAT, 4) is None
    assert step(LEVELS, None, 2) is None


def test_each_deadline_counts_from_the_previous_deadline_not_from_when_it_fired():
    first = first_deadline(LEVELS, T0)
    assert first == T0 + timedelta(minutes=5)
    following = next_after(LEVELS, REPEAT, 0, first)
    assert following is not None and following[1] == T0 + timedelta(minutes=15)
    assert [d for _, d in schedule(LEVELS, REPEAT, T0)] == [T0 + timedelta(seconds=s) for s in (300, 900, 1020, 1140)]


def test_the_last_step_has_no_next():
    assert next_after(LEVELS, REPEAT, 3, T0) is None
    assert next_after(LEVELS, None, 1, T0) is None


def test_a_rules_legacy_escalate_after_is_one_level_to_its_own_channel():
    levels = one_level(timedelta(minutes=15), "#payments")
    assert levels == [EscalationLevel(after_seconds=900, targets=["#payments"])]


@pytest.mark.parametrize(("target", "kind"), [
    ("#oncall", TargetKind.CHANNEL), ("C0123ABC", TargetKind.CHANNEL), ("<@U0123>", TargetKind.USER),
    ("<!subteam^S0123>", TargetKind.USER_GROUP), ("schedule:primary", TargetKind.SCHEDULE)])
def test_targets_are_recognised(target: str, kind: TargetKind):
    assert target_kind(target) == kind


@pytest.mark.parametrize("target", ["oncall", "<@here>", "<!channel>", "@U0123", "schedule:", "#Bad Channel", ""])
def test_anything_else_is_refused(target: str):
    with pytest.raises(InvalidPolicy):
        target_kind(target)


def test_a_policy_naming_an_unknown_schedule_is_refused():
    with pytest.raises(InvalidPolicy, match="no schedule 'primary'"):
        check_policy(LEVELS, REPEAT, known_schedule=lambda sid: False)
    check_policy(LEVELS, REPEAT, known_schedule=lambda sid: sid == "primary")


def test_absurd_policies_are_refused():
    with pytest.raises(InvalidPolicy):
        check_policy([], None)
    with pytest.raises(InvalidPolicy):
        check_policy(LEVELS, EscalationRepeat(every_seconds=60, times=10_000))
    with pytest.raises(InvalidPolicy):
        check_policy([EscalationLevel(after_seconds=10**9, targets=["#x"])], None)
