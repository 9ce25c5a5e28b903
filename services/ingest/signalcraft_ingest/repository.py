"""Durable acceptance of webhooks, with group commit.

A webhook is answered 2xx only after its raw body and the events it produces are committed. Many
concurrent webhooks share one transaction: the first waits a short linger for others, then one
commit answers them all (Kafka's linger.ms, applied to Postgres). The queue in front of it is bounded:
when it is full a webhook is refused at once (503, retry), never queued without limit.

Replays: a delivery with a `replay_key` (the digest of what its sender signed) takes a row in
`replay_guard` for its replay window, in the same statement that stores it; the same key while that
row lives stores nothing and is answered as a repeat. The unique key makes this hold across
replicas; expired rows are taken over, and pruned.
"""

from __future__ import annotations

import asyncio

import orjson
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, Integer, LargeBinary, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB

from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.tasks import cancel_and_wait
from signalcraft_runtime.telemetry import current_traceparent
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import Envelope

log = get_logger(__name__)

SCHEMA = "ingest"
tables = ServiceTables(SCHEMA)
deliveries = Table(
    "deliveries", tables.metadata,
    Column("delivery_id", Uuid, primary_key=True),
    Column("integration_id", Text, nullable=False),
    Column("workspace_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("delivery_key", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("alert_count", Integer, nullable=False),
)
replay_guard = Table(
    "replay_guard", tables.metadata,
    Column("integration_id", Text, primary_key=True),
    Column("replay_key", Text, primary_key=True),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


# One constant statement for a whole group commit (arrays + unnest), prepared once per connection;
# binary parameters (%b) spare escaping every body as text.
# The replay guard takes (integration, replay key) unless a live row holds it; a delivery with a
# replay key is stored only if its guard row was taken here.
INSERT_DELIVERIES = (
    "WITH t AS (SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::timestamptz[], %b::text[], %b::bytea[], %b::int[], %b::text[], %b::int[]) "
    "AS t(d, i, w, p, k, r, h, b, c, g, s)), "
    f'guard AS (INSERT INTO "{SCHEMA}".replay_guard AS held (integration_id, replay_key, first_at, expires_at) '
    "SELECT i, g, r, r + make_interval(secs => s) FROM t WHERE g IS NOT NULL "
    "ON CONFLICT (integration_id, replay_key) DO UPDATE SET first_at = excluded.first_at, "
    "expires_at = excluded.expires_at WHERE held.expires_at <= excluded.first_at "
    "RETURNING integration_id, replay_key) "
    f'INSERT INTO "{SCHEMA}".deliveries (delivery_id, integration_id, workspace_id, provider, delivery_key, '
    "received_at, headers, body, alert_count) "
    "SELECT d, i, w, p, k, r, h::jsonb, b, c FROM t WHERE g IS NULL OR EXISTS "
    "(SELECT 1 FROM guard WHERE guard.integration_id = t.i AND guard.replay_key = t.g) "
    "ON CONFLICT DO NOTHING RETURNING delivery_id"
)
PRUNE_REPLAY_GUARD = (f'DELETE FROM "{SCHEMA}".replay_guard WHERE ctid IN (SELECT ctid FROM "{SCHEMA}".replay_guard '
                      "WHERE expires_at < now() LIMIT 5000)")


async def prune_replay_guard(uow_factory: UnitOfWorkFactory) -> int:
    """Delete up to 5,000 guard rows past their window (they protect nothing); how many were deleted."""
    async with uow_factory() as uow:
        cursor = await (await uow.driver_connection()).execute(PRUNE_REPLAY_GUARD)
        await uow.commit()
    return cursor.rowcount


class WriterBusy(Exception):
    """The writer's queue is full: the delivery was not queued (the sender retries, 503)."""


@dataclass
class Delivery:
    delivery_id: UUID
    integration_id: str
    workspace_id: str
    provider: str
    delivery_key: str | None
    received_at: datetime
    headers: dict[str, str]
    body: bytes
    events: list[Envelope[Any]]
    # The digest of what the sender signed, refused again for `replay_window_s` seconds; None: no check.
    replay_key: str | None = None
    replay_window_s: int = 0
    # Made in the webhook's request: its events continue the request's trace (telemetry.py).
    traceparent: str | None = field(default_factory=current_traceparent)
    accepted: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class DeliveryWriter:
    """Group-commits deliveries. `store` returns True when stored, False for a known repeat or a
    replay; raises WriterBusy when `max_queue` deliveries already wait."""

    def __init__(self, uow_factory: UnitOfWorkFactory, linger_s: float = 0.002, max_batch: int = 500,
                 max_queue: int = 2000) -> None:
        self._uow = uow_factory
        self._linger = linger_s
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery-writer")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def store(self, delivery: Delivery) -> bool:
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            raise WriterBusy(f"{self._queue.maxsize} deliveries are already waiting to be stored") from None
        return await delivery.accepted

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._linger:
                await asyncio.sleep(self._linger)
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as exc:  # the database refused: every waiter gets the error (-> 503)
                log.error("delivery batch not stored", error=repr(exc), size=len(batch))
                for d in batch:
                    if not d.accepted.done():
                        d.accepted.set_exception(exc)

    async def _write(self, deliveries: list[Delivery]) -> None:
        batch = first_of_each_replay(deliveries)  # one statement may take a guard row only once
        async with self._uow() as uow:
            driver = await uow.driver_connection()
            cursor = await driver.execute(
                INSERT_DELIVERIES,
                [[d.delivery_id for d in batch], [d.integration_id for d in batch], [d.workspace_id for d in batch],
                 [d.provider for d in batch], [d.delivery_key for d in batch], [d.received_at for d in batch],
                 [orjson.dumps(d.headers).decode() for d in batch], [d.body for d in batch],
                 [len(d.events) for d in batch], [d.replay_key for d in batch], [d.replay_window_s for d in batch]],
                prepare=True,
            )
            stored = {row[0] for row in await cursor.fetchall()}
            for d in batch:
                if d.delivery_id in stored:
                    uow.emit_all(d.events, traceparent=d.traceparent)
            await uow.commit()
        for d in deliveries:
            if not d.accepted.done():
                d.accepted.set_result(d.delivery_id in stored)


def first_of_each_replay(batch: list[Delivery]) -> list[Delivery]:
    """The batch without a second delivery of a replay key already in it (answered as a repeat)."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for d in batch:
        if d.replay_key is not None:
            if (d.integration_id, d.replay_key) in seen:
                continue
            seen.add((d.integration_id, d.replay_key))
        kept.append(d)
    return kept


DELETE_OLD_DELIVERIES = (f'DELETE FROM "{SCHEMA}".deliveries WHERE ctid IN (SELECT ctid FROM "{SCHEMA}".deliveries '
                         "WHERE received_at < %s LIMIT %s)")


async def delete_deliveries_before(uow_factory: UnitOfWorkFactory, before: datetime, limit: int = 5000) -> int:
    """Retention: delete up to `limit` raw deliveries received before `before`; how many were deleted."""
    async with uow_factory() as uow:
        cursor = await (await uow.driver_connection()).execute(DELETE_OLD_DELIVERIES, (before, limit))
        await uow.commit()
    return cursor.rowcount
