"""The barrier's reader gives up on a broker that answers nothing, so a view at start tries again."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from signalcraft_runtime import topic_end
from signalcraft_runtime.kafka_client import kafka_client_options
from signalcraft_runtime.settings import KafkaSettings


async def test_a_broker_that_accepts_and_never_answers_times_the_reader_out() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kafka = kafka_client_options(KafkaSettings(kafka_bootstrap_servers=f"127.0.0.1:{port}"), "unit-topic-end")
    try:
        with pytest.raises(TimeoutError):
            await topic_end.end_offsets(kafka, [TopicPartition("config", 0)], timeout_s=0.5)
        assert held, "the reader never connected: the test proved nothing"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
