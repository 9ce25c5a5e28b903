"""The config view on a real broker: caught up at start, and `sync()` as a read-your-writes barrier."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

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
