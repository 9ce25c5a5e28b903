"""decide/evolve: opening, deduplicating, escalating severity, acknowledging, resolving; close_quiet."""

from __future__ import annotations

from signalcraft_schemas import AlertStatus, Severity
from signalcraft_schemas.events import (
    GroupAcknowledged, GroupOpened, GroupReopened, GroupResolved, GroupStatus, GroupUpdated,
)
from signalcraft_grouping.domain.group import close_quiet, decide, evolve

from ..builders import GROUP_KEY, T0, at, gid, make_alert, make_group, minutes

WINDOW = minutes(60)


def run(group, alert, received_at, new_id=gid(99), window=WINDOW):
    return decide(group, alert, group_key=GROUP_KEY, received_at=received_at, window=window, new_group_id=new_id)


def test_first_alert_opens_a_group_with_count_one():
    alert = make_alert(tags={"team": "payments", "region": "eu"})
    [event] = run(None, alert, at(0), new_id=gid(1))
    assert isinstance(event, GroupOpened)
    assert event.group == make_group(group_id=gid(1), tags={"team": "payments", "region": "eu"})
    assert event.group.first_seen_at == event.group.last_seen_at == T0
    [late] = run(None, make_alert(occurred_at=at(-300)), at(0))  # times are received_at, not the provider's clock
    assert late.group.first_seen_at == at(0)


def test_repeat_within_window_increments_count_and_keeps_the_group():
    group = make_group(count=3, last_seen_at=at(10))
    [event] = run(group, make_alert(), at(40))
    assert isinstance(event, GroupUpdated)
    assert event.alerts_added == 1
    assert (event.group.group_id, event.group.count, event.group.last_seen_at) == (group.group_id, 4, at(40))
    assert event.group.first_seen_at == group.first_seen_at


def test_window_boundary_exactly_equal_counts_as_inside():
    [event] = run(make_group(last_seen_at=at(0)), make_alert(), at(60))
    assert isinstance(event, GroupUpdated)
    assert event.group.group_id == make_group().group_id


def test_repeat_after_the_window_opens_a_new_group_with_the_new_id_and_closes_the_replaced_one():
    [closed, event] = run(make_group(count=7, last_seen_at=at(0)), make_alert(), at(60) + minutes(1 / 60), new_id=gid(2))
    assert isinstance(closed, GroupResolved) and closed.reason == "replaced"
    assert (closed.group.group_id, closed.group.status, closed.group.count) == (gid(1), GroupStatus.RESOLVED, 7)
    assert isinstance(event, GroupOpened)
    assert (event.group.group_id, event.group.count, event.group.first_seen_at) == (gid(2), 1, at(60) + minutes(1 / 60))


def test_window_is_measured_from_last_seen_not_first_seen():
    group = make_group(first_seen_at=at(0), last_seen_at=at(100), count=5)
    [event] = run(group, make_alert(), at(150))
    assert isinstance(event, GroupUpdated)


def test_workspace_window_is_respected():
    [closed, event] = run(make_group(last_seen_at=at(0)), make_alert(), at(10), window=minutes(5))
    assert isinstance(closed, GroupResolved) and closed.reason == "replaced"
    assert isinstance(event, GroupOpened)


def test_severity_only_rises():
    group = make_group(severity=Severity.HIGH)
    [down] = run(group, make_alert(severity=Severity.LOW), at(1))
    assert down.group.severity == Severity.HIGH
    [up] = run(group, make_alert(severity=Severity.CRITICAL), at(1))
    assert up.group.severity == Severity.CRITICAL


def test_update_takes_the_newest_title_and_link_but_keeps_them_when_blank():
    group = make_group(title="old", link="https://old")
    [newer] = run(group, make_alert(title="new", link="https://new"), at(1))
    assert (newer.group.title, newer.group.link) == ("new", "https://new")
    [blank] = run(group, make_alert(title="", link=None), at(1))
    assert (blank.group.title, blank.group.link) == ("old", "https://old")


def test_out_of_order_arrival_does_not_move_last_seen_back():
    [event] = run(make_group(last_seen_at=at(30)), make_alert(), at(20))
    assert event.group.last_seen_at == at(30)
    assert event.group.count == 2


def test_resolved_alert_resolves_the_open_group():
    group = make_group(count=4, last_seen_at=at(10))
    [event] = run(group, make_alert(status=AlertStatus.RESOLVED), at(20))
    assert isinstance(event, GroupResolved)
    assert event.reason == "source_resolved"
    assert event.by == "sentry"
    assert event.group == group.model_copy(update={"status": GroupStatus.RESOLVED, "last_seen_at": at(20),
                                                   "resolved_at": at(20), "resolved_by": "sentry"})


def test_resolved_alert_is_ignored_when_no_group_is_open():
    resolved = make_alert(status=AlertStatus.RESOLVED)
    assert run(None, resolved, at(0)) == []
    assert run(make_group(status=GroupStatus.RESOLVED), resolved, at(1)) == []


def test_acknowledged_alert_acknowledges_an_open_group_once():
    ack = make_alert(status=AlertStatus.ACKNOWLEDGED, source="pagerduty")
    group = make_group(count=2, last_seen_at=at(5))
    [event] = run(group, ack, at(10))
    assert isinstance(event, GroupAcknowledged)
    assert event.by == "pagerduty"
    assert event.group == group.model_copy(update={"status": GroupStatus.ACKNOWLEDGED, "acknowledged_by": "pagerduty",
                                                   "acknowledged_at": at(10)})
    assert run(evolve(group, event), ack, at(11)) == []


def test_acknowledged_alert_is_ignored_without_an_active_group():
    ack = make_alert(status=AlertStatus.ACKNOWLEDGED)
    assert run(None, ack, at(0)) == []
    assert run(make_group(status=GroupStatus.RESOLVED), ack, at(1)) == []
    assert run(make_group(last_seen_at=at(0)), ack, at(120)) == []  # the open group went stale


def test_firing_alert_after_ack_keeps_the_group_acknowledged():
    [event] = run(make_group(status=GroupStatus.ACKNOWLEDGED), make_alert(), at(1))
    assert isinstance(event, GroupUpdated)
    assert (event.group.status, event.group.count) == (GroupStatus.ACKNOWLEDGED, 2)


def test_alert_after_resolution_and_after_the_window_opens_a_new_group():
    """Issue 9 changed the inside of the window: a resolved group that fires again there reopens
    (see test_lifecycle.py); after the window a new group opens, as before."""
    resolved = make_group(status=GroupStatus.RESOLVED, last_seen_at=at(0))
    [event] = run(resolved, make_alert(), at(61), new_id=gid(3))
    assert isinstance(event, GroupOpened)
    assert (event.group.group_id, event.group.count, event.group.status) == (gid(3), 1, GroupStatus.OPEN)
    [again] = run(resolved, make_alert(), at(1), new_id=gid(3))
    assert isinstance(again, GroupReopened) and again.group.group_id == resolved.group_id


def test_evolve_folds_group_events_and_ignores_others():
    state = None
    for alert, t in [(make_alert(), at(0)), (make_alert(), at(5)), (make_alert(status=AlertStatus.RESOLVED), at(6))]:
        for event in run(state, alert, t, new_id=gid(1)):
            state = evolve(state, event)
    assert (state.group_id, state.count, state.status, state.last_seen_at) == (gid(1), 2, GroupStatus.RESOLVED, at(6))
    from signalcraft_schemas.events import CloseQuietGroup

    assert evolve(state, CloseQuietGroup(group_id=gid(1), group_key=GROUP_KEY, quiet_since=at(0))) is state


# --- close_quiet ---------------------------------------------------------------------------


def test_close_quiet_resolves_a_quiet_group():
    group = make_group(last_seen_at=at(0))
    [event] = close_quiet(group, group_id=group.group_id, quiet_since=at(0), now=at(24 * 60))
    assert isinstance(event, GroupResolved)
    assert event.reason == "quiet_timeout"
    assert event.group == group.model_copy(update={"status": GroupStatus.RESOLVED, "resolved_at": at(24 * 60)})


def test_close_quiet_closes_an_acknowledged_group_too():
    group = make_group(status=GroupStatus.ACKNOWLEDGED)
    assert len(close_quiet(group, group_id=group.group_id, quiet_since=at(0), now=at(60))) == 1


def test_close_quiet_ignores_another_group_id():
    assert close_quiet(make_group(group_id=gid(2)), group_id=gid(1), quiet_since=at(0), now=at(60)) == []


def test_close_quiet_ignores_a_group_that_spoke_since_and_missing_or_resolved_groups():
    assert close_quiet(make_group(last_seen_at=at(5)), group_id=make_group().group_id, quiet_since=at(0), now=at(60)) == []
    assert close_quiet(None, group_id=gid(1), quiet_since=at(0), now=at(60)) == []
    assert close_quiet(make_group(status=GroupStatus.RESOLVED), group_id=gid(1), quiet_since=at(0), now=at(60)) == []
