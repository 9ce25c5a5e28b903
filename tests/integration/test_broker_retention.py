"""The embedded broker's retention on a real Tansu on SeaweedFS S3: it deletes only what every consumer
group has read, consumers carry on from their committed offsets without losing a record, a new group
starts at what is left, and the config topic keeps its whole history."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from signalcraft_devstack.broker import BUCKET, TansuBroker
from signalcraft_devstack.broker_retention import Filer, RetentionPolicy, sweep

pytestmark = pytest.mark.integration

EVENTS, CONFIG = "retention-events", "config"


@pytest.fixture(scope="module")
def broker() -> Iterator[TansuBroker]:
    root = Path(tempfile.mkdtemp(prefix="signalcraft-retention-"))
    # The sweep is run by the test itself here; the process is checked in the last test.
    started = TansuBroker(root / "broker", root / "logs", storage="s3").start()
    yield started
    started.stop()


def records_dir(topic: str) -> str:
    return f"/buckets/{BUCKET}/clusters/tansu_cluster/topics/{topic}/partitions/0000000000/records"


def batch_offsets(broker: TansuBroker, topic: str) -> list[int]:
    assert broker.s3 is not None
    with Filer(broker.s3.filer_url) as filer:
        return sorted(int(e.name[:20]) for e in filer.list(records_dir(topic)) if e.name.endswith(".batch"))


async def produce_one_batch_each(servers: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=False)
    await producer.start()
    try:
        for value in values:  # awaited one by one: one batch (one S3 object) each
            await producer.send_and_wait(topic, value, key=b"k", partition=0)
    finally:
        await producer.stop()


async def read_and_commit(servers: str, topic: str, group: str, count: int) -> list[bytes]:
    """Consume `count` records in `group` (from its committed offset, else the earliest) and commit just past them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    consumer.assign([TopicPartition(topic, 0)])  # no rebalance to wait for; commits still go to the group
    try:
        got: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            got += [(r.offset, r.value) for rs in batches.values() for r in rs if r.value is not None]
        got = got[:count]
        assert len(got) == count, f"{group} read {len(got)} of {count}"
        await consumer.commit({TopicPartition(topic, 0): got[-1][0] + 1})
        return [value for _, value in got]
    finally:
        await consumer.stop()


async def create_topics(servers: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(EVENTS, 1, 1), NewTopic(CONFIG, 1, 1)])
    finally:
        await admin.close()


def test_only_what_every_group_has_read_goes_and_consumers_carry_on_without_a_gap(broker: TansuBroker) -> None:
    servers = broker.bootstrap_servers
    values = [f"event-{i}".encode() for i in range(10)]

    async def setup() -> None:
        await create_topics(servers)
        await produce_one_batch_each(servers, EVENTS, values)
        await produce_one_batch_each(servers, CONFIG, [b"config-0", b"config-1", b"config-2"])
        assert await read_and_commit(servers, EVENTS, "fast", 10) == values
        assert await read_and_commit(servers, EVENTS, "slow", 4) == values[:4]
        assert await read_and_commit(servers, CONFIG, "config-reader", 3) == [b"config-0", b"config-1", b"config-2"]

    asyncio.run(setup())
    assert batch_offsets(broker, EVENTS) == list(range(10))

    assert broker.s3 is not None
    with Filer(broker.s3.filer_url) as filer:
        result = sweep(filer, BUCKET, RetentionPolicy(keep_seconds=0), now=time.time(), watching_since=time.time())

    # "slow" committed 4: batches 0-3 are behind every group, 4 onwards are not.
    assert batch_offsets(broker, EVENTS) == list(range(4, 10))
    assert result.deleted == {(EVENTS, 0): 4}
    # Read by its group too, but every service replays the config topic whole.
    assert batch_offsets(broker, CONFIG) == [0, 1, 2]

    async def afterwards() -> None:
        assert await read_and_commit(servers, EVENTS, "slow", 6) == values[4:], "slow lost records it had not read"
        # A group that joins now starts at what the topic still holds.
        assert await read_and_commit(servers, EVENTS, "late", 6) == values[4:]
        assert await read_and_commit(servers, CONFIG, "late", 3) == [b"config-0", b"config-1", b"config-2"]

    asyncio.run(afterwards())


def test_a_group_that_joined_and_has_not_committed_yet_holds_the_topic(broker: TansuBroker) -> None:
    servers, topic = broker.bootstrap_servers, "retention-joined"
    values = [f"joined-{i}".encode() for i in range(5)]

    def sweep_now() -> None:
        assert broker.s3 is not None
        with Filer(broker.s3.filer_url) as filer:
            sweep(filer, BUCKET, RetentionPolicy(keep_seconds=0), now=time.time(), watching_since=time.time())

    async def scenario() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        await admin.create_topics([NewTopic(topic, 1, 1)])
        await admin.close()
        await produce_one_batch_each(servers, topic, values)
        assert await read_and_commit(servers, topic, "done-reading", 5) == values
        # A service starting up: a member of its group, assigned the partition, nothing committed yet.
        joined = AIOKafkaConsumer(topic, bootstrap_servers=servers, group_id="still-starting",
                                  auto_offset_reset="earliest", enable_auto_commit=False)
        await joined.start()
        try:
            deadline = time.monotonic() + 30
            while not joined.assignment() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert joined.assignment()
            await asyncio.to_thread(sweep_now)
        finally:
            await joined.stop()

    asyncio.run(scenario())
    assert batch_offsets(broker, topic) == list(range(5)), "deleted what a joined group has not read"


def test_the_retention_process_keeps_a_partition_short_while_consumers_keep_up() -> None:
    root = Path(tempfile.mkdtemp(prefix="signalcraft-retention-process-"))
    broker = TansuBroker(root / "broker", root / "logs", storage="s3",
                         retention=RetentionPolicy(keep_seconds=0, sweep_every_seconds=0.5)).start()
    try:
        assert broker.retention_process is not None and broker.retention_process.alive()
        values = [f"event-{i}".encode() for i in range(30)]

        async def produce_and_follow() -> list[bytes]:
            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
            await admin.start()
            await admin.create_topics([NewTopic(EVENTS, 1, 1)])
            await admin.close()
            read: list[bytes] = []
            for chunk in range(3):  # the group keeps up, a chunk at a time, while the sweeps run
                await produce_one_batch_each(broker.bootstrap_servers, EVENTS, values[chunk * 10:(chunk + 1) * 10])
                read += await read_and_commit(broker.bootstrap_servers, EVENTS, "follower", 10)
            return read

        assert asyncio.run(produce_and_follow()) == values
        deadline = time.monotonic() + 30
        while batch_offsets(broker, EVENTS) != [29] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert batch_offsets(broker, EVENTS) == [29], (root / "logs" / "broker-retention.log").read_text()
        assert "batch objects deleted" in (root / "logs" / "broker-retention.log").read_text()
    finally:
        broker.stop()
