"""The config view on a real broker: caught up at start, and `sync()` as a read-your-writes barrier."""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from signalcraft_devstack.broker import TansuBroker
from signalcraft_runtime import topic_end
from signalcraft_runtime.config_view import ConfigView
from signalcraft_runtime.kafka_client import kafka_client_options
from signalcraft_runtime.publisher import KafkaPublisher, OutgoingMessage
from signalcraft_runtime.settings import KafkaSettings
from signalcraft_runtime.topics import TopicLayout, ensure_topics
from signalcraft_schemas import Envelope, Topic, encode
from signalcraft_schemas.events import WorkspaceConfigured

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def workspace(workspace_id: str) -> OutgoingMessage:
    env = Envelope.wrap(WorkspaceConfigured(workspace_id=workspace_id, name=workspace_id), workspace_id=workspace_id,
                        key=f"workspace:{workspace_id}", correlation_id="test", occurred_at=NOW)
    return OutgoingMessage(topic=str(Topic.CONFIG), key=env.key, payload=encode(env))


async def test_sync_returns_only_once_every_write_made_before_it_is_applied(bootstrap_servers: str) -> None:
    kafka = kafka_client_options(KafkaSettings(kafka_bootstrap_servers=bootstrap_servers), "it-config")
    await ensure_topics(kafka, TopicLayout(partitions=2))
    publisher = KafkaPublisher(kafka, linger_ms=0, max_batch_bytes=65536)
    await publisher.start()
    view = ConfigView(kafka, fetch_max_wait_ms=500)  # a view that trails by up to half a second
    await view.start()
    try:
        await view.wait_ready(30)
        for _ in range(5):  # each round: write, then read through the barrier at once
            names = [f"ws-{secrets.token_hex(4)}" for _ in range(4)]
            await publisher.publish_many([workspace(n) for n in names])
            assert await view.sync(timeout=10)
            assert set(names) <= set(view.state.workspaces), "sync returned before the view had the writes"
    finally:
        await view.stop()
        await publisher.stop()


async def test_sync_gives_up_after_its_timeout_when_the_view_has_no_broker() -> None:
    nowhere = KafkaSettings(kafka_bootstrap_servers="127.0.0.1:1")  # nothing listens there
    view = ConfigView(kafka_client_options(nowhere, "it-config"))
    await view.start()
    try:
        assert await view.sync(timeout=0.5) is False
    finally:
        await view.stop()


@pytest.fixture(scope="module")
def durable_broker() -> Iterator[TansuBroker]:
    """Tansu on SeaweedFS, as `make run` has it: the storage whose watermark trails after a crash."""
    root = Path(tempfile.mkdtemp(prefix="signalcraft-it-durable-broker-"))
    broker = TansuBroker(root, root / "logs", storage="s3").start()
    yield broker
    broker.stop()


async def crash_right_after(broker: TansuBroker, kafka: dict[str, object], names: list[str]) -> None:
    """Publish, each write acked on its own, then kill -9 the broker at once and restart it."""
    publisher = KafkaPublisher(kafka, linger_ms=0, max_batch_bytes=65536)
    await publisher.start()
    try:
        for name in names:
            await publisher.publish_many([workspace(name)])
    finally:
        broker.kill9()
        await publisher.stop()
    await asyncio.to_thread(broker.start_broker_only)


async def test_the_end_of_a_topic_counts_the_records_a_crashed_broker_acked(durable_broker: TansuBroker) -> None:
    kafka = kafka_client_options(KafkaSettings(kafka_bootstrap_servers=durable_broker.bootstrap_servers), "it-end")
    await ensure_topics(kafka, TopicLayout(partitions=1))
    config = TopicPartition(str(Topic.CONFIG), 0)
    before = (await topic_end.end_offsets(kafka, [config]))[config]
    await crash_right_after(durable_broker, kafka, [f"ws-{secrets.token_hex(4)}" for _ in range(6)])
    probe = AIOKafkaConsumer(**kafka, enable_auto_commit=False, group_id=None)
    await probe.start()
    try:
        watermark = (await probe.end_offsets([config]))[config]
    finally:
        await probe.stop()
    print(f"after kill -9: the broker's end offset {watermark}, records {before + 6}")
    assert (await topic_end.end_offsets(kafka, [config]))[config] == before + 6
    assert (await topic_end.end_offsets(kafka, [config], at_least={config: before + 3}))[config] == before + 6


async def test_sync_after_a_broker_crash_brings_in_every_write_the_broker_acked(durable_broker: TansuBroker) -> None:
    """The view had not fetched the writes when the broker died; sync() must not take the broker's
    trailing watermark after the restart for the end (a webhook for the integration would get 404)."""
    kafka = kafka_client_options(KafkaSettings(kafka_bootstrap_servers=durable_broker.bootstrap_servers), "it-config")
    await ensure_topics(kafka, TopicLayout(partitions=1))
    view = ConfigView(kafka, fetch_max_wait_ms=500)
    await view.start()
    try:
        await view.wait_ready(30)
        names = [f"ws-{secrets.token_hex(4)}" for _ in range(4)]
        await crash_right_after(durable_broker, kafka, names)
        assert await view.sync(timeout=20)
        assert set(names) <= set(view.state.workspaces), "sync returned before the view had the acked writes"
    finally:
        await view.stop()


async def test_a_view_started_after_a_broker_crash_is_ready_only_with_every_acked_write(
        durable_broker: TansuBroker) -> None:
    kafka = kafka_client_options(KafkaSettings(kafka_bootstrap_servers=durable_broker.bootstrap_servers), "it-config")
    await ensure_topics(kafka, TopicLayout(partitions=1))
    names = [f"ws-{secrets.token_hex(4)}" for _ in range(4)]
    await crash_right_after(durable_broker, kafka, names)
    view = ConfigView(kafka, fetch_max_wait_ms=500)
    await view.start()
    try:
        await view.wait_ready(30)
        assert set(names) <= set(view.state.workspaces), "ready before the view had the acked writes"
    finally:
        await view.stop()

