"""Delivering notification requests to Slack, at most once per request, every attempt recorded.

The runtime's SideEffectConsumer runs this per polled batch: (1) `begin` commits a `sending` row for
each new request; (2) `act` calls Slack, retrying as the error says; (3) `finish`, in one transaction,
claims the events (inbox), records outcomes and attempts, emits NotificationDelivered /
NotificationFailed. A crash between (2) and (3) leaves `sending`: on redelivery we look in the channel
for the message carrying this request id (Slack message metadata) before posting again, so a kill -9
does not produce a second message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.telemetry import within
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope

from .domain.delivery import (
    NOT_CONNECTED, ORIGINAL_MISSING, DeliveryBatch, GroupMessage, Outcome, Pending, SlackCall, is_finished,
    may_have_posted_before, needs_original, original_of, plan_call, posted_original, result_event,
    search_posted_since, settled,
)
from .repository import DeliveryRepository, DeliveryState

log = get_logger(__name__)


class WorkspaceSlackPort(Protocol):
    """One workspace's Slack: calls retried as Slack's error says, every attempt in the outcome."""

    async def find_posted(self, channel: str, request_id: str, since: datetime) -> str | None: ...

    async def send(self, call: SlackCall, request_id: str) -> Outcome: ...


class SlackPort(Protocol):
    def workspace(self, workspace_id: str) -> WorkspaceSlackPort | None: ...


def _pending(env: Envelope[Any], known: DeliveryState | None, now: datetime) -> Pending:
    return Pending(env, env.data, known.state if known else None, known.started_at if known else now)


class NotificationDelivery:
    """The notifier's side-effect handler: two transactions per batch in all, Slack calls between
    them, in order per group key and concurrently across keys."""

    def __init__(self, slack: SlackPort, concurrency: int = 8,
                 sync_config: Callable[[], Awaitable[bool]] | None = None) -> None:
        self._slack = slack
        self._gate = asyncio.Semaphore(concurrency)
        self._sync_config = sync_config

    async def begin(self, uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> DeliveryBatch:
        """Record `sending` for requests seen for the first time; claim and leave out the finished ones."""
        now, repo = utcnow(), DeliveryRepository(uow.connection)
        known = await repo.states([e.id for e in envelopes])
        finished = {e.id for e in envelopes if e.id in known and is_finished(known[e.id].state)}
        await uow.claim(list(finished))
        await repo.start([e for e in envelopes if e.id not in known], now)
        pending = [_pending(e, known.get(e.id), now) for e in envelopes if e.id not in finished]
        originals = await repo.group_messages({p.request.group.group_id for p in pending if needs_original(p.request)})
        return DeliveryBatch(pending, originals)

    async def act(self, batch: DeliveryBatch) -> None:
        """Outside any transaction: every request's Slack call."""
        if self._sync_config is not None and any(self._slack.workspace(p.env.workspace_id) is None
                                                 for p in batch.pending):
            await self._sync_config()  # Slack connected a moment ago: the config view may trail that write
        by_key: dict[str, list[Pending]] = {}
        for p in batch.pending:
            by_key.setdefault(p.env.key, []).append(p)
        await asyncio.gather(*(self._send_in_order(items, batch.originals) for items in by_key.values()))

    async def _send_in_order(self, items: list[Pending], originals: dict[UUID, GroupMessage]) -> None:
        for p in items:
            async with self._gate, within(p.env.id):  # its Slack calls: children of its consumer span
                slack = self._slack.workspace(p.env.workspace_id)
                p.outcome = (Outcome(ok=False, error=NOT_CONNECTED) if slack is None
                             else await self._send_visibly(slack, p, originals))
            posted = posted_original(p)
            if posted is not None:  # what the group's later requests of this batch update or reply to
                originals[p.request.group.group_id] = posted

    async def _send_visibly(self, slack: WorkspaceSlackPort, p: Pending, originals: dict[UUID, GroupMessage]) -> Outcome:
        try:
            return await self.send_one(slack, p, originals)
        except Exception as exc:  # a bug must end in a visible failure, not a lost notification
            log.exception("notification not sent", request_id=str(p.env.id))
            return Outcome(ok=False, error=f"internal_error: {type(exc).__name__}")

    async def send_one(self, slack: WorkspaceSlackPort, p: Pending, originals: dict[UUID, GroupMessage]) -> Outcome:
        original = original_of(p.request, originals)
        call = plan_call(p.request, original)
        if may_have_posted_before(p):
            found = await slack.find_posted(p.request.channel, str(p.env.id), since=search_posted_since(p.started_at))
            if found:
                log.info("found the message posted before a crash; not posting again", request_id=str(p.env.id))
                return Outcome(ok=True, ts=found)
        if call is None:
            return Outcome(ok=False, error=ORIGINAL_MISSING)
        return settled(await slack.send(call, str(p.env.id)), original)

    async def finish(self, uow: UnitOfWork, batch: DeliveryBatch) -> None:
        """Every outcome, attempt and resulting event of the batch, in one transaction."""
        now, repo = utcnow(), DeliveryRepository(uow.connection)
        await uow.claim([p.env.id for p in batch.pending])
        await repo.record_outcomes(batch.pending, now)
        await repo.remember_group_messages(
            [(p.request.group.group_id, m) for p in batch.pending if (m := posted_original(p)) is not None])
        for p in batch.pending:
            if p.outcome is not None and not p.outcome.ok:
                log.warning("notification failed", request_id=str(p.env.id), error=p.outcome.error,
                            channel=p.request.channel)
            uow.emit(result_event(p, now))
