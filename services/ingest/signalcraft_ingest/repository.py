"""Durable acceptance of webhooks, with group commit.

A webhook is answered 2xx only after its raw body and the events it produces are committed. Many
concurrent webhooks share one transaction: the first waits a short linger for others, then one
commit answers them all (Kafka's linger.ms, applied to Postgres).
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


# One constant statement for a whole group commit (arrays + unnest), prepared once per connection;
# binary parameters (%b) spare escaping every body as text.
INSERT_DELIVERIES = (
    f'INSERT INTO "{SCHEMA}".deliveries (delivery_id, integration_id, workspace_id, provider, delivery_key, '
    "received_at, headers, body, alert_count) "
    "SELECT d, i, w, p, k, r, h::jsonb, b, c FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::timestamptz[], %b::text[], %b::bytea[], %b::int[]) AS t(d, i, w, p, k, r, h, b, c) "
    "ON CONFLICT DO NOTHING RETURNING delivery_id"
)


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
    # Made in the webhook's request: its events continue the request's trace (telemetry.py).
    traceparent: str | None = field(default_factory=current_traceparent)
    accepted: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class DeliveryWriter:
    """Group-commits deliveries. `store` returns True when stored, False for a known repeat."""

    def __init__(self, uow_factory: UnitOfWorkFactory, linger_s: float = 0.002, max_batch: int = 500) -> None:
        self._uow = uow_factory
        self._linger = linger_s
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery-writer")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def store(self, delivery: Delivery) -> bool:
        await self._queue.put(delivery)
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

    async def _write(self, batch: list[Delivery]) -> None:
        async with self._uow() as uow:
            driver = await uow.driver_connection()
            cursor = await driver.execute(
                INSERT_DELIVERIES,
                [[d.delivery_id for d in batch], [d.integration_id for d in batch], [d.workspace_id for d in batch],
                 [d.provider for d in batch], [d.delivery_key for d in batch], [d.received_at for d in batch],
                 [orjson.dumps(d.headers).decode() for d in batch], [d.body for d in batch],
                 [len(d.events) for d in batch]],
                prepare=True,
            )
            stored = {row[0] for row in await cursor.fetchall()}
            for d in batch:
                if d.delivery_id in stored:
                    uow.emit_all(d.events, traceparent=d.traceparent)
            await uow.commit()
        for d in batch:
            if not d.accepted.done():
                d.accepted.set_result(d.delivery_id in stored)
