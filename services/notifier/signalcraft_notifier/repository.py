"""The notifier's tables: a delivery per request (sending | sent | failed), every Slack attempt, and
each group's original message (which updates rewrite and escalations reply to)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, Table, Text, Uuid, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_runtime.database import ServiceTables
from signalcraft_schemas import Envelope

from .domain.delivery import FAILED, SENDING, SENT, GroupMessage, Pending

SCHEMA = "notifier"
tables = ServiceTables(SCHEMA)
deliveries = Table(
    "deliveries", tables.metadata,
    Column("request_id", Uuid, primary_key=True), Column("workspace_id", Text, nullable=False),
    Column("group_id", Uuid, nullable=False), Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=False), Column("state", Text, nullable=False),
    Column("message_ts", Text), Column("attempts", Integer, nullable=False),
    Column("last_error", Text), Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)
attempts_table = Table(
    "attempts", tables.metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True), Column("request_id", Uuid, nullable=False),
    Column("attempt", Integer, nullable=False), Column("method", Text, nullable=False),
    Column("outcome", Text, nullable=False), Column("error", Text), Column("http_status", Integer),
    Column("latency_ms", Float, nullable=False), Column("at", DateTime(timezone=True), nullable=False),
)
group_messages = Table(
    "group_messages", tables.metadata,
    Column("group_id", Uuid, primary_key=True), Column("channel", Text, nullable=False),
    Column("message_ts", Text, nullable=False),
)


@dataclass(frozen=True)
class DeliveryState:
    state: str
    started_at: datetime


class DeliveryRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def states(self, request_ids: Sequence[UUID]) -> dict[UUID, DeliveryState]:
        rows = await self._conn.execute(
            select(deliveries.c.request_id, deliveries.c.state, deliveries.c.started_at)
            .where(deliveries.c.request_id.in_(list(request_ids))))
        return {r.request_id: DeliveryState(str(r.state), r.started_at) for r in rows}

    async def start(self, requests: Sequence[Envelope[Any]], now: datetime) -> None:
        """Record `sending` for requests seen for the first time."""
        if not requests:
            return
        await self._conn.execute(deliveries.insert(), [
            {"request_id": e.id, "workspace_id": e.workspace_id, "group_id": e.data.group.group_id,
             "kind": e.data.kind.value, "channel": e.data.channel, "state": SENDING, "attempts": 0,
             "started_at": now} for e in requests])

    async def group_messages(self, group_ids: set[UUID]) -> dict[UUID, GroupMessage]:
        if not group_ids:
            return {}
        rows = await self._conn.execute(select(group_messages).where(group_messages.c.group_id.in_(list(group_ids))))
        return {r.group_id: GroupMessage(r.channel, r.message_ts) for r in rows}

    async def record_outcomes(self, pending: Sequence[Pending], now: datetime) -> None:
        """Every attempt, and each delivery's final state."""
        attempts = [{"request_id": p.env.id, "attempt": a.number, "method": a.method, "outcome": a.outcome,
                     "error": a.error, "http_status": a.http_status, "latency_ms": a.latency_ms, "at": a.at}
                    for p in pending for a in (p.outcome.attempts if p.outcome else [])]
        if attempts:
            await self._conn.execute(attempts_table.insert(), attempts)
        await self._conn.execute(
            update(deliveries).where(deliveries.c.request_id == bindparam("rid")).values(
                state=bindparam("new_state"), message_ts=bindparam("ts"), attempts=bindparam("n"),
                last_error=bindparam("err"), finished_at=now),
            [{"rid": p.env.id, "new_state": SENT if p.outcome.ok else FAILED, "ts": p.outcome.ts,
              "n": len(p.outcome.attempts), "err": p.outcome.error} for p in pending if p.outcome])

    async def remember_group_messages(self, posted: Sequence[tuple[UUID, GroupMessage]]) -> None:
        if posted:
            await self._conn.execute(insert(group_messages).on_conflict_do_nothing(), [
                {"group_id": group_id, "channel": m.channel, "message_ts": m.ts} for group_id, m in posted])
