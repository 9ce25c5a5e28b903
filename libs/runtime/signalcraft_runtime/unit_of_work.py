"""One transaction around a state change, the inbox entries of the events that caused it and the
outbox entries of the events it emits. Rolled back unless committed (Cosmic Python's unit of work).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from signalcraft_schemas import Envelope, encode
from signalcraft_schemas.events import EVENT_TYPES

from . import metrics, telemetry
from .database import ServiceTables


def notify_channel(schema: str) -> str:
    return f"signalcraft_outbox_{schema}"


class UnitOfWork:
    def __init__(self, engine: AsyncEngine, tables: ServiceTables, on_commit: Callable[[], None] | None = None) -> None:
        self._engine = engine
        self.tables = tables
        self._on_commit = on_commit
        self._pending: list[dict[str, Any]] = []
        self._conn: AsyncConnection | None = None
        self._after_commit: list[Callable[[], None]] = []

    @property
    def connection(self) -> AsyncConnection:
        assert self._conn is not None, "unit of work not entered"
        return self._conn

    async def __aenter__(self) -> "UnitOfWork":
        self._conn = await self._engine.connect()
        await self._conn.begin()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            await self._conn.close()
            self._conn = None

    async def claim(self, event_ids: Sequence[UUID]) -> set[UUID]:
        """Record these events as processed; return those not processed before (the inbox)."""
        if not event_ids:
            return set()
        driver = await self.driver_connection()
        cursor = await driver.execute(
            f'INSERT INTO "{self.tables.schema}".inbox (event_id) SELECT unnest(%b::uuid[]) '
            "ON CONFLICT DO NOTHING RETURNING event_id",
            [list(event_ids)], prepare=True,
        )
        return {row[0] for row in await cursor.fetchall()}

    def emit(self, envelope: Envelope[Any], traceparent: str | None = None) -> None:
        """Stage an event for the outbox (its type's topic); written at commit, published by the relay after it.

        `traceparent`: the trace it continues; by default its cause's (telemetry.traceparent_for)."""
        self._pending.append(
            {
                "topic": str(EVENT_TYPES[envelope.type].TOPIC),
                "key": envelope.key,
                "event_id": envelope.id,
                "event_type": envelope.type,
                "payload": encode(envelope),
                "traceparent": traceparent or telemetry.traceparent_for(envelope.causation_id),
                "envelope": envelope,
            }
        )

    def emit_all(self, envelopes: Iterable[Envelope[Any]], traceparent: str | None = None) -> None:
        for envelope in envelopes:
            self.emit(envelope, traceparent)

    def after_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` once this unit of work has committed (never on a rollback): e.g. to wake
        a loop that reads what the transaction wrote."""
        self._after_commit.append(listener)

    async def driver_connection(self) -> Any:
        """The psycopg connection under this transaction, for statements on the hot path."""
        raw = await self.connection.get_raw_connection()
        return raw.driver_connection

    async def commit(self) -> None:
        conn = self.connection
        if self._pending:
            # One constant statement for any number of rows (arrays + unnest): prepared once,
            # no per-batch SQL compilation, one round trip.
            driver = await self.driver_connection()
            await driver.execute(
                f'INSERT INTO "{self.tables.schema}".outbox (topic, key, event_id, event_type, payload, traceparent) '
                "SELECT * FROM unnest(%b::text[], %b::text[], %b::uuid[], %b::text[], %b::bytea[], %b::text[])",
                [[r["topic"] for r in self._pending], [r["key"] for r in self._pending],
                 [r["event_id"] for r in self._pending], [r["event_type"] for r in self._pending],
                 [r["payload"] for r in self._pending], [r["traceparent"] for r in self._pending]],
                prepare=True,
            )
            await driver.execute("SELECT pg_notify(%s, '')", [notify_channel(self.tables.schema)], prepare=True)
        await conn.commit()
        committed, self._pending = self._pending, []
        metrics.count_committed(r["envelope"] for r in committed)
        had_events = bool(committed)
        if had_events and self._on_commit:
            self._on_commit()
        listeners, self._after_commit = self._after_commit, []
        for listener in listeners:
            listener()


class UnitOfWorkFactory:
    """Builds units of work for one service schema; wakes the local relay after each commit."""

    def __init__(self, engine: AsyncEngine, tables: ServiceTables) -> None:
        self.engine = engine
        self.tables = tables
        self._listeners: list[Callable[[], None]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _committed(self) -> None:
        for listener in self._listeners:
            listener()

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.tables, on_commit=self._committed)
