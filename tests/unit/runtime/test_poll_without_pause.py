"""A batch subscriber's poll returns at once when it finds nothing, and hands over what it finds.

FastStream's own batch poll sleeps its whole poll timeout after an empty poll; with a timeout of a
minute, a test of that poll would hang. A fake consumer stands in for aiokafka's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker

from signalcraft_runtime.consumer import poll_without_pause


def record(topic: str, offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=None,
                          value=b"v", checksum=None, serialized_key_size=0, serialized_value_size=1, headers=())


class FakeConsumer:
    """aiokafka's getmany: answers with the next of the given polls, recording how it was asked."""

    def __init__(self, polls: list[dict[TopicPartition, list[ConsumerRecord[Any, Any]]]]) -> None:
        self.polls = polls
        self.asked: list[tuple[int, int | None]] = []

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.asked.append((timeout_ms, max_records))
        return self.polls.pop(0)


def batch_subscriber(timeout_ms: int) -> Any:
    broker = KafkaBroker("127.0.0.1:1")
    return broker.subscriber("alerts", "groups", group_id="g", batch=True, batch_timeout_ms=timeout_ms, max_records=7)


async def test_an_empty_poll_returns_at_once_instead_of_sleeping_its_timeout() -> None:
    subscriber = batch_subscriber(timeout_ms=60_000)
    poll_without_pause(subscriber)
    consumer = FakeConsumer([{}, {}])
    async with asyncio.timeout(5):  # FastStream's own poll would sleep 60 s after each
        assert await subscriber.get_msg(consumer) == ()
        assert await subscriber.get_msg(consumer) == ()
    assert consumer.asked == [(60_000, 7), (60_000, 7)]


async def test_a_poll_hands_over_every_partition_s_records_in_order() -> None:
    subscriber = batch_subscriber(timeout_ms=500)
    poll_without_pause(subscriber)
    alerts, groups = TopicPartition("alerts", 0), TopicPartition("groups", 0)
    polled = {alerts: [record("alerts", 4), record("alerts", 5)], groups: [record("groups", 9)]}
    batch = await subscriber.get_msg(FakeConsumer([polled]))
    assert [(r.topic, r.offset) for r in batch] == [("alerts", 4), ("alerts", 5), ("groups", 9)]


def test_only_a_batch_subscriber_is_accepted() -> None:
    broker = KafkaBroker("127.0.0.1:1")
    with pytest.raises(TypeError):
        poll_without_pause(broker.subscriber("alerts", group_id="g"))
