"""The notifier's tables: a delivery per request (sending | sent | failed | queued), every Slack
attempt, each group's original message per channel (which rewrites edit and replies thread under:
a group with several routes has one in each route's channel), the rewrite lane's queue (the latest
state of each such message, waiting for its chat.update), and the reply lane's queue (thread replies
waiting for their channel's pace, in order per message). Messages are keyed by (group_id, channel).

A `sending` delivery has an owner (a replica) and a lease, renewed while its Slack call runs: no
other replica takes it over while the lease lives, so a rebalance overlap cannot post twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, Float, Identity, Integer, LargeBinary, Table, Text, Uuid, bindparam, delete,
    exists, func, or_, select, tuple_, update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_runtime.bulk import BulkRows
from signalcraft_runtime.database import ServiceTables
from signalcraft_schemas import Envelope, decode, encode
from signalcraft_schemas.events import NotificationKind

from .domain.delivery import FAILED, QUEUED, SENDING, SENT, GroupMessage, MessageKey, Outcome, Pending, Rewrite, message_key
from .domain.replies import QueuedReply
from .domain.rewrites import Answered, QueuedRewrite

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
    Column("owner", Text), Column("lease_until", DateTime(timezone=True)),
)
attempts_table = Table(
    "attempts", tables.metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True), Column("request_id", Uuid, nullable=False),
    Column("attempt", Integer, nullable=False), Column("method", Text, nullable=False),
    Column("outcome", Text, nullable=False), Column("error", Text), Column("http_status", Integer),
    Column("latency_ms", Float, nullable=False), Column("at", DateTime(timezone=True), nullable=False),
)
group_messages = Table(  # one per group and channel (migration 0004_message_per_route)
    "group_messages", tables.metadata,
    Column("group_id", Uuid, primary_key=True), Column("channel", Text, primary_key=True),
    Column("message_ts", Text, nullable=False), Column("last_rewrite_at", DateTime(timezone=True)),
)
rewrites = Table(  # one per group message: group and channel
    "rewrites", tables.metadata,
    Column("group_id", Uuid, primary_key=True), Column("channel", Text, primary_key=True),
    Column("workspace_id", Text, nullable=False),
    Column("request", LargeBinary, nullable=False),  # the latest request (encoded envelope)
    Column("request_ids", ARRAY(Uuid), nullable=False),  # requests answered by the rewrite
    Column("version", BigInteger, nullable=False), Column("due_at", DateTime(timezone=True), nullable=False),
    Column("owner", Text), Column("lease_until", DateTime(timezone=True)),
)
replies = Table(
    "replies", tables.metadata,
    Column("request_id", Uuid, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False),  # the order queued: per thread, sent in this order
    Column("group_id", Uuid, nullable=False),
    Column("channel", Text, nullable=False),  # with group_id, the thread: the group's message in this channel
    Column("workspace_id", Text, nullable=False),
    Column("request", LargeBinary, nullable=False),  # the encoded envelope
    Column("started_at", DateTime(timezone=True), nullable=False),  # its delivery's start
    Column("may_have_posted", Boolean, nullable=False),  # look in the thread before posting
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("owner", Text), Column("lease_until", DateTime(timezone=True)),
)


# A batch's rows one statement per kind (`bulk.BulkRows`): an executemany is a statement per row, and
# SQLAlchemy's multi-row insert a new text per row count, which psycopg parses each time.
START_ROWS = BulkRows.of(request_id="uuid", workspace_id="text", group_id="uuid", kind="text", channel="text",
                         state="text", attempts="int4", started_at="timestamptz", owner="text",
                         lease_until="timestamptz")
START = (f"INSERT INTO {SCHEMA}.deliveries ({START_ROWS.names}) SELECT * FROM {START_ROWS.source()} "
         "ON CONFLICT DO NOTHING RETURNING request_id")
ATTEMPT_ROWS = BulkRows.of(request_id="uuid", attempt="int4", method="text", outcome="text", error="text",
                           http_status="int4", latency_ms="float8", at="timestamptz")
INSERT_ATTEMPTS = f"INSERT INTO {SCHEMA}.attempts ({ATTEMPT_ROWS.names}) SELECT * FROM {ATTEMPT_ROWS.source()}"
OUTCOME_ROWS = BulkRows.of(request_id="uuid", state="text", message_ts="text", attempts="int4", last_error="text",
                           finished_at="timestamptz")
RECORD_OUTCOMES = (f"UPDATE {SCHEMA}.deliveries d SET state = s.state, message_ts = s.message_ts, "
                   "attempts = s.attempts, last_error = s.last_error, finished_at = s.finished_at, lease_until = NULL "
                   f"FROM {OUTCOME_ROWS.source()} WHERE d.request_id = s.request_id")
# request_ids: a comma-joined text per row (unnest flattens an array of arrays).
REWRITE_ROWS = BulkRows.of(group_id="uuid", channel="text", workspace_id="text", request="bytea",
                           request_ids="text", due_at="timestamptz")
QUEUE_REWRITES = (
    f"INSERT INTO {SCHEMA}.rewrites (group_id, channel, workspace_id, request, request_ids, version, due_at) "
    "SELECT group_id, channel, workspace_id, request, string_to_array(request_ids, ',')::uuid[], 1, due_at "
    f"FROM {REWRITE_ROWS.source()} ON CONFLICT (group_id, channel) DO UPDATE SET request = excluded.request, "
    "workspace_id = excluded.workspace_id, request_ids = rewrites.request_ids || excluded.request_ids, "
    "version = rewrites.version + 1")


@dataclass(frozen=True)
class DeliveryState:
    state: str
    started_at: datetime
    owner: str | None = None
    lease_until: datetime | None = None


def _attempt_rows(request_id: UUID, outcome: Outcome) -> list[dict[str, Any]]:
    return [{"request_id": request_id, "attempt": a.number, "method": a.method, "outcome": a.outcome, "error": a.error,
             "http_status": a.http_status, "latency_ms": a.latency_ms, "at": a.at} for a in outcome.attempts]


class DeliveryRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def states(self, request_ids: Sequence[UUID]) -> dict[UUID, DeliveryState]:
        rows = await self._conn.execute(
            select(deliveries.c.request_id, deliveries.c.state, deliveries.c.started_at, deliveries.c.owner,
                   deliveries.c.lease_until).where(deliveries.c.request_id.in_(list(request_ids))))
        return {r.request_id: DeliveryState(str(r.state), r.started_at, r.owner, r.lease_until) for r in rows}

    async def start(self, requests: Sequence[Envelope[Any]], now: datetime, owner: str,
                    lease_until: datetime) -> set[UUID]:
        """Record `sending` for requests seen for the first time; returns those this replica started
        (another replica may have started some a moment before)."""
        if not requests:
            return set()
        cursor = await START_ROWS.execute(self._conn, START, [
            {"request_id": e.id, "workspace_id": e.workspace_id, "group_id": e.data.group.group_id,
             "kind": e.data.kind.value, "channel": e.data.channel, "state": SENDING, "attempts": 0,
             "started_at": now, "owner": owner, "lease_until": lease_until} for e in requests])
        return {row[0] for row in await cursor.fetchall()}

    async def take_over(self, request_ids: Collection[UUID], owner: str, now: datetime,
                        lease_until: datetime) -> set[UUID]:
        """Take `sending` deliveries that are ours or whose owner's lease has run out."""
        if not request_ids:
            return set()
        rows = await self._conn.execute(
            update(deliveries).where(
                deliveries.c.request_id.in_(list(request_ids)), deliveries.c.state == SENDING,
                or_(deliveries.c.owner == owner, deliveries.c.owner.is_(None), deliveries.c.lease_until.is_(None),
                    deliveries.c.lease_until < now))
            .values(owner=owner, lease_until=lease_until).returning(deliveries.c.request_id))
        return {r.request_id for r in rows}

    async def renew(self, request_ids: Collection[UUID], owner: str, lease_until: datetime) -> None:
        await self._conn.execute(update(deliveries).where(
            deliveries.c.request_id.in_(list(request_ids)), deliveries.c.owner == owner,
            deliveries.c.state == SENDING).values(lease_until=lease_until))

    async def group_messages(self, keys: Collection[MessageKey]) -> dict[MessageKey, GroupMessage]:
        """The recorded messages among these (group, channel) keys."""
        if not keys:
            return {}
        rows = await self._conn.execute(select(group_messages).where(
            tuple_(group_messages.c.group_id, group_messages.c.channel).in_(list(keys))))
        return {(r.group_id, r.channel): GroupMessage(r.channel, r.message_ts) for r in rows}

    async def last_rewrites(self, keys: Collection[MessageKey]) -> dict[MessageKey, datetime]:
        if not keys:
            return {}
        rows = await self._conn.execute(
            select(group_messages.c.group_id, group_messages.c.channel, group_messages.c.last_rewrite_at).where(
                tuple_(group_messages.c.group_id, group_messages.c.channel).in_(list(keys)),
                group_messages.c.last_rewrite_at.is_not(None)))
        return {(r.group_id, r.channel): r.last_rewrite_at for r in rows}

    async def first_posts(self, keys: Collection[MessageKey]) -> dict[MessageKey, str]:
        """The state of each group's new-group delivery in each channel."""
        if not keys:
            return {}
        rows = await self._conn.execute(select(deliveries.c.group_id, deliveries.c.channel, deliveries.c.state).where(
            deliveries.c.group_id.in_({group_id for group_id, _ in keys}),
            deliveries.c.kind == NotificationKind.NEW_GROUP.value))
        wanted = set(keys)
        return {(r.group_id, r.channel): str(r.state) for r in rows if (r.group_id, r.channel) in wanted}

    async def record_outcomes(self, pending: Sequence[Pending], now: datetime, owner: str) -> set[UUID]:
        """Every attempt, and each delivery's final state, where this replica still holds it;
        returns the requests recorded (the others were taken over, and are the new owner's to record)."""
        done = [p for p in pending if p.outcome is not None]
        if not done:
            return set()
        rows = await self._conn.execute(
            select(deliveries.c.request_id).where(deliveries.c.request_id.in_([p.env.id for p in done]),
                                                  deliveries.c.owner == owner, deliveries.c.state == SENDING)
            .with_for_update())
        mine = {r.request_id for r in rows}
        recorded = [p for p in done if p.env.id in mine]
        await ATTEMPT_ROWS.execute(self._conn, INSERT_ATTEMPTS,
                                   [row for p in recorded if p.outcome for row in _attempt_rows(p.env.id, p.outcome)])
        await OUTCOME_ROWS.execute(self._conn, RECORD_OUTCOMES, [
            {"request_id": p.env.id, "state": SENT if p.outcome.ok else FAILED, "message_ts": p.outcome.ts,
             "attempts": len(p.outcome.attempts), "last_error": p.outcome.error, "finished_at": now}
            for p in recorded if p.outcome])
        return mine

    async def remember_group_messages(self, posted: Sequence[tuple[UUID, GroupMessage]]) -> None:
        if posted:
            await self._conn.execute(insert(group_messages).on_conflict_do_nothing(), [
                {"group_id": group_id, "channel": m.channel, "message_ts": m.ts} for group_id, m in posted])

    async def queue_rewrites(self, queued: Sequence[tuple[Rewrite, datetime]], handed_over: Collection[UUID],
                             owner: str) -> None:
        """Hand requests to the rewrite lane: their deliveries `queued`, each group's latest state
        replacing the one waiting (its answered requests added), due when given or as it was."""
        if handed_over:
            await self._conn.execute(update(deliveries).where(
                deliveries.c.request_id.in_(list(handed_over)), deliveries.c.owner == owner,
                deliveries.c.state == SENDING).values(state=QUEUED, lease_until=None))
        await REWRITE_ROWS.execute(self._conn, QUEUE_REWRITES, [
            {"group_id": r.group_id, "channel": r.channel, "workspace_id": r.env.workspace_id, "request": encode(r.env),
             "request_ids": ",".join(str(i) for i in r.request_ids), "due_at": due} for r, due in queued])


    async def queued_reply_threads(self, keys: Collection[MessageKey]) -> set[MessageKey]:
        """The threads (group messages, by group and channel) with replies waiting in the reply lane."""
        if not keys:
            return set()
        rows = await self._conn.execute(select(replies.c.group_id, replies.c.channel).distinct().where(
            tuple_(replies.c.group_id, replies.c.channel).in_(list(keys))))
        return {(r.group_id, r.channel) for r in rows}

    async def queue_replies(self, pending: Sequence[Pending], now: datetime, owner: str) -> None:
        """Hand replies to the reply lane, in the batch's order (which is their order per group), where
        this replica still holds their delivery: `queued`, due now."""
        if not pending:
            return
        rows = await self._conn.execute(update(deliveries).where(
            deliveries.c.request_id.in_([p.env.id for p in pending]), deliveries.c.owner == owner,
            deliveries.c.state == SENDING).values(state=QUEUED, lease_until=None).returning(deliveries.c.request_id))
        mine = {r.request_id for r in rows}
        for p in pending:  # one statement each: `seq` follows the order given
            if p.env.id in mine:
                group_id, channel = message_key(p.request)
                await self._conn.execute(insert(replies).on_conflict_do_nothing().values(
                    request_id=p.env.id, group_id=group_id, channel=channel, workspace_id=p.env.workspace_id,
                    request=encode(p.env), started_at=p.started_at, may_have_posted=p.prior == SENDING, due_at=now))


class RewriteRepository:
    """The rewrite lane's queue: claimed with a lease (SKIP LOCKED: replicas share it), completed
    only by the replica still holding it and only as far as the version it rewrote."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._deliveries = DeliveryRepository(conn)

    async def claim_due(self, now: datetime, owner: str, lease_until: datetime, limit: int) -> list[QueuedRewrite]:
        due = (select(rewrites.c.group_id, rewrites.c.channel).where(rewrites.c.due_at <= now, or_(
            rewrites.c.lease_until.is_(None), rewrites.c.lease_until < now))
            .order_by(rewrites.c.due_at).limit(limit).with_for_update(skip_locked=True))
        rows = (await self._conn.execute(update(rewrites).where(tuple_(rewrites.c.group_id, rewrites.c.channel).in_(due))
                                         .values(owner=owner, lease_until=lease_until).returning(rewrites))).all()
        if not rows:
            return []
        keys = {(r.group_id, r.channel) for r in rows}
        originals = await self._deliveries.group_messages(keys)
        first_posts = await self._deliveries.first_posts(keys)
        answers = await self._answers([i for r in rows for i in r.request_ids])
        return [QueuedRewrite(r.group_id, r.workspace_id, decode(r.request), r.version,
                              [answers[i] for i in r.request_ids if i in answers], originals.get((r.group_id, r.channel)),
                              first_posts.get((r.group_id, r.channel))) for r in rows]

    async def next_due(self) -> datetime | None:
        """When a queued rewrite can next be claimed: the earliest due time, or the end of the lease of
        one held (by a replica that may have crashed); None when nothing is queued."""
        return (await self._conn.execute(select(func.min(func.greatest(rewrites.c.due_at, rewrites.c.lease_until))))).scalar()

    async def _answers(self, request_ids: list[UUID]) -> dict[UUID, Answered]:
        if not request_ids:
            return {}
        rows = await self._conn.execute(select(deliveries.c.request_id, deliveries.c.kind, deliveries.c.channel).where(
            deliveries.c.request_id.in_(request_ids), deliveries.c.state == QUEUED))
        return {r.request_id: Answered(r.request_id, NotificationKind(r.kind), r.channel) for r in rows}

    async def postpone(self, due: Sequence[tuple[MessageKey, datetime]], owner: str) -> None:
        """Give claimed rewrites back (by group and channel), each due again when given."""
        if due:
            await self._conn.execute(
                update(rewrites).where(rewrites.c.group_id == bindparam("g"), rewrites.c.channel == bindparam("c"),
                                       rewrites.c.owner == owner)
                .values(owner=None, lease_until=None, due_at=bindparam("due")),
                [{"g": group_id, "c": channel, "due": at} for (group_id, channel), at in due])

    async def complete(self, queued: QueuedRewrite, outcome: Outcome, owner: str, now: datetime,
                       next_due: datetime) -> bool:
        """Record the rewrite of `queued.version`: False if another replica took it over meanwhile.
        A newer state queued meanwhile stays, due at `next_due` (the message's pace)."""
        handled = [a.request_id for a in queued.answers]
        this = (rewrites.c.group_id == queued.group_id, rewrites.c.channel == queued.channel)
        gone = await self._conn.execute(delete(rewrites).where(
            *this, rewrites.c.owner == owner, rewrites.c.version == queued.version))
        if gone.rowcount == 0:
            # correlate(): this row's ids; uncorrelated, the subquery read every row's (a burst of other
            # messages' requests answered by this one's next rewrite, 46,000 at once in a 10-minute bench)
            left = func.array(select(func.unnest(rewrites.c.request_ids)).correlate(rewrites).except_(
                select(func.unnest(bindparam("handled", handled, type_=ARRAY(Uuid))))).scalar_subquery())
            kept = await self._conn.execute(update(rewrites).where(*this, rewrites.c.owner == owner).values(
                request_ids=left, owner=None, lease_until=None, due_at=next_due))
            if kept.rowcount == 0:
                return False
        await self._record(queued, outcome, now, handled)
        return True

    async def _record(self, queued: QueuedRewrite, outcome: Outcome, now: datetime, handled: list[UUID]) -> None:
        await ATTEMPT_ROWS.execute(self._conn, INSERT_ATTEMPTS, _attempt_rows(queued.env.id, outcome))
        if handled:
            await self._conn.execute(update(deliveries).where(
                deliveries.c.request_id.in_(handled), deliveries.c.state == QUEUED).values(
                state=SENT if outcome.ok else FAILED, message_ts=outcome.ts, attempts=len(outcome.attempts),
                last_error=outcome.error, finished_at=now))
        if outcome.ok and outcome.ts and queued.original is None:  # found in the channel: remember it
            await self._deliveries.remember_group_messages([(queued.group_id, GroupMessage(queued.channel, outcome.ts))])
        if outcome.ok:
            await self._conn.execute(update(group_messages).where(
                group_messages.c.group_id == queued.group_id, group_messages.c.channel == queued.channel)
                .values(last_rewrite_at=now))



class ReplyRepository:
    """The reply lane's queue: only the head of each thread's queue (a group's message in one channel)
    is claimed (so a thread's replies go in order), with a lease (SKIP LOCKED: replicas share it); a
    reply is completed only by the replica still holding it. A reply claimed again while it still has an owner was taken over from a replica
    whose lease ran out: it may have been posted, and is looked for before posting."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._deliveries = DeliveryRepository(conn)

    async def claim_due(self, now: datetime, owner: str, lease_until: datetime, limit: int) -> list[QueuedReply]:
        earlier = replies.alias("earlier")
        heads = (select(replies.c.request_id).where(
            replies.c.due_at <= now, or_(replies.c.lease_until.is_(None), replies.c.lease_until < now),
            ~exists().where(earlier.c.group_id == replies.c.group_id, earlier.c.channel == replies.c.channel,
                            earlier.c.seq < replies.c.seq))
            .order_by(replies.c.due_at, replies.c.seq).limit(limit).with_for_update(skip_locked=True))
        rows = (await self._conn.execute(
            update(replies).where(replies.c.request_id.in_(heads.scalar_subquery())).values(
                owner=owner, lease_until=lease_until,
                may_have_posted=replies.c.may_have_posted | replies.c.owner.is_not(None))
            .returning(replies))).all()
        if not rows:
            return []
        keys = {(r.group_id, r.channel) for r in rows}
        originals = await self._deliveries.group_messages(keys)
        first_posts = await self._deliveries.first_posts(keys)
        claimed = [QueuedReply(decode(r.request), r.started_at, r.may_have_posted, originals.get((r.group_id, r.channel)),
                               first_posts.get((r.group_id, r.channel)))
                   for r in sorted(rows, key=lambda r: (r.due_at, r.seq))]
        return claimed

    async def next_due(self) -> datetime | None:
        """When the head of a thread's queue can next be claimed (its due time, or the end of the lease
        of one held); None when nothing is queued. Replies behind a head wait for it, so only heads count."""
        earlier = replies.alias("earlier")
        return (await self._conn.execute(select(func.min(func.greatest(replies.c.due_at, replies.c.lease_until))).where(
            ~exists().where(earlier.c.group_id == replies.c.group_id, earlier.c.channel == replies.c.channel,
                            earlier.c.seq < replies.c.seq)))).scalar()

    async def renew(self, request_ids: Collection[UUID], owner: str, lease_until: datetime) -> None:
        if request_ids:
            await self._conn.execute(update(replies).where(
                replies.c.request_id.in_(list(request_ids)), replies.c.owner == owner).values(lease_until=lease_until))

    async def postpone(self, due: Sequence[tuple[UUID, datetime]], owner: str, may_have_posted: bool) -> None:
        """Give claimed replies back, each due again when given; `may_have_posted`: its Slack call
        was under way (an error), so the next attempt looks for the post first."""
        if due:
            await self._conn.execute(
                update(replies).where(replies.c.request_id == bindparam("rid"), replies.c.owner == owner)
                .values(owner=None, lease_until=None, due_at=bindparam("due"),
                        may_have_posted=replies.c.may_have_posted | may_have_posted),
                [{"rid": request_id, "due": at} for request_id, at in due])

    async def complete(self, queued: QueuedReply, outcome: Outcome, owner: str, now: datetime) -> bool:
        """Record the reply's outcome: False if another replica took it over meanwhile (its to tell)."""
        request_id = queued.env.id
        gone = await self._conn.execute(delete(replies).where(replies.c.request_id == request_id,
                                                              replies.c.owner == owner))
        if gone.rowcount == 0:
            return False
        await ATTEMPT_ROWS.execute(self._conn, INSERT_ATTEMPTS, _attempt_rows(request_id, outcome))
        await self._conn.execute(update(deliveries).where(
            deliveries.c.request_id == request_id, deliveries.c.state == QUEUED).values(
            state=SENT if outcome.ok else FAILED, message_ts=outcome.ts, attempts=len(outcome.attempts),
            last_error=outcome.error, finished_at=now))
        return True
