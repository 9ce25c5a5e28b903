"""coalesce: one event per group per batch where updates can merge; causes travel with events."""

from __future__ import annotations

from signalcraft_schemas.events import GroupAcknowledged, GroupOpened, GroupResolved, GroupStatus, GroupUpdated
from signalcraft_grouping.domain.group import coalesce

from ..builders import at, gid, make_group


def snap(n, count, **kw):
    return make_group(group_id=gid(n), group_key=f"key-{n}", count=count, last_seen_at=at(count), **kw)


def opened(n):
    return GroupOpened(group=snap(n, 1))


def updated(n, count, added=1):
    return GroupUpdated(group=snap(n, count), alerts_added=added)


def test_many_updates_of_one_group_merge_into_one():
    assert coalesce([]) == []
    out = coalesce([(updated(1, 5), "c1"), (updated(1, 6), "c2"), (updated(1, 8, added=2), "c3")])
    assert out == [(GroupUpdated(group=snap(1, 8), alerts_added=4), "c3")]


def test_updates_after_an_open_fold_into_the_open():
    out = coalesce([(opened(1), "c1"), (updated(1, 2), "c2"), (updated(1, 3), "c3")])
    assert out == [(GroupOpened(group=snap(1, 3)), "c3")]


def test_opens_and_resolves_are_kept():
    resolved = GroupResolved(group=snap(1, 2, status=GroupStatus.RESOLVED), reason="source_resolved")
    out = coalesce([(opened(1), "c1"), (updated(1, 2), "c2"), (resolved, "c3"), (opened(2), "c4")])
    assert out == [(GroupOpened(group=snap(1, 2)), "c2"), (resolved, "c3"), (opened(2), "c4")]


def test_an_update_after_an_ack_is_not_folded_across_it():
    ack = GroupAcknowledged(group=snap(1, 2, status=GroupStatus.ACKNOWLEDGED), by="pagerduty")
    later = GroupUpdated(group=snap(1, 3, status=GroupStatus.ACKNOWLEDGED), alerts_added=1)
    out = coalesce([(updated(1, 2), "c1"), (ack, "c2"), (later, "c3")])
    assert [type(e) for e, _ in out] == [GroupUpdated, GroupAcknowledged, GroupUpdated]
    assert out[2] == (later, "c3")


def test_interleaved_groups_keep_their_own_events_in_order_of_first_appearance():
    batch = [(updated(2, 4), "a"), (opened(1), "b"), (updated(2, 5), "c"), (updated(1, 2), "d"), (updated(2, 6), "e")]
    out = coalesce(batch)
    assert out == [
        (GroupUpdated(group=snap(2, 6), alerts_added=3), "e"),
        (GroupOpened(group=snap(1, 2)), "d"),
    ]


def test_total_alerts_are_conserved_by_merging():
    batch = [(updated(1, c), f"c{c}") for c in range(2, 12)]
    [(event, cause)] = coalesce(batch)
    assert (event.alerts_added, event.group.count, cause) == (10, 11, "c11")
