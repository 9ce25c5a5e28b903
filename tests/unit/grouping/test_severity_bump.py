"""Severity bump (issue 10.3): K alerts of a group within W in a bump environment raise it one level,
once per level, counted afresh after each raise; the count survives a restart (stored with the head)."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

from signalcraft_runtime.config_view import ConfigState
from signalcraft_schemas import Envelope, Severity
from signalcraft_schemas.events import AlertNormalized, GroupSeverityRaised, SeverityBump, WorkspaceConfigured

from signalcraft_grouping.domain.bump import (
    NO_BUMPS, BumpPolicy, BumpState, bump_policy, decide_bump, next_level, reason_text,
)
from signalcraft_grouping.domain.head import GroupHead
from signalcraft_grouping.handlers import Batch, on_alert_normalized
from signalcraft_grouping.repository import _head, _row

from ..builders import GROUP_KEY, T0, WORKSPACE, gid, make_alert, make_group

POLICY = BumpPolicy(count=3, within=timedelta(minutes=5), environments=frozenset({"prod"}))


def s(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def feed(times: list[float], *, severity: Severity = Severity.MEDIUM, environment: str = "prod",
         policy: BumpPolicy | None = POLICY, state: BumpState = NO_BUMPS) -> tuple[BumpState, list[GroupSeverityRaised]]:
    """Alerts received at these seconds after T0; the group takes each raise as grouping's evolve would."""
    group = make_group(severity=severity, environment=environment)
    raised: list[GroupSeverityRaised] = []
    for t in times:
        group = group.model_copy(update={"count": group.count + 1, "last_seen_at": s(t)})
        state, events = decide_bump(group, state, policy, environment=environment, received_at=s(t))
        raised += events
        group = events[-1].group if events else group
    return state, raised


def test_k_alerts_within_w_raise_one_level_with_the_reason():
    _, raised = feed([0, 60, 120])
    assert [(r.from_severity, r.to_severity) for r in raised] == [(Severity.MEDIUM, Severity.HIGH)]
    assert raised[0].reason == "3 alerts within 5m in prod"
    assert raised[0].group.severity == Severity.HIGH and raised[0].alerts == 3 and raised[0].within_seconds == 300


def test_fewer_than_k_alerts_raise_nothing():
    assert feed([0, 60])[1] == []


def test_k_alerts_spread_wider_than_w_raise_nothing():
    assert feed([0, 200, 301])[1] == []


def test_the_window_slides_over_the_newest_k_alerts():
    # 0, 200, 400 span 400 s; 200, 400, 480 span 280 s (within 5 m): raised at the fourth.
    state, raised = feed([0, 200, 400, 480])
    assert len(raised) == 1 and raised[0].group.last_seen_at == s(480)


def test_exactly_w_apart_still_counts():
    assert len(feed([0, 150, 300])[1]) == 1


def test_only_the_chosen_environments_count():
    assert feed([0, 1, 2], environment="staging")[1] == []
    staging = BumpPolicy(3, timedelta(minutes=5), frozenset({"staging", "prod"}))
    assert len(feed([0, 1, 2], environment="Staging", policy=staging)[1]) == 1


def test_no_policy_means_no_bump():
    assert feed([0, 1, 2, 3, 4, 5], policy=None)[1] == []


def test_each_raise_needs_k_more_alerts_and_climbs_one_level_at_a_time():
    _, raised = feed([0, 1, 2, 3, 4, 5, 6, 7, 8], severity=Severity.INFO)
    assert [r.to_severity for r in raised] == [Severity.LOW, Severity.MEDIUM, Severity.HIGH]


def test_critical_is_never_raised():
    assert feed([0, 1, 2, 3, 4, 5], severity=Severity.CRITICAL)[1] == []


def test_a_level_is_raised_from_at_most_once():
    # The group was raised from medium before; an alert brought it back to medium (cannot happen while a
    # group lives, severity only rises, but the state must not raise twice from one level all the same).
    state = BumpState(gid(1), (), (Severity.MEDIUM,))
    assert feed([0, 1, 2], state=state)[1] == []


def test_a_new_group_under_the_key_counts_afresh():
    old = BumpState(gid(99), (s(0), s(1)), (Severity.MEDIUM,))
    state, raised = feed([2], state=old)
    assert raised == [] and state.group_id == gid(1) and state.recent == (s(2),) and state.raised_from == ()


def test_a_providers_test_notification_is_never_raised():
    group = make_group(severity=Severity.LOW, is_test=True)
    state = NO_BUMPS
    for t in (0, 1, 2):
        state, raised = decide_bump(group, state, POLICY, environment="prod", received_at=s(t))
        assert raised == []


def test_levels_and_policy_from_the_workspace():
    assert next_level(Severity.HIGH) == Severity.CRITICAL and next_level(Severity.CRITICAL) is None
    assert bump_policy(None) is None
    assert bump_policy(WorkspaceConfigured(workspace_id="w", name="w")) is None
    ws = WorkspaceConfigured(workspace_id="w", name="w", severity_bump=SeverityBump(count=12, within_seconds=300))
    assert bump_policy(ws) == BumpPolicy(12, timedelta(seconds=300), frozenset({"prod"}))
    assert reason_text(BumpPolicy(12, timedelta(seconds=90), frozenset({"prod"})), "prod") == "12 alerts within 90s in prod"


# --- through grouping's handlers, and across a restart (the head as the repository stores it) ------

CONFIG = ConfigState(workspaces={WORKSPACE: WorkspaceConfigured(
    workspace_id=WORKSPACE, name="w", severity_bump=SeverityBump(count=3, within_seconds=300))})


def alert_env(t: float) -> Envelope[AlertNormalized]:
    alert = make_alert(severity=Severity.MEDIUM, occurred_at=s(t))
    data = AlertNormalized(alert=alert, group_key=GROUP_KEY, integration_id="sen-1", delivery_id=f"d{t}")
    return Envelope.wrap(data, workspace_id=WORKSPACE, key=GROUP_KEY, occurred_at=s(t), correlation_id=f"c{t}")


def run(heads: dict, times: list[float]) -> Batch:
    batch = Batch(loaded=heads, heads=dict(heads))
    for t in times:
        on_alert_normalized(batch, alert_env(t), CONFIG)
    return batch


def restarted(head: GroupHead) -> GroupHead:
    """The head as grouping loads it after a restart: through its stored row."""
    row = _row(head) | {"workspace_id": WORKSPACE, "group_key": GROUP_KEY}
    return _head(SimpleNamespace(**row))


def test_the_handler_raises_the_group_and_the_raise_follows_its_alert():
    batch = run({}, [0, 1, 2])
    kinds = [type(e).__name__ for e, _ in batch.decided]
    assert kinds[-1] == "GroupSeverityRaised" and batch.snapshot((WORKSPACE, GROUP_KEY)).severity == Severity.HIGH


def test_the_count_survives_a_restart_and_a_raise_is_not_repeated():
    key = (WORKSPACE, GROUP_KEY)
    first = run({}, [0, 1])  # two alerts, then grouping restarts
    head = restarted(first.heads[key])
    assert len(head.bump.recent) == 2
    second = run({key: head}, [2])
    assert [type(e).__name__ for e, _ in second.decided][-1] == "GroupSeverityRaised"
    head = restarted(second.heads[key])
    assert head.bump.raised_from == (Severity.MEDIUM,) and head.snapshot.severity == Severity.HIGH
    third = run({key: head}, [3, 4])  # two more: not yet K since the raise
    assert not any(type(e).__name__ == "GroupSeverityRaised" for e, _ in third.decided)
