"""Which batch objects of a partition the embedded broker's retention deletes (pure policy)."""

from __future__ import annotations

import json

import pytest

from signalcraft_devstack.broker_retention import (
    BatchObject,
    GroupPosition,
    GroupsSeen,
    RetentionPolicy,
    batches_to_delete,
    parse_filer_time,
    subscribed_topics,
)

NOW = 1_000_000.0
POLICY = RetentionPolicy(keep_seconds=60, forget_groups_after_seconds=3600)
LONG_AGO = NOW - 10 * 3600  # this process has watched for ten hours


def old_batches(*offsets: int, age: float = 600) -> list[BatchObject]:
    return [BatchObject(offset, NOW - age) for offset in offsets]


def at(committed: int, group: str = "g", seen_ago: float = 1) -> GroupPosition:
    return GroupPosition(group, committed, NOW - seen_ago)


def test_a_batch_goes_once_every_group_is_past_all_of_it() -> None:
    batches = old_batches(0, 10, 20, 30)
    # "slow" has read 0..14: batch 10 runs to 19, so it stays, and so does everything after it.
    assert batches_to_delete(batches, [at(30, "fast"), at(15, "slow")], POLICY, NOW, LONG_AGO) == [0]
    assert batches_to_delete(batches, [at(30, "fast"), at(20, "slow")], POLICY, NOW, LONG_AGO) == [0, 10]


def test_the_newest_batch_always_stays_even_when_everyone_has_read_it() -> None:
    assert batches_to_delete(old_batches(0, 10, 20), [at(25)], POLICY, NOW, LONG_AGO) == [0, 10]
    assert batches_to_delete(old_batches(0), [at(5)], POLICY, NOW, LONG_AGO) == []


def test_recent_batches_stay_for_the_keep_period_and_only_a_prefix_goes() -> None:
    batches = [BatchObject(0, NOW - 600), BatchObject(10, NOW - 30), BatchObject(20, NOW - 600), BatchObject(30, NOW)]
    # Batch 20 is old but comes after a recent one: deleting it would leave a hole before batch 10's
    # successor, and Tansu answers "earliest" with the oldest object.
    assert batches_to_delete(batches, [at(40)], POLICY, NOW, LONG_AGO) == [0]


def test_a_partition_nobody_commits_on_keeps_everything() -> None:
    assert batches_to_delete(old_batches(0, 10, 20), [], POLICY, NOW, LONG_AGO) == []


def test_a_group_silent_for_longer_than_the_forget_period_no_longer_holds_data_back() -> None:
    batches = old_batches(0, 10, 20, 30, age=5 * 3600)
    gone = at(0, "query-api-rebuild-1", seen_ago=2 * 3600)
    assert batches_to_delete(batches, [at(30, "live"), gone], POLICY, NOW, LONG_AGO) == [0, 10, 20]


def test_a_silent_group_still_holds_data_until_this_process_has_watched_that_long() -> None:
    # A stack restarted after a day: every group was last seen a day ago and rejoins within seconds.
    batches = old_batches(0, 10, 20, 30, age=86_400)
    lagging = at(10, "query-api", seen_ago=86_400)
    just_started = NOW - 30
    assert batches_to_delete(batches, [at(30, "grouping"), lagging], POLICY, NOW, just_started) == [0]


def test_when_every_group_is_forgotten_nothing_is_deleted() -> None:
    batches = old_batches(0, 10, 20, age=5 * 3600)
    assert batches_to_delete(batches, [at(20, seen_ago=2 * 3600)], POLICY, NOW, LONG_AGO) == []


def test_unsorted_listings_are_ordered_by_offset() -> None:
    assert batches_to_delete(old_batches(20, 0, 10), [at(20)], POLICY, NOW, LONG_AGO) == [0, 10]


@pytest.mark.parametrize(("text", "epoch"), [
    ("1970-01-01T00:00:10Z", 10.0),
    ("1970-01-01T00:00:10.5Z", 10.5),
    ("1970-01-01T00:01:00.250000000Z", 60.25),
])
def test_filer_times_are_read_with_or_without_nanoseconds(text: str, epoch: float) -> None:
    assert parse_filer_time(text) == pytest.approx(epoch)


def test_make_runs_setting_keeps_a_minute_by_default_and_off_keeps_everything() -> None:
    from signalcraft_devstack.run import broker_retention_from

    assert broker_retention_from(None) == RetentionPolicy()
    assert broker_retention_from("600") == RetentionPolicy(keep_seconds=600)
    assert broker_retention_from("off") is None
    with pytest.raises(ValueError):
        broker_retention_from("-1")


def test_the_topics_a_group_subscribes_to_are_read_from_tansus_group_state() -> None:
    # As Tansu stored an aiokafka member subscribed to "t1": version 0, one topic, "t1", no user data.
    state = b'{"members":{"m-1":{"join_response":{"member_id":"m-1","metadata":[0,0,0,0,0,1,0,2,116,49,0,0,0,0]}}}}'
    assert subscribed_topics(state) == {"t1"}
    two = [0, 1, 0, 0, 0, 2, 0, 1, 97, 0, 3, 98, 99, 100, 0, 0, 0, 0]
    assert subscribed_topics(json.dumps({"members": {"m": {"join_response": {"metadata": two}}}}).encode()) == {"a", "bcd"}
    assert subscribed_topics(b'{"members":{"m":{"join_response":{"metadata":[0,0,0]}}}}') == set()
    assert subscribed_topics(b"not json") == set()


def test_a_subscribed_group_that_has_not_committed_yet_holds_the_whole_partition() -> None:
    seen = GroupsSeen(committed={("events", 0): [at(30, "grouping")]},
                      subscribers={"events": [("grouping", NOW), ("notifier", NOW)]})
    positions = seen.positions("events", 0)
    assert sorted((p.group, p.committed) for p in positions) == [("grouping", 30), ("notifier", 0)]
    assert batches_to_delete(old_batches(0, 10, 20, 30), positions, POLICY, NOW, LONG_AGO) == []
    assert seen.positions("other", 0) == []
