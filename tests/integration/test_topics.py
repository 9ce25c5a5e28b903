"""Pre-provisioned topics (SIGNALCRAFT_CREATE_TOPICS=false) on the embedded broker: a service refuses to
start while a topic is missing, naming each one, and starts once they all exist.

Each test gets a broker of its own: the session's broker already has every topic.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from signalcraft_devstack.broker import TansuBroker
from signalcraft_escalator.main import EscalatorSettings, create_service
from signalcraft_runtime.kafka_client import kafka_client_options
from signalcraft_runtime.settings import KafkaSettings
from signalcraft_runtime.topics import MissingTopicsError, TopicLayout, ensure_topics
from signalcraft_schemas import Topic

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_broker() -> AsyncIterator[str]:
    root = Path(tempfile.mkdtemp(prefix="signalcraft-it-topics-"))
    broker = TansuBroker(root, root / "logs", storage="memory").start()
    yield broker.bootstrap_servers
    broker.stop()


async def provision(bootstrap_servers: str, topics: list[Topic]) -> None:
    """What a platform team's tooling does before the first start."""
    kafka = kafka_client_options(KafkaSettings(kafka_bootstrap_servers=bootstrap_servers), "it-provisioning")
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        await admin.create_topics([TopicLayout(partitions=3).new_topic(topic) for topic in topics])
    finally:
        await admin.close()


async def topic_names(bootstrap_servers: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_a_missing_topic_is_named_and_nothing_is_created(empty_broker: str) -> None:
    provided = [t for t in Topic if t not in (Topic.ESCALATIONS, Topic.DEADLETTER)]
    await provision(empty_broker, provided)
    kafka = kafka_client_options(KafkaSettings(kafka_bootstrap_servers=empty_broker), "it-admin")
    with pytest.raises(MissingTopicsError) as error:
        # Not retried: waiting would not bring the topic, so the error comes at once, not after timeout_s.
        await ensure_topics(kafka, TopicLayout(partitions=3), create=False, timeout_s=60)
    assert error.value.missing == [str(Topic.ESCALATIONS), str(Topic.DEADLETTER)]
    assert "Kafka topics missing: escalations, deadletter" in str(error.value)
    assert "SIGNALCRAFT_CREATE_TOPICS=false" in str(error.value)
    assert {str(t) for t in Topic} - await topic_names(empty_broker) == {"escalations", "deadletter"}


async def test_a_service_refuses_to_start_without_its_topics_and_starts_with_them(
        empty_broker: str, database_url: str) -> None:
    settings = EscalatorSettings(database_url=database_url, kafka_bootstrap_servers=empty_broker,
                                 create_topics=False, topic_partitions=3)
    refused = create_service(settings)
    with pytest.raises(MissingTopicsError, match="Kafka topics missing: alerts.normalized, groups.commands"):
        await refused.start()
    await refused.stop()
    assert await topic_names(empty_broker) & {str(t) for t in Topic} == set()

    await provision(empty_broker, list(Topic))
    service = create_service(settings)
    await service.start()
    try:
        checks = await service.readiness()
        assert checks["broker"] == "ok" and checks["config"] == "ok", checks
    finally:
        await service.stop()
