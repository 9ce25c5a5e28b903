"""The runtime on real PostgreSQL and Tansu: unit of work, inbox, outbox relay, batch consumer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from sqlalchemy import text

from signalcraft_runtime.consumer import BatchConsumer
from signalcraft_runtime.database import ServiceTables, create_engine
from signalcraft_runtime.kafka_client import kafka_client_options
from signalcraft_runtime.publisher import KafkaPublisher
from signalcraft_runtime.relay import OutboxRelay
from signalcraft_runtime.settings import KafkaSettings
from signalcraft_runtime.topics import TopicLayout, ensure_topics
from signalcraft_runtime.unit_of_work import UnitOfWork, UnitOfWorkFactory
from signalcraft_schemas import Envelope, decode, encode
from signalcraft_schemas.events import MessageDeadLettered, WorkspaceConfigured

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def event(name: str, key: str = "k") -> Envelope[Any]:
    return Envelope.wrap(WorkspaceConfigured(workspace_id=name, name=name), workspace_id=name, key=key,
                         correlation_id="test", occurred_at=NOW)


async def make_schema(database_url: str, schema: str) -> tuple[Any, UnitOfWorkFactory]:
    engine = create_engine(database_url, pool_size=4)
    tables = ServiceTables(schema)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(tables.metadata.create_all)
        await conn.execute(text(f'CREATE TABLE "{schema}".seen (name text primary key)'))
    return engine, UnitOfWorkFactory(engine, tables)


async def count(engine: Any, sql: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


async def test_unit_of_work_rolls_back_unless_committed(database_url: str, schema: str) -> None:
    engine, uow = await make_schema(database_url, schema)
    async with uow() as work:
        await work.claim([event("a").id])
        work.emit(event("a"))
    assert await count(engine, f'SELECT count(*) FROM "{schema}".inbox') == 0
    assert await count(engine, f'SELECT count(*) FROM "{schema}".outbox') == 0
    with pytest.raises(RuntimeError):
        async with uow() as work:
            work.emit(event("b"))
            raise RuntimeError("handler failed")
    assert await count(engine, f'SELECT count(*) FROM "{schema}".outbox') == 0
    async with uow() as work:
        work.emit(event("c"))
        await work.commit()
    assert await count(engine, f'SELECT count(*) FROM "{schema}".outbox') == 1
    await engine.dispose()


async def test_after_commit_listeners_run_once_committed_and_never_on_a_rollback(database_url: str, schema: str) -> None:
    engine, uow = await make_schema(database_url, schema)
    seen: list[int] = []
    with pytest.raises(RuntimeError):
        async with uow() as work:
            work.after_commit(lambda: seen.append(1))
            raise RuntimeError("handler failed")
    async with uow() as work:
        await work.claim([event("a").id])
        work.after_commit(lambda: seen.append(2))
        assert seen == []  # not before the commit
        await work.commit()
    assert seen == [2]  # one listener, once: nothing emitted, still a commit
    async with uow() as work:
        work.emit(event("b"))
        await work.commit()
    assert seen == [2], "a listener belongs to its unit of work"
    await engine.dispose()


async def test_inbox_claims_each_event_once(database_url: str, schema: str) -> None:
    engine, uow = await make_schema(database_url, schema)
    first, second = event("a"), event("b")
    async with uow() as work:
        assert await work.claim([first.id, first.id]) == {first.id}
        await work.commit()
    async with uow() as work:
        assert await work.claim([first.id, second.id]) == {second.id}
        await work.commit()
    await engine.dispose()


async def test_relay_publishes_committed_events_in_order_and_empties_the_outbox(
        database_url: str, schema: str, bootstrap_servers: str) -> None:
    kafka = kafka_client_options(KafkaSettings(kafka_bootstrap_servers=bootstrap_servers), "it")
    await ensure_topics(kafka, TopicLayout(partitions=2))
    engine, uow = await make_schema(database_url, schema)
    key = f"order-{schema}"
    sent = [event(f"{schema}-{i}", key=key) for i in range(50)]
    for chunk in (sent[:20], sent[20:]):
        async with uow() as work:
            work.emit_all(chunk)
            await work.commit()
    publisher = KafkaPublisher(kafka, linger_ms=5, max_batch_bytes=65536)
    await publisher.start()
    relay = OutboxRelay(engine, database_url, uow.tables, publisher, batch_size=15)
    while await relay.relay_once():
        pass
    await publisher.stop()
    assert await count(engine, f'SELECT count(*) FROM "{schema}".outbox') == 0
    received = await consume_keyed(bootstrap_servers, key, 50)
    assert [e.id for e in received] == [e.id for e in sent]  # same key, same partition, commit order
    await engine.dispose()


def record(value: bytes, offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic="config", partition=0, offset=offset, timestamp=0, timestamp_type=0, key=b"k",
                          value=value, checksum=None, serialized_key_size=1, serialized_value_size=len(value),
                          headers=())


async def test_batch_consumer_skips_redeliveries_and_deadletters_what_it_cannot_process(
        database_url: str, schema: str) -> None:
    engine, uow = await make_schema(database_url, schema)

    async def handler(work: UnitOfWork, envelopes: list[Envelope[Any]]) -> None:
        for env in envelopes:
            if env.data.name == "poison":
                raise ValueError("cannot process poison")
            await work.connection.execute(text(f'INSERT INTO "{schema}".seen VALUES (:n)'), {"n": env.data.name})

    consumer = BatchConsumer(group_id="it", topics=["config"], handler=handler, uow_factory=uow)
    good, poison, other = event("good"), event("poison"), event("other")
    batch = [record(encode(good), 0), record(b"not json", 1), record(encode(poison), 2), record(encode(other), 3)]
    await consumer.process(batch)
    await consumer.process(batch)  # redelivered after a crash: nothing runs twice
    async with engine.connect() as conn:
        seen = sorted(r[0] for r in await conn.execute(text(f'SELECT name FROM "{schema}".seen')))
        dead = [decode(r[0]) for r in await conn.execute(text(f'SELECT payload FROM "{schema}".outbox'))]
    assert seen == ["good", "other"]
    assert consumer.stats.processed == 2 and consumer.stats.duplicates >= 3
    errors = sorted(d.data.error for d in dead if isinstance(d.data, MessageDeadLettered))
    # Each bad record is dead-lettered once, redelivery or not: the poison event's id and the
    # undecodable record's dead-letter id (from its topic, partition and offset) are claimed.
    assert errors.count("ValueError: cannot process poison") == 1
    assert len([e for e in errors if e.startswith("undecodable")]) == 1
    assert {d.data.offset for d in dead} == {1, 2}
    await engine.dispose()


async def consume_keyed(bootstrap_servers: str, key: str, count: int) -> list[Envelope[Any]]:
    consumer = AIOKafkaConsumer("config", bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    received: list[Envelope[Any]] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    received += [decode(r.value) for r in records if r.key == key.encode()]
    finally:
        await consumer.stop()
    return received


async def test_the_running_relay_pipelines_batches_in_order_and_picks_up_late_commits(
        database_url: str, schema: str, bootstrap_servers: str) -> None:
    kafka = kafka_client_options(KafkaSettings(kafka_bootstrap_servers=bootstrap_servers), "it")
    await ensure_topics(kafka, TopicLayout(partitions=2))
    engine, uow = await make_schema(database_url, schema)
    publisher = KafkaPublisher(kafka, linger_ms=5, max_batch_bytes=65536)
    await publisher.start()
    relay = OutboxRelay(engine, database_url, uow.tables, publisher, batch_size=7, poll_interval=0.3, linger_s=0.002)
    uow.on_commit(relay.wake)
    running = asyncio.create_task(relay.run())
    key = f"pipe-{schema}"
    try:
        # A transaction that takes an outbox id first but commits last: the relay reads past it.
        late = uow()
        await late.__aenter__()
        straggler = event(f"{schema}-late", key=f"{key}-late")
        driver = await late.driver_connection()
        await driver.execute(f'INSERT INTO "{schema}".outbox (topic, key, event_id, event_type, payload) '
                             "VALUES (%s, %s, %s, %s, %s)", ["config", straggler.key, straggler.id, straggler.type, encode(straggler)])
        sent = []
        for n in range(10):  # ten commits of five: many small batches, several in flight at once
            chunk = [event(f"{schema}-{n}-{i}", key=key) for i in range(5)]
            async with uow() as work:
                work.emit_all(chunk)
                await work.commit()
            sent += chunk
        received = await consume_keyed(bootstrap_servers, key, 50)
        assert [e.id for e in received] == [e.id for e in sent]
        await late.connection.commit()  # commits with the smallest id, after everything else
        await late.__aexit__(None, None, None)
        assert [e.id for e in await consume_keyed(bootstrap_servers, f"{key}-late", 1)] == [straggler.id]
        async with asyncio.timeout(10):
            while await count(engine, f'SELECT count(*) FROM "{schema}".outbox'):
                await asyncio.sleep(0.1)
    finally:
        running.cancel()
        with __import__("contextlib").suppress(asyncio.CancelledError):
            await running
        await publisher.stop()
        await engine.dispose()
