"""Batch consumers with effectively-once processing.

For each polled batch: decode every record; in ONE transaction claim the new event ids (inbox),
run the service's handler (state + outbox), dead-letter what cannot be decoded; commit; only then
does FastStream commit the offsets. Redelivered events are skipped by the inbox.

Failure handling, where it arises:
- the database is unreachable: retry the whole batch with backoff, for as long as it takes (the
  consumer stalls; nothing is acked, nothing is lost);
- the handler raises for some message: redo the batch one message per transaction, and send the
  message that raises to the dead-letter topic with its error, through the same outbox;
- anything else raises out of a batch (a config sync, a failing dead-letter write): the batch is
  tried again after a pause, never acked unprocessed (`process_until_done`).

A `SideEffectConsumer` is for work with an effect outside the database (a Slack post), which no
transaction can cover: it runs its handler in two transactions with the effect between them.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence, Sized
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.message import AckStatus
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
import psycopg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from tenacity import AsyncRetrying, retry_if_exception, retry_if_exception_type, wait_exponential
from tenacity.wait import WaitBaseT

from signalcraft_schemas import Envelope, decode
from signalcraft_schemas.events import MessageDeadLettered

from . import metrics, telemetry
from .clock import utcnow
from .logs import get_logger
from .settings import ServiceSettings
from .unit_of_work import UnitOfWork, UnitOfWorkFactory

log = get_logger(__name__)

Handler = Callable[[UnitOfWork, list[Envelope[Any]]], Awaitable[None]]
PendingT = TypeVar("PendingT", bound=Sized)
T = TypeVar("T")


# Errors of the database's availability (not of a request): a dropped connection, an exhausted pool,
# a deadlock or lock timeout PostgreSQL resolved by aborting us. Worth retrying as they are.
TRANSIENT_DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError)


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble worth waiting out, as opposed to a message we cannot process.

    psycopg's own errors reach us unwrapped from statements run on the driver connection (inbox
    claim, outbox insert); a pool with no free connection raises SQLAlchemy's TimeoutError.
    """
    if isinstance(exc, (*TRANSIENT_DATABASE_ERRORS, ConnectionError, TimeoutError, OSError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@dataclass
class ConsumerStats:
    batches: int = 0
    processed: int = 0
    duplicates: int = 0
    deadlettered: int = 0
    last_error: str | None = None
    rebalances: int = 0  # completed joins of the consumer group; 0: not a member yet
    partitions: list[str] = field(default_factory=list)


class MembershipListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Notes each completed rebalance: a consumer is ready once it is a member of its group.

    A member may be given no partition (more replicas than partitions) and is still ready: it
    stands by, as Kafka intends.
    """

    def __init__(self, stats: ConsumerStats) -> None:
        self._stats = stats

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._stats.partitions = []

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._stats.rebalances += 1
        self._stats.partitions = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)


@dataclass
class DecodedRecord:
    record: ConsumerRecord[Any, Any]
    envelope: Envelope[Any] | None
    error: str | None = None


def decode_records(records: Sequence[ConsumerRecord[Any, Any]]) -> list[DecodedRecord]:
    decoded = []
    for record in records:
        try:
            decoded.append(DecodedRecord(record, envelope := decode(record.value)))
            telemetry.note_event(record, envelope.id)
        except Exception as exc:
            decoded.append(DecodedRecord(record, None, f"undecodable: {exc}"))
    return decoded


DEADLETTER_NAMESPACE = uuid.UUID("6f1c2a52-3a0e-4c53-9f33-5b8e1c0d7a10")


def deadletter_id(consumer: str, record: ConsumerRecord[Any, Any], purpose: str = "claim") -> uuid.UUID:
    """Stable per consumer and record, so a redelivered bad record is dead-lettered once.

    The inbox claim ("claim") and the dead-letter event's own id ("event") differ: a service that
    also consumes the dead-letter topic (query-api) must not mistake its own dead letter for a
    duplicate of the claim.
    """
    return uuid.uuid5(DEADLETTER_NAMESPACE, f"{purpose}:{consumer}:{record.topic}:{record.partition}:{record.offset}")


def deadletter(consumer: str, item: DecodedRecord, error: str) -> Envelope[Any]:
    record, envelope = item.record, item.envelope
    key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else (record.key or "")
    value = record.value.decode(errors="replace") if isinstance(record.value, bytes) else str(record.value)
    data = MessageDeadLettered(
        consumer=consumer, topic=record.topic, partition=record.partition, offset=record.offset,
        original_key=key or None, original_type=envelope.type if envelope else None,
        error=error[:2000], payload=value[:100_000],
    )
    if envelope is not None:
        return envelope.caused(data, occurred_at=utcnow())
    return Envelope.wrap(data, workspace_id="unknown", key=key or "deadletter", id=deadletter_id(consumer, record, "event"),
                         correlation_id=f"{record.topic}:{record.partition}:{record.offset}", occurred_at=utcnow())


def transient_retrying() -> AsyncRetrying:
    """Wait out infrastructure trouble (the database down) as long as it lasts; raise anything else."""
    return AsyncRetrying(wait=wait_exponential(multiplier=0.2, max=10.0), retry=retry_if_exception(is_transient),
                         reraise=True)


async def deadletter_once(uow_factory: UnitOfWorkFactory, consumer: str, item: DecodedRecord, error: str) -> bool:
    """Dead-letter `item` in a transaction of its own, unless a delivery of it was dead-lettered before."""
    async with uow_factory() as uow:
        claim = item.envelope.id if item.envelope is not None else deadletter_id(consumer, item.record)
        if not await uow.claim([claim]):
            return False
        uow.emit(deadletter(consumer, item, error))
        await uow.commit()
    return True


RecordsProcessor = Callable[[list[ConsumerRecord[Any, Any]]], Awaitable[None]]


async def _raw_body(message: Any) -> Any:
    return message.body


def subscribe_batches(broker: KafkaBroker, settings: ServiceSettings, group_id: str, topics: Sequence[str],
                      process: RecordsProcessor, stats: ConsumerStats, alert_path: bool = False) -> None:
    """Subscribe `process` to polled batches; offsets are committed only after it returns.

    `alert_path`: the consumer is a hop of webhook -> Slack, and fetches with the short wait
    (`consumer_fetch_max_wait_ms`); the others with the long `consumer_background_*` ones, which
    cost an idle broker far fewer storage reads, and start a batch at most every
    `consumer_background_batch_interval_ms`: under load each batch then takes
    what arrived meanwhile, so such a consumer fetches (and commits) a few times a second instead of
    as fast as it can process (on Tansu with S3 each fetch that finds records lists every object of the
    partition, and each commit rewrites one).

    FastStream's AckPolicy.ACK would commit the offsets of a batch whose handler raised, skipping its
    records; so a batch is retried until `process` returns (`process_until_done`), and should anything
    escape that, NACK_ON_ERROR seeks back to the batch instead of committing it.
    The decoder passes bytes through untouched: FastStream must not parse (and, failing, ack) a
    message before our own decoding can dead-letter it.
    """

    pace = None if alert_path else BatchPace(settings.consumer_background_batch_interval_ms / 1000)

    subscriber = broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=settings.consumer_max_records,
        batch_timeout_ms=(settings.consumer_batch_timeout_ms if alert_path
                          else settings.consumer_background_batch_timeout_ms),
        consumer_timeout_ms=settings.consumer_poll_interval_ms,
        fetch_min_bytes=settings.consumer_fetch_min_bytes,
        fetch_max_wait_ms=(settings.consumer_fetch_max_wait_ms if alert_path
                           else settings.consumer_background_fetch_max_wait_ms),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
        max_poll_interval_ms=600_000,
        decoder=_raw_body,
        listener=MembershipListener(stats),
    )
    poll_without_pause(subscriber)

    @subscriber
    async def on_batch(body: Any, message: KafkaMessage) -> None:
        started = pace.clock() if pace is not None else 0.0
        records = message.raw_message if isinstance(message.raw_message, (tuple, list)) else (message.raw_message,)
        with metrics.observe_batch(group_id, message.consumer, records), telemetry.consumer_spans(group_id, records):
            await process_until_done(process, list(records), stats, group_id)
        await commit_batch(message, records)
        if pace is not None:
            await pace.until_next(started)


def poll_without_pause(subscriber: Any) -> None:
    """Make a FastStream batch subscriber poll without pausing after an empty poll.

    FastStream's batch poll (`BatchSubscriber.get_msg`, faststream 0.7) sleeps as long as its poll
    timeout after a poll that found nothing, and a record fetched during that sleep waits it out:
    measured, 25 ms of every alert-path hop's p50 at 5 alerts/s with the 50 ms poll (bench/README.md).
    aiokafka's `getmany` already returns as soon as a fetch brings records, so here an empty poll just
    returns and the next begins; the poll timeout is only how often an idle consumer's loop turns.
    FastStream constructs its subscribers itself, so the one method is replaced on the instance;
    tests/unit/runtime/test_poll_without_pause.py fails should FastStream's shape change.
    """
    if not isinstance(subscriber, BatchSubscriber):
        raise TypeError(f"not a FastStream batch subscriber: {type(subscriber).__name__}")
    timeout_ms, max_records = subscriber.batch_timeout_ms, subscriber.max_records

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[Any, Any], ...]:
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return tuple(chain.from_iterable(batches.values()))

    subscriber.get_msg = get_msg  # type: ignore[method-assign]


@dataclass
class BatchPace:
    """At least `interval_s` between the starts of two batches: the handler waits out the rest
    before it returns, and the next poll takes what arrived meanwhile (aiokafka keeps fetching)."""

    interval_s: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def until_next(self, started: float) -> None:
        rest = self.interval_s - (self.clock() - started)
        if rest > 0:
            await self.sleep(rest)


async def commit_batch(message: KafkaMessage, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    """Commit the offsets past the batch's records, for the partitions it holds, once it is processed.

    FastStream's ack commits every assigned partition's position (aiokafka's `commit()`), moved or
    not; on Tansu each committed partition is an S3 object rewritten, so query-api's projection
    (12 partitions on the embedded stack) rewrote 12 objects per batch. The partitions a batch did not
    touch have nothing new to commit. Marks the message acked, so FastStream commits nothing more.
    """
    consumer = message.consumer
    if not isinstance(consumer, AIOKafkaConsumer) or message.committed is not None:
        return  # a test broker's consumer: FastStream's own ack
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    if offsets:
        await consumer.commit(offsets)
    message.committed = AckStatus.ACKED


async def process_until_done(process: RecordsProcessor, records: list[ConsumerRecord[Any, Any]], stats: ConsumerStats,
                             consumer: str, wait: WaitBaseT = wait_exponential(multiplier=0.5, max=30.0)) -> None:
    """Run `process` on a batch until it returns. Whatever it raises, the batch is tried again after
    a pause: the consumer stalls (visible in /readyz's consumer stats) rather than skip a record.
    Cancellation (shutdown, a lost partition) still stops it, and then nothing is committed."""
    async for attempt in AsyncRetrying(wait=wait, retry=retry_if_exception_type(Exception), reraise=True):
        with attempt:
            try:
                await process(records)
            except Exception as exc:
                stats.last_error = repr(exc)
                log.error("batch not processed, trying it again", consumer=consumer, records=len(records),
                          error=repr(exc), exc_info=not is_transient(exc))
                raise


class CrashPoint:
    """Fault injection: `os._exit` as a kill -9 would, at the end of the pass that brings the records
    processed to N. Counted in records rather than passes, since how records fall into batches
    depends on timing. Off when N is 0."""

    def __init__(self, after_records: int) -> None:
        self._remaining = after_records

    def passed(self, records: int) -> None:
        if self._remaining > 0 and records > 0:
            self._remaining -= records
            if self._remaining <= 0:
                log.warning("crash point reached: exiting without cleanup")
                os._exit(137)


@dataclass
class BatchConsumer:
    """Subscribes `handler` to `topics` in consumer group `group_id`, effectively once."""

    group_id: str
    topics: Sequence[str]
    handler: Handler
    uow_factory: UnitOfWorkFactory
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    crash_point: CrashPoint = field(default_factory=lambda: CrashPoint(0))
    # Runs before the batch's transaction opens, e.g. to bring the config view up to date.
    prepare: Callable[[list[Envelope[Any]]], Awaitable[None]] | None = None
    alert_path: bool = False  # a hop of webhook -> Slack: short fetch waits (subscribe_batches)

    def register(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        subscribe_batches(broker, settings, self.group_id, self.topics, self.process, self.stats, self.alert_path)

    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        items = decode_records(records)
        if self.prepare is not None:
            await self.prepare([i.envelope for i in items if i.envelope is not None])
        async for attempt in transient_retrying():
            with attempt:
                try:
                    await self._process_together(items)
                except Exception as exc:
                    if is_transient(exc):
                        self.stats.last_error = repr(exc)
                        log.warning("database unavailable, retrying batch", consumer=self.group_id, error=repr(exc))
                        raise
                    log.warning("batch failed, processing one by one", consumer=self.group_id, error=repr(exc))
                    await self._process_one_by_one(items)
        self.stats.batches += 1
        self.crash_point.passed(len(items))  # committed in PostgreSQL, offsets not yet committed

    async def _process_together(self, items: list[DecodedRecord]) -> None:
        async with self.uow_factory() as uow:
            fresh = await self._claim(uow, items)
            await self.handler(uow, fresh)
            await uow.commit()
        self.stats.processed += len(fresh)

    async def _claim(self, uow: UnitOfWork, items: list[DecodedRecord]) -> list[Envelope[Any]]:
        undecodable = {deadletter_id(self.group_id, i.record): i for i in items if i.envelope is None}
        decoded = [i.envelope for i in items if i.envelope is not None]
        new_ids = await uow.claim([e.id for e in decoded] + list(undecodable))
        for dead_id, item in undecodable.items():
            if dead_id in new_ids:
                uow.emit(deadletter(self.group_id, item, item.error or "undecodable"))
                self.stats.deadlettered += 1
        fresh: list[Envelope[Any]] = []
        for envelope in decoded:
            if envelope.id in new_ids:
                new_ids.discard(envelope.id)  # a duplicate within the batch runs once
                fresh.append(envelope)
        self.stats.duplicates += len(decoded) - len(fresh)
        return fresh

    async def _process_one_by_one(self, items: list[DecodedRecord]) -> None:
        for item in items:
            try:
                await self._process_together([item])
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.error("message dead-lettered", consumer=self.group_id, topic=item.record.topic,
                          offset=item.record.offset, error=repr(exc))
                if await deadletter_once(self.uow_factory, self.group_id, item, f"{type(exc).__name__}: {exc}"):
                    self.stats.deadlettered += 1
                self.stats.last_error = repr(exc)


class SideEffectHandler(Protocol[PendingT]):
    """Work with an effect outside the database, in three steps (see SideEffectConsumer).

    `begin` records the intent and leaves out what was finished before; `act` has the effect; `finish`
    records its outcome. After a crash between `act` and `finish`, a redelivered message is pending
    again with its intent recorded: making the effect safe to repeat is `act`'s business.
    """

    async def begin(self, uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> PendingT: ...

    async def act(self, pending: PendingT) -> None: ...

    async def finish(self, uow: UnitOfWork, pending: PendingT) -> None: ...


@dataclass
class SideEffectConsumer(Generic[PendingT]):
    """Subscribes a SideEffectHandler to `topics` in consumer group `group_id`. Per batch: `begin` in
    transaction 1, `act` outside any transaction, the crash point, `finish` in transaction 2. A record
    that is undecodable or not one of `accepts` is dead-lettered in a transaction of its own."""

    group_id: str
    topics: Sequence[str]
    handler: SideEffectHandler[PendingT]
    accepts: tuple[type, ...]
    uow_factory: UnitOfWorkFactory
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    crash_point: CrashPoint = field(default_factory=lambda: CrashPoint(0))
    alert_path: bool = False  # a hop of webhook -> Slack: short fetch waits (subscribe_batches)

    def register(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        subscribe_batches(broker, settings, self.group_id, self.topics, self.process, self.stats, self.alert_path)

    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        envelopes = await self._accepted(decode_records(records))
        if not envelopes:
            return
        pending = await self._in_transaction(lambda uow: self.handler.begin(uow, envelopes))
        self.stats.duplicates += len(envelopes) - len(pending)
        if len(pending) == 0:
            return  # every message of the batch was finished before (a redelivery)
        await self.handler.act(pending)
        self.crash_point.passed(len(pending))  # the effect happened; our record of it is not committed yet
        await self._in_transaction(lambda uow: self.handler.finish(uow, pending))
        self.stats.processed += len(pending)
        self.stats.batches += 1

    async def _accepted(self, items: list[DecodedRecord]) -> list[Envelope[Any]]:
        """The envelopes the handler accepts, a repeat within the batch once; the rest dead-lettered."""
        accepted: dict[uuid.UUID, Envelope[Any]] = {}
        for item in items:
            envelope = item.envelope
            if envelope is not None and isinstance(envelope.data, self.accepts):
                accepted.setdefault(envelope.id, envelope)
                continue
            error = item.error or f"unexpected event {envelope.type if envelope else None}"
            if await transient_retrying()(deadletter_once, self.uow_factory, self.group_id, item, error):
                self.stats.deadlettered += 1
        return list(accepted.values())

    async def _in_transaction(self, step: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async def once() -> T:
            async with self.uow_factory() as uow:
                result = await step(uow)
                await uow.commit()
            return result

        return await transient_retrying()(once)


Consumer = BatchConsumer | SideEffectConsumer[Any]
