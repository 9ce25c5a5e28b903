"""SQLAlchemy 2 async engines on psycopg 3, and the inbox/outbox tables every service schema has."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, LargeBinary, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def sqlalchemy_url(url: str) -> str:
    """postgresql://... -> postgresql+psycopg://... (psycopg 3 for both sync and async)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def libpq_url(url: str) -> str:
    """The plain libpq form, for psycopg connections outside SQLAlchemy (LISTEN)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    # A fixed pool: overflow connections are closed when returned, and under steady concurrency
    # above the pool size that means forking a PostgreSQL backend for nearly every transaction.
    return create_async_engine(
        sqlalchemy_url(url), pool_size=pool_size, max_overflow=0, pool_timeout=60, pool_pre_ping=True,
        pool_recycle=1800,
    )


def inbox_table(metadata: MetaData) -> Table:
    """Ids of the events this service has processed: a redelivery is recognised and skipped."""
    return Table(
        "inbox", metadata,
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("inbox_processed_at", "processed_at"),  # pruning by age
    )


def outbox_table(metadata: MetaData) -> Table:
    """Events this service emitted, committed with the state change; the relay publishes them."""
    return Table(
        "outbox", metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("event_type", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # W3C trace context of what caused the event; the relay sends it as a Kafka header (telemetry.py).
        Column("traceparent", Text, nullable=True),
    )


class ServiceTables:
    """A service schema's metadata with its inbox and outbox already in it."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.metadata = MetaData(schema=schema)
        self.inbox = inbox_table(self.metadata)
        self.outbox = outbox_table(self.metadata)
