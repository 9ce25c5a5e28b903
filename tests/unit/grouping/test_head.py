"""The head of a group_key: group replacement, and the debounce's bookkeeping of what downstream heard."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from signalcraft_schemas import Severity
from signalcraft_schemas.events import GroupNoteAdded
from signalcraft_schemas.events import (
    GroupAcknowledged, GroupOpened, GroupResolved, GroupStatus, GroupUpdated, WorkspaceConfigured,
)
from signalcraft_grouping.domain.group import DEFAULT_DEDUP_WINDOW, dedup_window
from signalcraft_grouping.domain.head import (
    Cause, GroupHead, Published, catch_up, evolve_head, flush_held_back, publish_or_hold,
)

from ..builders import WORKSPACE, at, gid, make_group

DEBOUNCE = timedelta(seconds=5)
CAUSE = Cause(UUID(int=7), "delivery-7")


def seconds(n: float) -> datetime:
    return at(n / 60)


def updated(count: int, severity: Severity = Severity.HIGH, group_id: UUID = gid(1)) -> GroupUpdated:
    return GroupUpdated(group=make_group(group_id=group_id, count=count, severity=severity), alerts_added=1)


def heard(count: int, at_s: float, severity: Severity = Severity.HIGH) -> Published:
    return Published(count, severity, seconds(at_s))


# --- evolve_head: a decided event, and group replacement ------------------------------------


def test_the_first_event_of_a_key_makes_its_head():
    group = make_group()
    head, replaced = evolve_head(None, GroupOpened(group=group))
    assert (head, replaced) == (GroupHead(group), [])


def test_an_event_moves_the_snapshot_and_keeps_the_bookkeeping():
    head = GroupHead(make_group(count=3), heard(2, 0), CAUSE)
    after, replaced = evolve_head(head, updated(4))
    assert replaced == []
    assert after == GroupHead(make_group(count=4), heard(2, 0), CAUSE)


def test_a_new_group_replacing_one_with_a_held_back_update_publishes_that_update_first():
    old = make_group(group_id=gid(1), count=9)
    new = make_group(group_id=gid(2), count=1, first_seen_at=at(90), last_seen_at=at(90))
    head = GroupHead(old, heard(4, 0), CAUSE)
    after, replaced = evolve_head(head, GroupOpened(group=new))
    # downstream heard 4 of the old group; the 5 since then are not lost with the head
    assert replaced == [GroupUpdated(group=old, alerts_added=5)]
    assert after.snapshot == new and after.pending_cause is None


def test_a_new_group_replacing_one_with_nothing_held_back_publishes_nothing_extra():
    head = GroupHead(make_group(group_id=gid(1), status=GroupStatus.RESOLVED), heard(1, 0))
    after, replaced = evolve_head(head, GroupOpened(group=make_group(group_id=gid(2))))
    assert replaced == [] and after.snapshot.group_id == gid(2)


def test_only_an_open_replaces_the_group():
    head = GroupHead(make_group(count=3), heard(2, 0), CAUSE)
    for event in (GroupAcknowledged(group=make_group(count=3, status=GroupStatus.ACKNOWLEDGED), by="u"),
                  GroupResolved(group=make_group(count=3, status=GroupStatus.RESOLVED), reason="quiet_timeout")):
        after, replaced = evolve_head(head, event)
        assert replaced == [] and after.pending_cause == CAUSE and after.snapshot == event.group


def test_catching_up_counts_the_alerts_since_downstream_last_heard_at_least_one():
    assert catch_up(GroupHead(make_group(count=7), heard(3, 0))).alerts_added == 4
    assert catch_up(GroupHead(make_group(count=7))).alerts_added == 7  # never published
    assert catch_up(GroupHead(make_group(count=3), heard(3, 0))).alerts_added == 1


# --- publish_or_hold: the debounce ----------------------------------------------------------


def test_the_first_update_of_a_group_is_published_and_remembered():
    head = GroupHead(make_group(count=2))
    after, now = publish_or_hold(head, updated(2), CAUSE, seconds(1), DEBOUNCE)
    assert now is True
    assert after == GroupHead(make_group(count=2), heard(2, 1), None)


def test_an_update_within_the_debounce_interval_is_held_back_with_its_cause():
    head = GroupHead(make_group(count=3), heard(2, 0))
    after, now = publish_or_hold(head, updated(3), CAUSE, seconds(4.9), DEBOUNCE)
    assert now is False
    assert after == GroupHead(make_group(count=3), heard(2, 0), CAUSE)  # downstream still heard 2


def test_an_update_once_the_interval_has_passed_is_published_and_clears_what_was_held_back():
    head = GroupHead(make_group(count=3), heard(2, 0), Cause(UUID(int=1), "older"))
    after, now = publish_or_hold(head, updated(3), CAUSE, seconds(5), DEBOUNCE)
    assert now is True
    assert after == GroupHead(make_group(count=3), heard(3, 5), None)


def test_a_higher_severity_is_published_at_once():
    head = GroupHead(make_group(count=3, severity=Severity.CRITICAL), heard(2, 0, Severity.HIGH))
    after, now = publish_or_hold(head, updated(3, Severity.CRITICAL), CAUSE, seconds(1), DEBOUNCE)
    assert now is True and after.published == heard(3, 1, Severity.CRITICAL)
    lower = GroupHead(make_group(count=3, severity=Severity.LOW), heard(2, 0, Severity.HIGH))
    assert publish_or_hold(lower, updated(3, Severity.LOW), CAUSE, seconds(1), DEBOUNCE)[1] is False


def test_opens_acknowledgements_and_resolutions_are_never_held_back():
    acked = make_group(count=3, status=GroupStatus.ACKNOWLEDGED)
    head = GroupHead(acked, heard(2, 0), CAUSE)
    after, now = publish_or_hold(head, GroupAcknowledged(group=acked, by="u"), CAUSE, seconds(1), DEBOUNCE)
    assert now is True
    assert after == GroupHead(acked, heard(3, 1), None)


def test_an_event_about_a_replaced_group_is_published_and_leaves_the_head_alone():
    head = GroupHead(make_group(group_id=gid(2)), heard(1, 0), CAUSE)
    after, now = publish_or_hold(head, updated(9, group_id=gid(1)), Cause(UUID(int=8), "c"), seconds(1), DEBOUNCE)
    assert now is True and after == head


# --- flush_held_back ------------------------------------------------------------------------


def test_flushing_publishes_the_current_count_and_clears_the_cause():
    head = GroupHead(make_group(count=8), heard(5, 0), CAUSE)
    after, update = flush_held_back(head, seconds(6))
    assert update == GroupUpdated(group=make_group(count=8), alerts_added=3)
    assert after == GroupHead(make_group(count=8), heard(8, 6), None)


def test_updates_held_back_then_flushed():
    """The bookkeeping over time: downstream hears the open (1), then, once flushed, 3."""
    head, _ = evolve_head(None, GroupOpened(group=make_group(count=1)))
    head, now = publish_or_hold(head, GroupOpened(group=make_group(count=1)), CAUSE, seconds(0), DEBOUNCE)
    assert now and head.published == heard(1, 0)
    for count, t in ((2, 1), (3, 2)):
        head, _ = evolve_head(head, updated(count))
        head, now = publish_or_hold(head, updated(count), Cause(UUID(int=count), f"c{count}"), seconds(t), DEBOUNCE)
        assert not now
    assert head.pending_cause == Cause(UUID(int=3), "c3")  # the newest alert causes the held-back update
    head, update = flush_held_back(head, seconds(5))
    assert update.alerts_added == 2 and head.published == heard(3, 5) and head.pending_cause is None


def test_the_dedup_window_is_the_workspace_setting_or_the_default():
    workspace = WorkspaceConfigured(workspace_id=WORKSPACE, name="w", dedup_window_minutes=15)
    assert dedup_window(workspace) == timedelta(minutes=15)
    assert dedup_window(None) == DEFAULT_DEDUP_WINDOW == timedelta(minutes=60)


# --- a catch-up within a batch (the replaced group's held-back update) ----------------------


def test_a_catch_up_supersedes_the_batchs_earlier_updates_of_that_group_so_no_alert_counts_twice():
    """A held-back update (downstream heard 3 of 5), then in one batch: one more alert for the group
    (6) and an alert after its window, which replaces it. The published updates of the old group
    must add up to 3 (alerts 4, 5 and 6), not 4."""
    from signalcraft_grouping.domain.group import coalesce, decide
    from signalcraft_grouping.domain.head import superseded

    from ..builders import GROUP_KEY, make_alert

    head = GroupHead(make_group(count=5, last_seen_at=at(0)), heard(3, 0), CAUSE)
    decided: list = []
    for minute, cause in ((30, "c6"), (91, "c7")):
        for event in decide(head.snapshot, make_alert(), group_key=GROUP_KEY, received_at=at(minute),
                            window=timedelta(minutes=60), new_group_id=gid(2)):
            head, caught_up = evolve_head(head, event)
            decided = superseded(decided, caught_up) + [(u, cause) for u in caught_up] + [(event, cause)]
    published = coalesce(decided)
    old_updates = [e for e, _ in published if isinstance(e, GroupUpdated) and e.group.group_id == gid(1)]
    assert sum(u.alerts_added for u in old_updates) == 3 and old_updates[-1].group.count == 6
    assert [type(e) for e, _ in published] == [GroupUpdated, GroupResolved, GroupOpened]
    assert head.snapshot.group_id == gid(2) and head.pending_cause is None


def test_superseded_keeps_other_groups_and_other_events():
    from signalcraft_grouping.domain.head import superseded

    ack = GroupAcknowledged(group=make_group(status=GroupStatus.ACKNOWLEDGED), by="u")
    decided = [(updated(4), "a"), (ack, "b"), (updated(2, group_id=gid(2)), "c")]
    assert superseded(decided, [updated(5)]) == [(ack, "b"), (updated(2, group_id=gid(2)), "c")]
    assert superseded(decided, []) == decided


def test_a_note_is_published_at_once_and_leaves_a_held_back_update_held():
    head = GroupHead(make_group(count=3), heard(2, 0), Cause(UUID(int=1), "held"))
    note = GroupNoteAdded(group=make_group(count=3), note_id=UUID(int=9), text="looking", by="api:alice")
    after, now = publish_or_hold(head, note, CAUSE, seconds(1), DEBOUNCE)
    assert now is True
    assert after == head  # the router ignores notes: the held update must still reach it
