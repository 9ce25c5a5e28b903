"""Delivering notification requests to Slack, at most once per request, every attempt recorded.

Three lanes, so that no first notification ever waits behind other work: the consumer's batch
never sleeps for pacing, and rewrites and paced thread replies go on their own time.

`NotificationDelivery` runs per polled batch on the runtime's SideEffectConsumer: (1) `begin` commits
a `sending` row for each new request, owned by this replica under a lease; (2) `act` posts first
notifications (criticals first; never held back), answers refused clicks, and posts the thread
replies whose channel's pace allows them now (and whose thread has no reply waiting), in order per
group and concurrently across groups, renewing its leases meanwhile; a reply that would have to wait
is set aside, not waited for; (3) `finish`, in one transaction, claims the events (inbox), records
outcomes and attempts, emits NotificationDelivered / NotificationFailed, hands every rewrite to the
rewrite lane (per message only the batch's latest state) and every set-aside reply to the reply lane.

A group has one message per route (its channel): a group fanned out to several channels has several,
each rewritten and replied under on its own; originals, rewrites and queued replies are keyed by
(group id, channel) (domain.delivery.message_key).

`RewriteLane` rewrites each group message in place at its own pace: at most once per message
per interval and under Slack's Tier 3 limit per workspace; rewrites queued meanwhile coalesce.

`ReplyLane` posts the queued thread replies: each thread's in the order queued, each at its
channel's pace (about one post a second), each at most once, its result event emitted as the
consumer's would be.

A crash between (2) and (3) leaves `sending`: on redelivery we look in the channel (or thread) for
the message carrying this request id (Slack message metadata) before posting again, so a kill -9
does not produce a second message. Another replica's `sending` rows (a rebalance overlap) are waited
for until they are finished or their lease has run out. The reply lane's claims are leased the same
way (renewed while its Slack call runs): a reply taken over after a lease ran out is looked for in
its thread before it is posted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.telemetry import within
from signalcraft_runtime.unit_of_work import UnitOfWork, UnitOfWorkFactory
from signalcraft_schemas import Envelope

from .domain.delivery import (
    NO_REPLY_URL, NOT_CONNECTED, DeliveryBatch, Ephemeral, GroupMessage, Lane, LookupFailed, Outcome, Pending, SlackCall,
    MessageKey, coalesced_rewrites, handed_over, is_finished, lane_of, may_have_posted_before, message_key,
    needs_original, original_of, plan_ephemeral, plan_post, plan_rewrite, posted_original, priority, result_event,
    search_posted_since, settled,
)
from .domain.pacing import LanePacing
from .domain.replies import QueuedReply, goes_inline, schedule_replies
from .domain.rewrites import QueuedRewrite, first_due, next_due, not_found, results, schedule, search_from
from .repository import DeliveryRepository, DeliveryState, ReplyRepository, RewriteRepository

log = get_logger(__name__)
IN_FLIGHT_POLL_S = 0.5
# The lanes are woken when this process queues work, and otherwise look when their queue's next row
# is due (a paced rewrite or reply, a lease of a crashed replica running out), at most this long
# apart; never sooner than LANE_MIN_WAIT_S after their last look unless woken (no busy loop).
LANE_POLL_S = 5.0
LANE_MIN_WAIT_S = 0.5


async def until_due(uow: UnitOfWorkFactory, due_of: Callable[[Any], Awaitable[datetime | None]],
                    poll_s: float) -> float:
    """How long a lane may wait before its queue's next row is due: between LANE_MIN_WAIT_S and
    `poll_s` (a `poll_s` below the minimum, as tests use, wins)."""
    try:
        async with uow() as work:
            due = await due_of(work.connection)
    except Exception as exc:  # the claim that follows meets the same trouble and reports it
        log.debug("lane could not read its next due time", error=repr(exc))
        return min(poll_s, LANE_MIN_WAIT_S)
    if due is None:
        return poll_s
    return min(poll_s, max(LANE_MIN_WAIT_S, (due - utcnow()).total_seconds()))
WAKE_AFTER_COMMIT_S = 0.05  # the batch's transaction commits just after `finish` returns


class WorkspaceSlackPort(Protocol):
    """One workspace's Slack: calls retried as Slack's error says, every attempt in the outcome."""

    async def find_posted(self, call: SlackCall, request_id: str, since: datetime) -> str | None: ...

    async def find_group_message(self, channel: str, group_id: str, since: datetime) -> str | None: ...

    async def send(self, call: SlackCall, request_id: str) -> Outcome: ...

    async def respond(self, ephemeral: Ephemeral) -> Outcome: ...


class SlackPort(Protocol):
    def workspace(self, workspace_id: str) -> WorkspaceSlackPort | None: ...


@asynccontextmanager
async def leases_kept(renew: Callable[[list[UUID], datetime], Awaitable[None]], ids: list[UUID],
                      lease: timedelta) -> AsyncIterator[None]:
    """Renews leases while Slack calls run (they may wait out rate limits)."""
    async def renewing() -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            with suppress(Exception):  # a missed renewal costs nothing while the lease still runs
                await renew(ids, utcnow() + lease)

    task = asyncio.create_task(renewing())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def _pending(env: Envelope[Any], known: DeliveryState | None, now: datetime) -> Pending:
    return Pending(env, env.data, known.state if known else None, known.started_at if known else now)


class NotificationDelivery:
    """The notifier's side-effect handler: two transactions per batch in all, Slack calls between
    them, in order per group key and concurrently across keys."""

    def __init__(self, slack: SlackPort, uow: UnitOfWorkFactory, owner: str, pacing: LanePacing,
                 concurrency: int = 8, sync_config: Callable[[], Awaitable[bool]] | None = None,
                 rewrites_queued: Callable[[], None] | None = None,
                 replies_queued: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._slack, self._uow, self._owner, self._pacing = slack, uow, owner, pacing
        self._gate = asyncio.Semaphore(concurrency)
        self._sync_config = sync_config
        self._rewrites_queued, self._replies_queued = rewrites_queued, replies_queued
        self._clock = clock

    async def begin(self, uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> DeliveryBatch:
        """Record `sending` (ours, leased) for new requests and take over our own or abandoned ones;
        leave out the finished ones, and set aside those another replica is sending right now."""
        now, repo = utcnow(), DeliveryRepository(uow.connection)
        known = await repo.states([e.id for e in envelopes])
        finished = {e.id for e in envelopes if e.id in known and is_finished(known[e.id].state)}
        await uow.claim(list(finished))
        lease_until = now + self._pacing.lease
        mine = await repo.start([e for e in envelopes if e.id not in known], now, self._owner, lease_until)
        mine |= await repo.take_over([i for i in known if i not in finished], self._owner, now, lease_until)
        pending = [_pending(e, known.get(e.id), now) for e in envelopes if e.id in mine]
        in_flight = [e for e in envelopes if e.id not in mine and e.id not in finished]
        originals = await repo.group_messages({message_key(p.request) for p in pending if needs_original(p.request)})
        queued_threads = await repo.queued_reply_threads({message_key(e.data) for e in envelopes})
        return DeliveryBatch(pending, originals, in_flight, queued_threads)

    async def act(self, batch: DeliveryBatch) -> None:
        """Outside any transaction: every post, answer and reply of the batch, first notifications first."""
        await self._wait_for_other_replicas(batch)
        if self._sync_config is not None and any(self._slack.workspace(p.env.workspace_id) is None
                                                 for p in batch.pending):
            await self._sync_config()  # Slack connected a moment ago: the config view may trail that write
        for p in batch.pending:
            p.lane = lane_of(p.request, original_of(p.request, batch.originals))
        by_key: dict[str, list[Pending]] = {}
        for p in batch.pending:
            if p.lane != Lane.REWRITE:
                by_key.setdefault(p.env.key, []).append(p)
        ordered = sorted(by_key.values(), key=lambda items: min(priority(p) for p in items))
        async with leases_kept(self._renew, [p.env.id for p in batch.pending], self._pacing.lease):
            await asyncio.gather(*(self._send_in_order(items, batch) for items in ordered))

    async def _wait_for_other_replicas(self, batch: DeliveryBatch) -> None:
        """Requests another replica is sending: wait until it has finished them (nothing to do) or
        its lease has run out (take them over, looking for its post before posting)."""
        while batch.in_flight:
            await asyncio.sleep(IN_FLIGHT_POLL_S)
            async with self._uow() as uow:
                now, repo = utcnow(), DeliveryRepository(uow.connection)
                ids = [e.id for e in batch.in_flight]
                known = await repo.states(ids)
                taken = await repo.take_over(ids, self._owner, now, now + self._pacing.lease)
                batch.originals.update(await repo.group_messages({message_key(e.data) for e in batch.in_flight}))
                await uow.commit()
            batch.pending += [_pending(e, known.get(e.id), now) for e in batch.in_flight if e.id in taken]
            batch.in_flight = [e for e in batch.in_flight if e.id not in taken and e.id in known
                               and not is_finished(known[e.id].state)]

    async def _renew(self, request_ids: list[UUID], lease_until: datetime) -> None:
        async with self._uow() as uow:
            await DeliveryRepository(uow.connection).renew(request_ids, self._owner, lease_until)
            await uow.commit()

    async def _send_in_order(self, items: list[Pending], batch: DeliveryBatch) -> None:
        for p in items:
            if not goes_inline(p, batch.queued_threads, self._pacing.posts, self._clock()):
                p.queued = True  # its turn comes in the reply lane; the batch does not wait for it
                continue
            async with self._gate, within(p.env.id):  # its Slack calls: children of its consumer span
                slack = self._slack.workspace(p.env.workspace_id)
                p.outcome = (Outcome(ok=False, error=NOT_CONNECTED) if slack is None
                             else await self._send_visibly(slack, p, batch.originals))
            posted = posted_original(p)
            if posted is not None:  # what the group's later requests of this batch for this channel reply to
                batch.originals[message_key(p.request)] = posted

    async def _send_visibly(self, slack: WorkspaceSlackPort, p: Pending,
                            originals: dict[MessageKey, GroupMessage]) -> Outcome:
        try:
            return await self.send_one(slack, p, originals)
        except Exception as exc:  # a bug must end in a visible failure, not a lost notification
            log.exception("notification not sent", request_id=str(p.env.id))
            return Outcome(ok=False, error=f"internal_error: {type(exc).__name__}")

    async def send_one(self, slack: WorkspaceSlackPort, p: Pending, originals: dict[MessageKey, GroupMessage]) -> Outcome:
        if p.lane == Lane.EPHEMERAL:
            ephemeral = plan_ephemeral(p.request)
            return await slack.respond(ephemeral) if ephemeral else Outcome(ok=False, error=NO_REPLY_URL)
        call = plan_post(p.request, p.env.workspace_id, original_of(p.request, originals))
        if may_have_posted_before(p):
            found = await slack.find_posted(call, str(p.env.id), since=search_posted_since(p.started_at))
            if found:
                log.info("found the message posted before a crash; not posting again", request_id=str(p.env.id))
                return Outcome(ok=True, ts=found)
        return await slack.send(call, str(p.env.id))

    async def finish(self, uow: UnitOfWork, batch: DeliveryBatch) -> None:
        """Every outcome, attempt and resulting event of the batch, and its rewrites, in one transaction."""
        now, repo = utcnow(), DeliveryRepository(uow.connection)
        await uow.claim([p.env.id for p in batch.pending])
        sent = [p for p in batch.pending if not handed_over(p)]
        recorded = await repo.record_outcomes(sent, now, self._owner)
        await repo.remember_group_messages(
            [(p.request.group.group_id, m) for p in sent if p.env.id in recorded and (m := posted_original(p))])
        await self._queue_rewrites(repo, batch, now)
        await self._queue_replies(repo, batch, now)
        for p in sent:
            if p.env.id not in recorded:
                continue  # taken over by another replica meanwhile: its outcome is the new owner's to tell
            if p.outcome is not None and not p.outcome.ok:
                log.warning("notification failed", request_id=str(p.env.id), error=p.outcome.error,
                            channel=p.request.channel)
            uow.emit(result_event(p, now))

    async def _queue_rewrites(self, repo: DeliveryRepository, batch: DeliveryBatch, now: datetime) -> None:
        coalesced = coalesced_rewrites(batch.pending)
        last = await repo.last_rewrites({r.key for r in coalesced})
        due = [(r, first_due(now, last.get(r.key), self._pacing.rewrite_interval)) for r in coalesced]
        await repo.queue_rewrites(due, [p.env.id for p in batch.pending if p.lane == Lane.REWRITE], self._owner)
        if coalesced and self._rewrites_queued is not None:
            asyncio.get_running_loop().call_later(WAKE_AFTER_COMMIT_S, self._rewrites_queued)

    async def _queue_replies(self, repo: DeliveryRepository, batch: DeliveryBatch, now: datetime) -> None:
        queued = [p for p in batch.pending if p.queued]
        await repo.queue_replies(queued, now, self._owner)
        if queued and self._replies_queued is not None:
            asyncio.get_running_loop().call_later(WAKE_AFTER_COMMIT_S, self._replies_queued)


class RewriteLane:
    """Rewrites each group message (one per route's channel) as its state stands, at most once per
    message per interval and under Slack's Tier 3 limit per workspace; replicas share the queue (leases)."""

    def __init__(self, uow: UnitOfWorkFactory, slack: SlackPort, owner: str, pacing: LanePacing,
                 concurrency: int = 8, batch: int = 50, poll_s: float = LANE_POLL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._uow, self._slack, self._owner, self._pacing = uow, slack, owner, pacing
        self._gate = asyncio.Semaphore(concurrency)
        self._batch, self._poll_s, self._clock = batch, poll_s, clock
        self._woken = asyncio.Event()
        self._more = False
        self._turns: dict[str, float] = {}  # per workspace, the first rewrite turn not yet given out (clock)

    def wake(self) -> None:
        self._woken.set()

    async def step(self) -> int:
        """Wait for queued rewrites (or poll for due ones), then do every due one its pace allows;
        returns how many were claimed."""
        more, self._more = self._more, False  # a failed claim waits before the next (no busy loop)
        if not more:
            wait = await until_due(self._uow, lambda conn: RewriteRepository(conn).next_due(), self._poll_s)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), wait)
        self._woken.clear()
        now = utcnow()
        async with self._uow() as uow:
            claimed = await RewriteRepository(uow.connection).claim_due(now, self._owner, now + self._pacing.lease,
                                                                        self._batch)
            await uow.commit()
        self._more = len(claimed) == self._batch
        ready, later = schedule(claimed, self._pacing.rewrites, self._clock(),
                                lambda workspace: self._slack.workspace(workspace) is not None, self._turns)
        await self._postpone([(q, timedelta(seconds=wait)) for q, wait in later])
        await asyncio.gather(*(self._rewrite_visibly(q) for q in ready))
        return len(claimed)

    async def _rewrite_visibly(self, queued: QueuedRewrite) -> None:
        try:
            await self.rewrite(queued)
        except Exception:  # a lookup or the database failed: try again shortly (the lease covers a crash)
            log.exception("rewrite postponed after an error", group_id=str(queued.group_id), channel=queued.channel)
            with suppress(Exception):
                await self._postpone([(queued, timedelta(seconds=5))])

    async def rewrite(self, queued: QueuedRewrite) -> None:
        """The group's message rewritten as the queued state shows it (found first if not recorded)."""
        async with self._gate, within(queued.env.id):
            outcome = await self._outcome(self._slack.workspace(queued.workspace_id), queued)
        now = utcnow()
        async with self._uow() as uow:
            if await RewriteRepository(uow.connection).complete(queued, outcome, self._owner, now,
                                                                next_due(now, self._pacing.rewrite_interval)):
                uow.emit_all(results(queued, outcome, now))
                await uow.commit()
        if not outcome.ok:
            log.warning("rewrite failed", group_id=str(queued.group_id), channel=queued.channel, error=outcome.error)

    async def _outcome(self, slack: WorkspaceSlackPort | None, queued: QueuedRewrite) -> Outcome:
        if slack is None:
            return Outcome(ok=False, error=NOT_CONNECTED)
        try:
            original = queued.original or await self._look_up(slack, queued)
        except LookupFailed as failed:
            if not failed.terminal:
                raise  # rate limited, Slack unavailable: postponed, tried again
            return Outcome(ok=False, error=failed.error)
        if original is None:
            return not_found()
        call = plan_rewrite(queued.request, queued.workspace_id, original)
        return settled(await slack.send(call, str(queued.env.id)), original)

    async def _look_up(self, slack: WorkspaceSlackPort, queued: QueuedRewrite) -> GroupMessage | None:
        """The group's message is not recorded (a crash, or older than our records): find it in the channel."""
        channel = queued.channel
        ts = await slack.find_group_message(channel, str(queued.group_id), since=search_from(queued))
        return GroupMessage(channel, ts) if ts else None

    async def _postpone(self, waits: list[tuple[QueuedRewrite, timedelta]]) -> None:
        if not waits:
            return
        now = utcnow()
        async with self._uow() as uow:
            await RewriteRepository(uow.connection).postpone([(q.key, now + wait) for q, wait in waits], self._owner)
            await uow.commit()



class ReplyLane:
    """Posts queued thread replies: each thread's in the order queued, each at its channel's pace,
    at most once; replicas share the queue (leases, renewed while a reply's Slack call runs)."""

    def __init__(self, uow: UnitOfWorkFactory, slack: SlackPort, owner: str, pacing: LanePacing,
                 concurrency: int = 8, batch: int = 50, poll_s: float = LANE_POLL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._uow, self._slack, self._owner, self._pacing = uow, slack, owner, pacing
        self._gate = asyncio.Semaphore(concurrency)
        self._batch, self._poll_s, self._clock = batch, poll_s, clock
        self._woken = asyncio.Event()
        self._next_turn: float | None = None  # when the earliest reply given back is due (clock)

    def wake(self) -> None:
        self._woken.set()

    async def step(self) -> int:
        """Wait to be woken, for the next reply's turn or the poll interval, then post every claimed
        reply whose turn it is; returns how many were posted (0: nothing to do right now)."""
        wait = min(self._wait_s(), await until_due(self._uow, lambda conn: ReplyRepository(conn).next_due(), self._poll_s))
        with suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), wait)
        self._woken.clear()
        now = utcnow()
        async with self._uow() as uow:
            claimed = await ReplyRepository(uow.connection).claim_due(now, self._owner, now + self._pacing.lease,
                                                                      self._batch)
            await uow.commit()
        ready, later = schedule_replies(claimed, self._pacing.posts, self._clock(),
                                        lambda workspace: self._slack.workspace(workspace) is not None)
        await self._give_back(later)
        async with leases_kept(self._renew, [q.env.id for q in ready], self._pacing.lease):
            await asyncio.gather(*(self._reply_visibly(q) for q in ready))
        if ready:
            self._next_turn = self._clock()  # the next reply of these groups may be due at once
        return len(ready)

    def _wait_s(self) -> float:
        turn, self._next_turn = self._next_turn, None
        return self._poll_s if turn is None else min(self._poll_s, max(0.0, turn - self._clock()))

    async def _give_back(self, later: list[tuple[QueuedReply, float]]) -> None:
        """Not their turn yet: due again at their turn (woken for the first of them)."""
        if not later:
            return
        self._next_turn = self._clock() + min(wait for _, wait in later)
        now = utcnow()
        async with self._uow() as uow:
            await ReplyRepository(uow.connection).postpone(
                [(q.env.id, now + timedelta(seconds=wait)) for q, wait in later], self._owner, may_have_posted=False)
            await uow.commit()

    async def _renew(self, request_ids: list[UUID], lease_until: datetime) -> None:
        async with self._uow() as uow:
            await ReplyRepository(uow.connection).renew(request_ids, self._owner, lease_until)
            await uow.commit()

    async def _reply_visibly(self, queued: QueuedReply) -> None:
        try:
            await self.reply(queued)
        except Exception:  # a lookup or the database failed: again shortly, looking for the post first
            log.exception("reply postponed after an error", request_id=str(queued.env.id))
            with suppress(Exception):
                async with self._uow() as uow:
                    await ReplyRepository(uow.connection).postpone([(queued.env.id, utcnow() + timedelta(seconds=5))],
                                                                   self._owner, may_have_posted=True)
                    await uow.commit()

    async def reply(self, queued: QueuedReply) -> None:
        """The reply posted (or found, if an earlier attempt posted it), its outcome and result recorded."""
        async with self._gate, within(queued.env.id):
            outcome = await self._outcome(self._slack.workspace(queued.env.workspace_id), queued)
        now = utcnow()
        async with self._uow() as uow:
            if await ReplyRepository(uow.connection).complete(queued, outcome, self._owner, now):
                uow.emit(result_event(queued.pending(outcome), now))
                await uow.commit()
        if not outcome.ok:
            log.warning("notification failed", request_id=str(queued.env.id), error=outcome.error,
                        channel=queued.channel)

    async def _outcome(self, slack: WorkspaceSlackPort | None, queued: QueuedReply) -> Outcome:
        if slack is None:
            return Outcome(ok=False, error=NOT_CONNECTED)
        call = queued.call()
        if queued.may_have_posted:
            try:
                found = await slack.find_posted(call, str(queued.env.id), since=queued.search_from())
            except LookupFailed as failed:
                if not failed.terminal:
                    raise  # rate limited, Slack unavailable: postponed, looked for again
                return Outcome(ok=False, error=failed.error)
            if found:
                log.info("found the reply posted before a crash; not posting again", request_id=str(queued.env.id))
                return Outcome(ok=True, ts=found)
        return await slack.send(call, str(queued.env.id))
