"""The outbox relay: publishes committed outbox rows to Kafka, in order, then deletes them.

Wakes on a local commit (same process) or a NOTIFY (another process, e.g. the config API), with a
slow poll as a safety net. One relay per schema is active at a time (advisory lock), so rows are
published in commit order.

Pipelined: new rows are read and handed to the producer while earlier batches still wait for the
broker's acknowledgement (on Tansu with S3 storage that is ~30 ms), and a second task deletes rows
in order as their batches are acknowledged. Any publish failure restarts the relay from the table,
so a crash or an error can publish a row twice (consumers' inboxes drop the repeat) but never lose it.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from . import metrics
from .database import ServiceTables, libpq_url
from .logs import get_logger
from .publisher import OutgoingMessage, Publisher
from .tasks import cancel_and_wait
from .telemetry import TRACEPARENT
from .unit_of_work import notify_channel

log = get_logger(__name__)

InFlight = tuple[list[int], list["asyncio.Future[Any]"]]


class OutboxRelay:
    def __init__(self, engine: AsyncEngine, database_url: str, tables: ServiceTables, publisher: Publisher,
                 batch_size: int = 2000, poll_interval: float = 1.0, linger_s: float = 0.0,
                 max_in_flight: int = 4, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._engine = engine
        self._database_url = libpq_url(database_url)
        self._tables = tables
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._linger_s = linger_s
        self._max_in_flight = max_in_flight
        self._sleep = sleep
        self._wake = asyncio.Event()
        self.published = 0
        self.active = False  # holds the schema's relay lock and publishes
        self.connected = False  # connected to PostgreSQL (active, or standing by for the lock)
        self.last_error: str | None = None
        self._unacknowledged = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        lock_key = zlib.crc32(f"signalcraft-relay-{self._tables.schema}".encode())
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._database_url, autocommit=True) as conn:
                    self.connected = True
                    while not (await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key,))).fetchone())[0]:
                        metrics.set_outbox_backlog(self._tables.schema, 0, 0.0)  # the active replica reports it
                        await asyncio.sleep(2.0)  # another replica relays this schema
                    await conn.execute(f'LISTEN "{notify_channel(self._tables.schema)}"')
                    self.active = True
                    listener = asyncio.create_task(self._listen(conn))
                    measurer = asyncio.create_task(self._measure_backlog())
                    try:
                        await self._pipeline()
                    finally:
                        await cancel_and_wait(listener)
                        await cancel_and_wait(measurer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection or publish failure: start over from the table
                self.active = False
                self.connected = False
                self.last_error = repr(exc)
                log.warning("relay restarting", error=repr(exc))
                await asyncio.sleep(1.0)

    async def _listen(self, conn: psycopg.AsyncConnection) -> None:
        async for _ in conn.notifies():
            self._wake.set()

    async def _pipeline(self) -> None:
        in_flight: asyncio.Queue[InFlight] = asyncio.Queue(self._max_in_flight)
        self._unacknowledged = 0
        acker = asyncio.create_task(self._acknowledge(in_flight))
        cursor = 0  # highest id handed to the producer in this run
        try:
            while True:
                woken = True
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
                except TimeoutError:
                    woken = False
                if woken and self._linger_s and self._unacknowledged:
                    # Busy (batches in flight): let the commits arriving meanwhile join the next one.
                    # An idle relay publishes at once: there is nothing to batch with, and the first
                    # row after a quiet spell is often the alert someone is waiting for.
                    await self._sleep(self._linger_s)
                self._wake.clear()
                raise_if_failed(acker)
                if not woken and self._unacknowledged == 0:
                    # A row may commit after rows with higher ids were read: with nothing in flight,
                    # everything still in the table was missed that way. Read from the start again.
                    cursor = 0
                while True:
                    rows = await self._read(cursor)
                    if not rows:
                        if self._unacknowledged == 0:
                            # Caught up: an error from before (a database restart) is over, even in
                            # a service that has nothing to publish for a long time (query-api).
                            self.last_error = None
                        break
                    futures = await self._publisher.send_many([outgoing(r) for r in rows])
                    metrics.observe_relayed(self._tables.schema, [r[5] for r in rows])
                    cursor = rows[-1][0]
                    self._unacknowledged += 1
                    await put_or_fail(in_flight, ([r[0] for r in rows], futures), acker)
                    if len(rows) < self._batch_size:
                        break
        finally:
            await cancel_and_wait(acker)

    async def _read(self, after_id: int) -> list[Any]:
        async with self._engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            cursor = await driver.execute(
                f'SELECT id, topic, key, payload, traceparent, extract(epoch FROM created_at)::float8 FROM "{self._tables.schema}".outbox '
                "WHERE id > %s ORDER BY id LIMIT %s",
                [after_id, self._batch_size], prepare=True)
            rows = await cursor.fetchall()
            await conn.rollback()
        return rows

    async def _acknowledge(self, in_flight: asyncio.Queue[InFlight]) -> None:
        """Delete each batch once the broker has all of it, in the order batches were sent."""
        while True:
            ids, futures = await in_flight.get()
            try:
                await asyncio.gather(*futures)
            except Exception as exc:
                self.last_error = repr(exc)
                raise  # the pipeline restarts and republishes whatever is still in the table
            await self._delete(ids)
            self.last_error = None
            self._unacknowledged -= 1

    async def _delete(self, ids: list[int]) -> None:
        async with self._engine.begin() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            # By id, not by range: a row with a smaller id may commit later than the ones read here.
            await driver.execute(f'DELETE FROM "{self._tables.schema}".outbox WHERE id = ANY(%s)', [ids], prepare=True)
        self.published += len(ids)
        metrics.OUTBOX_PUBLISHED.labels(self._tables.schema).inc(len(ids))

    async def _measure_backlog(self, every_s: float = 10.0) -> None:
        """While this replica relays: the rows waiting and the age of the oldest, for /metrics."""
        outbox = f'"{self._tables.schema}".outbox'
        while True:
            try:
                async with self._engine.connect() as conn:
                    rows, age = (await conn.execute(text(
                        f"SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM {outbox}"))).one()
                metrics.set_outbox_backlog(self._tables.schema, int(rows), float(age))
            except Exception as exc:  # measured again next time; publishing goes on regardless
                log.debug("outbox backlog not measured", error=repr(exc))
            await asyncio.sleep(every_s)

    async def wait_published(self, timeout: float = 5.0) -> bool:
        """Wait until every outbox row committed before the call is on the broker, whichever replica
        relays (it reads the table, not this process's state). False after `timeout`: the rows are
        durable and will be published, just not yet."""
        outbox = f'"{self._tables.schema}".outbox'
        self.wake()
        try:
            async with asyncio.timeout(timeout):
                async with self._engine.connect() as conn:
                    target = (await conn.execute(text(f"SELECT max(id) FROM {outbox}"))).scalar()
                while target is not None:
                    async with self._engine.connect() as conn:
                        left = (await conn.execute(text(f"SELECT 1 FROM {outbox} WHERE id <= :target LIMIT 1"),
                                                   {"target": target})).first()
                    if left is None:
                        break
                    await asyncio.sleep(0.01)
            return True
        except TimeoutError:
            log.warning("outbox not published in time", timeout_s=timeout)
            return False

    async def relay_once(self) -> int:
        """Publish one batch of pending rows and wait for it, without the pipeline (for tests)."""
        rows = await self._read(0)
        if rows:
            metrics.observe_relayed(self._tables.schema, [r[5] for r in rows])
            await self._publisher.publish_many([outgoing(r) for r in rows])
            await self._delete([r[0] for r in rows])
        return len(rows)


def outgoing(row: Any) -> OutgoingMessage:
    """An outbox row (id, topic, key, payload, traceparent, created) as a Kafka record, its trace context as a header."""
    headers = ((TRACEPARENT, row[4].encode()),) if row[4] else ()
    return OutgoingMessage(topic=row[1], key=row[2], payload=row[3], headers=headers)


def raise_if_failed(acker: asyncio.Task[None]) -> None:
    if acker.done():
        acker.result()  # re-raise the publish failure: the pipeline restarts


async def put_or_fail(queue: asyncio.Queue[InFlight], item: InFlight, acker: asyncio.Task[None]) -> None:
    """Queue a sent batch for acknowledgement, unless the acknowledger has failed (then raise)."""
    put = asyncio.create_task(queue.put(item))
    done, _ = await asyncio.wait({put, acker}, return_when=asyncio.FIRST_COMPLETED)
    if acker in done:
        put.cancel()
        acker.result()
        raise RuntimeError("outbox acknowledger stopped")
