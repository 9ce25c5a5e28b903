"""SignalCraft's topics: created if missing (unless they are provisioned beforehand), then checked.

Every service calls `ensure_topics` at start and refuses to go on while any topic is missing,
naming each one, whether it was to create them or not (SIGNALCRAFT_CREATE_TOPICS=false).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from tenacity import AsyncRetrying, RetryCallState, retry_if_not_exception_type, stop_after_delay, wait_exponential

from signalcraft_schemas import Topic

from .logs import get_logger

log = get_logger(__name__)


class TopicsError(RuntimeError):
    """The topics are not as SignalCraft needs them, and waiting will not change that."""


class MissingTopicsError(TopicsError):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"Kafka topics missing: {', '.join(missing)}. SIGNALCRAFT_CREATE_TOPICS=false: create them first "
            "(docs/kafka.md lists each topic's partitions and settings), or let the services create them.")


class TopicCreationError(TopicsError):
    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        super().__init__("Kafka refused to create topics: "
                         + "; ".join(f"{topic}: {reason}" for topic, reason in failures.items()))


@dataclass(frozen=True)
class TopicLayout:
    """How many partitions and replicas the topics get when a service creates them."""

    partitions: int
    replication_factor: int = 1

    def new_topic(self, topic: Topic) -> NewTopic:
        # The config topic is one compacted, ordered history: every service replays it whole.
        config = topic == Topic.CONFIG
        return NewTopic(str(topic), num_partitions=1 if config else self.partitions,
                        replication_factor=self.replication_factor,
                        topic_configs={"cleanup.policy": "compact"} if config else {})


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("Kafka not reachable yet, retrying", error=repr(error), attempt=state.attempt_number)


async def ensure_topics(kafka: dict[str, Any], layout: TopicLayout, create: bool = True,
                        timeout_s: float = 120.0) -> None:
    """Create the missing topics (when `create`), then raise `MissingTopicsError` if any is still missing.

    `kafka`: the admin client's options from `kafka_client_options`. An unreachable broker is retried for
    up to `timeout_s` (it may be starting too); a missing or refused topic is not.
    """
    async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.2, max=3), stop=stop_after_delay(timeout_s),
                                       retry=retry_if_not_exception_type(TopicsError), before_sleep=_log_retry,
                                       reraise=True):
        with attempt:
            partition_counts = await _ensure_once(kafka, layout, create)
    for name, count in partition_counts.items():
        if name != Topic.CONFIG and count != layout.partitions:
            log.warning("topic has another partition count than SIGNALCRAFT_TOPIC_PARTITIONS: that many consumer "
                        "replicas per service do work", topic=name, partitions=count, setting=layout.partitions)


async def _ensure_once(kafka: dict[str, Any], layout: TopicLayout, create: bool) -> dict[str, int]:
    """The partition counts of the topics that existed already."""
    admin = AIOKafkaAdminClient(**kafka, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics() if t["error_code"] == 0}
        missing = [str(topic) for topic in Topic if str(topic) not in existing]
        if missing and not create:
            raise MissingTopicsError(missing)
        if missing:
            await _create(admin, [layout.new_topic(Topic(name)) for name in missing])
        return {str(topic): existing[str(topic)] for topic in Topic if str(topic) in existing}
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> None:
    """Create the topics; one that another service created meanwhile counts as created."""
    response = await admin.create_topics(topics)
    failures: dict[str, str] = {}
    for topic_error in response.topic_errors:  # (topic, error_code[, error_message])
        topic, code = topic_error[0], topic_error[1]
        if code in (0, TopicAlreadyExistsError.errno):
            continue
        message = topic_error[2] if len(topic_error) > 2 and topic_error[2] else ""
        failures[topic] = f"{for_code(code).__name__} {message}".strip()
    if failures:
        raise TopicCreationError(failures)
    log.info("topics created", topics=[t.name for t in topics])
