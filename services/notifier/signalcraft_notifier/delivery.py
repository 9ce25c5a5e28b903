"""Delivering notification requests to Slack, at most once per request, every attempt recorded.

Per polled batch: (1) commit a `sending` row for each new request; (2) call Slack, retrying
(tenacity) as the error says; (3) in one transaction claim the events (inbox), record outcomes and
attempts, emit NotificationDelivered / NotificationFailed. A crash between (2) and (3) leaves `sending`: on
redelivery we look in the channel for the message carrying this request id (Slack message metadata)
before posting again, so a kill -9 does not produce a second message.
"""

from __future__ import annotations

import asyncio

import aiohttp
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from aiokafka import ConsumerRecord
from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, Table, Text, Uuid, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt, wait_exponential

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.consumer import (
    ConsumerStats, CrashPoint, DecodedRecord, deadletter_once, decode_records, transient_retrying,
)
from signalcraft_runtime.crypto import SecretBox
from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import (
    NotificationDelivered, NotificationFailed, NotificationKind, NotificationRequested, SlackConnected,
)

from .domain.message import build
from .domain.slack_errors import Classified, Disposition
from .slack_client import CallOutcome, SlackClient

log = get_logger(__name__)

SCHEMA = "notifier"
CONSUMER_GROUP = "notifier"
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


class SlackDirectory:
    """A Slack client per workspace, from the config view (bot tokens decrypted on first use)."""

    def __init__(self, config: ConfigState, secrets: SecretBox, base_url: str) -> None:
        self._config = config
        self._secrets = secrets
        self._base_url = base_url
        self._clients: dict[str, tuple[SlackConnected, SlackClient]] = {}
        self._session: aiohttp.ClientSession | None = None

    def client_for(self, workspace_id: str) -> SlackClient | None:
        connected = self._config.slack.get(workspace_id)
        if connected is None:
            return None
        cached = self._clients.get(workspace_id)
        if cached is None or cached[0] is not connected:
            if self._session is None:  # created on first use, inside the running event loop
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
            token = self._secrets.decrypt(connected.bot_token_encrypted)
            cached = (connected, SlackClient(token, self._base_url, session=self._session))
            self._clients[workspace_id] = cached
        return cached[1]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass
class Outcome:
    ok: bool
    ts: str | None = None
    error: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


def _wait_for(retry_state: RetryCallState) -> float:
    """Slack's Retry-After when it gave one, else exponential backoff."""
    outcome = retry_state.outcome.result() if retry_state.outcome else None  # type: ignore[union-attr]
    if isinstance(outcome, CallOutcome) and outcome.failure and outcome.failure.retry_after_s is not None:
        return outcome.failure.retry_after_s
    return wait_exponential(multiplier=0.5, max=30)(retry_state)


def _should_retry(outcome: CallOutcome) -> bool:
    return not outcome.ok and outcome.failure is not None and outcome.failure.disposition != Disposition.TERMINAL


@dataclass
class Pending:
    """One request of the polled batch on its way through begin -> Slack -> finish."""

    env: Envelope[Any]
    request: NotificationRequested
    prior: str | None  # None: first time; "sending": a previous attempt crashed mid-way
    started_at: datetime
    outcome: Outcome | None = None


class NotificationDeliverer:
    """Delivers a polled batch with two transactions in all: one records `sending` for every new
    request, one records every outcome. Slack calls happen between them, in order per group and
    concurrently across groups."""

    def __init__(self, uow: UnitOfWorkFactory, slack: Callable[[str], SlackClient | None], max_attempts: int = 5,
                 concurrency: int = 8, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 crash_point: CrashPoint | None = None,
                 sync_config: Callable[[], Awaitable[bool]] | None = None) -> None:
        self._uow = uow
        self._slack = slack
        self._sync_config = sync_config
        self._max_attempts = max_attempts
        self._gate = asyncio.Semaphore(concurrency)
        self._sleep = sleep
        self._crash_point = crash_point or CrashPoint(0)
        self.stats = ConsumerStats()

    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        requests: dict[UUID, Envelope[Any]] = {}
        for item in decode_records(records):
            env = item.envelope
            if env is None or not isinstance(env.data, NotificationRequested):
                await self._retry_db(lambda item=item: self._deadletter(
                    item, item.error or f"unexpected event {env.type if env else None}"))
            else:
                requests.setdefault(env.id, env)  # a repeat within the batch is the same request
        if not requests:
            return
        pending = await self._retry_db(lambda: self._begin(list(requests.values())))
        if not pending:
            return  # every request of the batch was finished before (a redelivery)
        if self._sync_config is not None and any(self._slack(p.env.workspace_id) is None for p in pending):
            await self._sync_config()  # Slack connected a moment ago: the config view may trail that write
        originals = await self._retry_db(lambda: self._originals(
            {p.request.group.group_id for p in pending if p.request.kind != NotificationKind.NEW_GROUP}))
        by_key: dict[str, list[Pending]] = {}
        for p in pending:
            by_key.setdefault(p.env.key, []).append(p)
        await asyncio.gather(*(self._send_in_order(items, originals) for items in by_key.values()))
        self._crash_point.passed(len(pending))  # Slack has the messages; our record of them is not committed yet
        await self._retry_db(lambda: self._finish(pending))
        self.stats.processed += len(pending)
        self.stats.batches += 1

    async def _send_in_order(self, items: list[Pending], originals: dict[UUID, tuple[str, str]]) -> None:
        for p in items:
            async with self._gate:
                client = self._slack(p.env.workspace_id)
                try:
                    p.outcome = (Outcome(ok=False, error="slack_not_connected") if client is None
                                 else await self._send(client, p, originals))
                except Exception as exc:  # a bug must end in a visible failure, not a lost notification
                    log.exception("notification not sent", request_id=str(p.env.id))
                    p.outcome = Outcome(ok=False, error=f"internal_error: {type(exc).__name__}")
            if p.outcome.ok and p.outcome.ts and p.request.kind == NotificationKind.NEW_GROUP:
                originals[p.request.group.group_id] = (p.request.channel, p.outcome.ts)

    async def _retry_db(self, step: Callable[[], Awaitable[Any]]) -> Any:
        async for attempt in transient_retrying():
            with attempt:
                return await step()

    async def _deadletter(self, item: DecodedRecord, error: str) -> None:
        if await deadletter_once(self._uow, CONSUMER_GROUP, item, error):
            self.stats.deadlettered += 1

    async def _begin(self, envs: list[Envelope[Any]]) -> list[Pending]:
        """Record `sending` for requests seen for the first time; skip the finished ones."""
        now = utcnow()
        async with self._uow() as uow:
            rows = await uow.connection.execute(
                select(deliveries.c.request_id, deliveries.c.state, deliveries.c.started_at)
                .where(deliveries.c.request_id.in_([e.id for e in envs])))
            known = {r.request_id: r for r in rows}
            finished = [e.id for e in envs if e.id in known and known[e.id].state in ("sent", "failed")]
            fresh = [e for e in envs if e.id not in known]
            if finished:
                await uow.claim(finished)
            if fresh:
                await uow.connection.execute(deliveries.insert(), [
                    {"request_id": e.id, "workspace_id": e.workspace_id, "group_id": e.data.group.group_id,
                     "kind": e.data.kind.value, "channel": e.data.channel, "state": "sending", "attempts": 0,
                     "started_at": now} for e in fresh])
            await uow.commit()
        self.stats.duplicates += len(finished)
        return [Pending(e, e.data, str(known[e.id].state) if e.id in known else None,
                        known[e.id].started_at if e.id in known else now)
                for e in envs if e.id not in finished]

    async def _originals(self, group_ids: set[UUID]) -> dict[UUID, tuple[str, str]]:
        if not group_ids:
            return {}
        async with self._uow() as uow:
            rows = await uow.connection.execute(select(group_messages).where(group_messages.c.group_id.in_(list(group_ids))))
            return {r.group_id: (r.channel, r.message_ts) for r in rows}

    async def _send(self, client: SlackClient, p: Pending, originals: dict[UUID, tuple[str, str]]) -> Outcome:
        env, request = p.env, p.request
        text, blocks = build(request)
        original = None if request.kind == NotificationKind.NEW_GROUP else originals.get(request.group.group_id)
        if p.prior == "sending" and request.kind in (NotificationKind.NEW_GROUP, NotificationKind.ESCALATION):
            found = await client.find_posted(request.channel, str(env.id), oldest=(p.started_at - timedelta(seconds=5)).timestamp())
            if found:
                log.info("found the message posted before a crash; not posting again", request_id=str(env.id))
                return Outcome(ok=True, ts=found)
        if request.kind == NotificationKind.UPDATED and original is None:
            return Outcome(ok=False, error="original_message_missing")  # nothing to rewrite; never post anew
        if request.kind in (NotificationKind.RESOLVED, NotificationKind.UPDATED) and original is not None:
            method, call = "chat.update", lambda: client.update(original[0], original[1], text, blocks)
        else:
            thread = original[1] if request.kind == NotificationKind.ESCALATION and original else None
            method, call = "chat.postMessage", lambda: client.post(request.channel, text, blocks, str(env.id), thread_ts=thread)
        attempts: list[dict[str, Any]] = []

        async def attempt_once() -> CallOutcome:
            result = await call()
            failure: Classified | None = result.failure
            attempts.append({
                "request_id": env.id, "attempt": len(attempts) + 1, "method": method,
                "outcome": "ok" if result.ok else failure.disposition.value if failure else "retry",
                "error": failure.error if failure else None, "http_status": result.http_status,
                "latency_ms": result.latency_ms, "at": utcnow(),
            })
            return result

        result: CallOutcome = await AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts), wait=_wait_for, retry=retry_if_result(_should_retry),
            sleep=self._sleep, retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
        )(attempt_once)
        if result.ok:
            ts = result.ts or (original[1] if original else None)
            return Outcome(ok=True, ts=ts, attempts=attempts)
        return Outcome(ok=False, error=result.failure.error if result.failure else "unknown_error", attempts=attempts)

    async def _finish(self, pending: list[Pending]) -> None:
        """Every outcome, attempt and resulting event of the batch, in one transaction."""
        now = utcnow()
        async with self._uow() as uow:
            conn = uow.connection
            await uow.claim([p.env.id for p in pending])
            attempts = [a for p in pending for a in (p.outcome.attempts if p.outcome else [])]
            if attempts:
                await conn.execute(attempts_table.insert(), attempts)
            await conn.execute(
                update(deliveries).where(deliveries.c.request_id == bindparam("rid")).values(
                    state=bindparam("new_state"), message_ts=bindparam("ts"), attempts=bindparam("n"),
                    last_error=bindparam("err"), finished_at=now),
                [{"rid": p.env.id, "new_state": "sent" if p.outcome.ok else "failed", "ts": p.outcome.ts,
                  "n": len(p.outcome.attempts), "err": p.outcome.error} for p in pending if p.outcome])
            posted = [{"group_id": p.request.group.group_id, "channel": p.request.channel, "message_ts": p.outcome.ts}
                      for p in pending if p.outcome and p.outcome.ok and p.outcome.ts
                      and p.request.kind == NotificationKind.NEW_GROUP]
            if posted:
                await conn.execute(insert(group_messages).on_conflict_do_nothing(), posted)
            for p in pending:
                uow.emit(self._result_event(p, now))
            await uow.commit()

    def _result_event(self, p: Pending, now: datetime) -> Envelope[Any]:
        env, request, outcome = p.env, p.request, p.outcome
        assert outcome is not None
        group = request.group
        attempts = len(outcome.attempts)
        if outcome.ok:
            since = group.first_seen_at if request.kind == NotificationKind.NEW_GROUP else group.last_seen_at
            return env.caused(NotificationDelivered(
                request_id=env.id, kind=request.kind, group_id=group.group_id, channel=request.channel,
                message_ts=outcome.ts or "", attempts=max(attempts, 1),
                latency_ms=max(0.0, (now - since).total_seconds() * 1000)), occurred_at=now)
        log.warning("notification failed", request_id=str(env.id), error=outcome.error, channel=request.channel)
        return env.caused(NotificationFailed(
            request_id=env.id, kind=request.kind, group_id=group.group_id, channel=request.channel,
            error=outcome.error or "unknown_error", attempts=attempts), occurred_at=now)
