"""Create SignalCraft's topics if they are missing (every service calls this at start)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from signalcraft_schemas import Topic


async def ensure_topics(bootstrap_servers: str, partitions: int, timeout_s: float = 120.0) -> None:
    async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.2, max=3), stop=stop_after_delay(timeout_s), reraise=True):
        with attempt:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
            await admin.start()
            try:
                existing = set(await admin.list_topics())
                wanted = [
                    NewTopic(
                        str(topic),
                        num_partitions=1 if topic == Topic.CONFIG else partitions,
                        replication_factor=1,
                        topic_configs={"cleanup.policy": "compact"} if topic == Topic.CONFIG else {},
                    )
                    for topic in Topic
                    if str(topic) not in existing
                ]
                if wanted:
                    try:
                        await admin.create_topics(wanted)
                    except TopicAlreadyExistsError:
                        pass
            finally:
                await admin.close()
