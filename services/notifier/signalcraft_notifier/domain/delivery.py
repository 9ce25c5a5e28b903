"""Delivering a notification request, as decisions: which lane it takes, which Slack call it
becomes, whether to look for a message posted before a crash, which rewrites a batch coalesces,
and which event records each outcome. Pure: `now` is passed in.

Lanes. A first notification (a new group's message) must never wait behind other work (rewrites of
other messages, paced thread replies), so the requests of a polled batch are split:
- FIRST: a new group's top-level message, posted at once, criticals first;
- EPHEMERAL: the answer to a refused click, through its response_url;
- REPLY: a thread reply (escalation, reopen, snooze expiry) in the group's message thread, posted in
  the batch if its channel's pace allows it now and no earlier reply of its group waits; otherwise
  handed to the reply lane (handlers.ReplyLane, decisions in replies.py) in the batch's transaction,
  so the batch never sleeps for pacing;
- REWRITE: the group's message rewritten in place (updated, state changed, resolved; a new-group
  request for a group that already has its message). Rewrites are handed to the rewrite lane
  (handlers.RewriteLane) in the batch's transaction: per message only the latest state is kept, and
  the lane paces chat.update per message and per workspace on its own time.
A reopen or snooze expiry also hands its group's new state to the rewrite lane.

One message per route. A group routed to several channels (a rule's `continue`, a route added when
its severity was raised) has a top-level message in each, and each is its own: a request is about
the message in its route's channel (`message_key`: group id and channel), which it rewrites or
replies under; originals, rewrites and queued replies are all kept per message. A group with one
route has one message, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from signalcraft_schemas import Envelope, Severity
from signalcraft_schemas.events import (
    NotificationDelivered, NotificationFailed, NotificationKind, NotificationRequested,
)

from .message import build, rejection_text

SENDING, SENT, FAILED, QUEUED = "sending", "sent", "failed", "queued"  # a delivery's state
ORIGINAL_MISSING = "original_message_missing"
NOT_CONNECTED = "slack_not_connected"
NO_REPLY_URL = "no_response_url"
# Slack's clock and ours differ a little: look for an earlier post from a bit before we started.
SEARCH_MARGIN = timedelta(seconds=5)
REPLY_KINDS = (NotificationKind.ESCALATION, NotificationKind.REOPENED, NotificationKind.SNOOZE_EXPIRED,
               NotificationKind.SEVERITY_RAISED)
# Thread replies also shown in the channel: an escalation, and a severity raised by the bump (issue 10.3).
BROADCAST_KINDS = (NotificationKind.ESCALATION, NotificationKind.SEVERITY_RAISED)
# Thread replies that also change the group's message (its state, or its severity).
REPLY_AND_REWRITE_KINDS = (NotificationKind.REOPENED, NotificationKind.SNOOZE_EXPIRED, NotificationKind.SEVERITY_RAISED)
TOP_LEVEL = NotificationKind.NEW_GROUP.value  # the metadata kind of a group's own message
MessageKey = tuple[UUID, str]  # (group id, channel): a group's message on one of its routes


class LookupFailed(Exception):
    """Looking for a message in Slack failed; `terminal`: retrying cannot help (no such channel...)."""

    def __init__(self, error: str, terminal: bool) -> None:
        super().__init__(error)
        self.error = error
        self.terminal = terminal


class Lane(StrEnum):
    FIRST = "first"
    EPHEMERAL = "ephemeral"
    REPLY = "reply"
    REWRITE = "rewrite"


@dataclass(frozen=True)
class GroupMessage:
    """Where a group's original Slack message in one channel is: updates rewrite it, escalations reply
    in its thread."""

    channel: str
    ts: str


def message_key(request: NotificationRequested) -> MessageKey:
    """The group's message a request is about: the one in its route's channel. An escalation posted in
    another target channel of its level (`group_channel` set) belongs to the route whose message it names."""
    return request.group.group_id, request.group_channel or request.channel


@dataclass(frozen=True)
class Attempt:
    """One Slack call, as the attempts table records it."""

    number: int
    method: str
    outcome: str  # ok | retry | retry_after | terminal
    error: str | None
    http_status: int | None
    latency_ms: float
    at: datetime


@dataclass(frozen=True)
class Outcome:
    ok: bool
    ts: str | None = None
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class Pending:
    """One request of the polled batch on its way through begin -> Slack -> finish."""

    env: Envelope[Any]
    request: NotificationRequested
    prior: str | None  # None: first time; SENDING: a previous attempt crashed mid-way
    started_at: datetime
    outcome: Outcome | None = None
    lane: Lane | None = None  # decided once the group's original message is known (act)
    queued: bool = False  # a reply handed to the reply lane: it waits its turn there, not in the batch


@dataclass
class DeliveryBatch:
    """The pending requests of one polled batch, with the original messages of their groups (per
    route: keyed by group and channel), those another replica is sending right now (waited for before
    this batch goes on), and the messages whose replies wait in the reply lane (their later replies
    queue behind them)."""

    pending: list[Pending]
    originals: dict[MessageKey, GroupMessage]
    in_flight: list[Envelope[Any]] = field(default_factory=list)
    queued_threads: set[MessageKey] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.pending) + len(self.in_flight)


@dataclass(frozen=True)
class SlackCall:
    method: Literal["chat.update", "chat.postMessage"]
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    ts: str | None = None  # chat.update: the message rewritten
    thread_ts: str | None = None  # chat.postMessage: the thread replied in
    broadcast: bool = False  # a thread reply also shown in the channel
    group_id: UUID | None = None  # tagged in the message metadata, to find a group's message again
    kind: str | None = None


@dataclass(frozen=True)
class Ephemeral:
    """An answer only the clicker sees, POSTed to the click's response_url."""

    response_url: str
    text: str


@dataclass(frozen=True)
class Rewrite:
    """The latest state of a group's message in one channel, as one batch leaves it (the rewrite
    lane's input)."""

    group_id: UUID
    channel: str
    env: Envelope[Any]  # the request whose snapshot the message will show
    request_ids: list[UUID]  # requests whose result comes from the rewrite (not the reply ones)

    @property
    def key(self) -> MessageKey:
        return self.group_id, self.channel


def is_finished(state: str | None) -> bool:
    """Nothing left for the consumer: sent, failed, or handed to the rewrite or reply lane."""
    return state in (SENT, FAILED, QUEUED)


def needs_original(request: NotificationRequested) -> bool:
    return request.kind != NotificationKind.COMMAND_REJECTED


def lane_of(request: NotificationRequested, original: GroupMessage | None) -> Lane:
    """One top-level message per group while it lives: a new-group request for a group that has
    its message rewrites it."""
    if request.kind == NotificationKind.COMMAND_REJECTED:
        return Lane.EPHEMERAL
    if request.kind == NotificationKind.NEW_GROUP:
        return Lane.FIRST if original is None else Lane.REWRITE
    if request.kind in REPLY_KINDS:
        return Lane.REPLY
    return Lane.REWRITE


def rewrites_message(request: NotificationRequested, lane: Lane) -> bool:
    """Does the group's message change? Rewrites do; so do a reopen and a snooze expiry (state)."""
    return lane == Lane.REWRITE or request.kind in REPLY_AND_REWRITE_KINDS


def priority(pending: Pending) -> int:
    """Sending order within a batch: first notifications (criticals first), then answers to people,
    then escalations, then other thread replies."""
    lane, severity = pending.lane, pending.request.group.severity
    if lane == Lane.FIRST:
        return 0 if severity == Severity.CRITICAL else 1
    if lane == Lane.EPHEMERAL:
        return 2
    return 3 if pending.request.kind == NotificationKind.ESCALATION else 4


def original_of(request: NotificationRequested, originals: dict[MessageKey, GroupMessage]) -> GroupMessage | None:
    """The group's message a request edits or replies under: the one in its route's channel. A group
    routed to several channels (a rule's `continue`, a re-route) has a message in each: a request for
    another channel never edits or threads under this one, and a new-group request for a channel the
    group has no message in yet is posted there."""
    return originals.get(message_key(request)) if needs_original(request) else None


def plan_post(request: NotificationRequested, workspace_id: str, original: GroupMessage | None) -> SlackCall:
    """A new group's message, or a reply in its message's thread (an escalation of a group that has
    no message is posted alone: someone must see it). Only escalations are also broadcast."""
    text, blocks = build(request, workspace_id)
    # An escalation to another channel of its policy's level (`group_channel` set) is a message of its own.
    threaded = original is not None and request.kind in REPLY_KINDS and request.group_channel is None
    thread = original.ts if threaded and original is not None else None
    return SlackCall("chat.postMessage", original.channel if thread and original else request.channel, text, blocks,
                     thread_ts=thread, broadcast=thread is not None and request.kind in BROADCAST_KINDS,
                     group_id=request.group.group_id, kind=request.kind.value)


def plan_rewrite(request: NotificationRequested, workspace_id: str, original: GroupMessage) -> SlackCall:
    """The group's message as this request's snapshot shows it."""
    text, blocks = build(request.model_copy(update={"kind": _top_level_kind(request)}), workspace_id)
    return SlackCall("chat.update", original.channel, text, blocks, ts=original.ts)


def _top_level_kind(request: NotificationRequested) -> NotificationKind:
    """A reply kind carries the group's new state: shown as the message, not as the reply."""
    return NotificationKind.STATE_CHANGED if request.kind in REPLY_KINDS else request.kind


def plan_ephemeral(request: NotificationRequested) -> Ephemeral | None:
    if request.reply_to is None:
        return None
    return Ephemeral(request.reply_to.response_url, rejection_text(request))


def response_url_allowed(url: str, api_base_url: str) -> bool:
    """A response_url comes from a verified click, yet we POST only to Slack's own hooks (https), or
    to the Slack API host the notifier is configured with (a local fake Slack), never anywhere else."""
    try:
        parts, base = urlsplit(url), urlsplit(api_base_url)
        if parts.scheme == "https" and parts.hostname == "hooks.slack.com" and parts.port in (None, 443):
            return True
        return bool(base.hostname) and (parts.scheme, parts.hostname, parts.port) == (base.scheme, base.hostname, base.port)
    except ValueError:
        return False


def may_have_posted_before(pending: Pending) -> bool:
    """A crash after Slack accepted a post and before its outcome was committed leaves `sending`:
    a post (not an update, which is safe to repeat) may already be in the channel or thread."""
    return pending.prior == SENDING and pending.lane in (Lane.FIRST, Lane.REPLY)


def search_posted_since(started_at: datetime) -> datetime:
    return started_at - SEARCH_MARGIN


def settled(outcome: Outcome, original: GroupMessage | None) -> Outcome:
    """A success without a ts of its own is about the original message."""
    if outcome.ok and not outcome.ts and original is not None:
        return Outcome(ok=True, ts=original.ts, attempts=outcome.attempts)
    return outcome


def posted_original(pending: Pending) -> GroupMessage | None:
    """The group's original message in the request's channel, if this request just posted it (also the
    first message on a route the group gained when its severity was raised: that route's message)."""
    outcome = pending.outcome
    if outcome and outcome.ok and outcome.ts and pending.lane == Lane.FIRST:
        return GroupMessage(pending.request.channel, outcome.ts)
    return None


def coalesced_rewrites(pending: list[Pending]) -> list[Rewrite]:
    """Per message (group and channel), the batch's last request that changes it (requests are in
    order per group), with every rewrite-lane request it answers: several updates become one
    chat.update. Each route's message of a group is rewritten on its own."""
    latest: dict[MessageKey, Envelope[Any]] = {}
    answered: dict[MessageKey, list[UUID]] = {}
    for p in pending:
        if p.lane is None or not rewrites_message(p.request, p.lane):
            continue
        key = message_key(p.request)
        latest[key] = p.env
        if p.lane == Lane.REWRITE:
            answered.setdefault(key, []).append(p.env.id)
    return [Rewrite(group_id, channel, env, answered.get((group_id, channel), []))
            for (group_id, channel), env in latest.items()]


def handed_over(pending: Pending) -> bool:
    """A rewrite-lane request or a queued reply: its outcome and result event come from its lane."""
    return pending.lane == Lane.REWRITE or pending.queued


def result_event(pending: Pending, now: datetime) -> Envelope[Any]:
    """NotificationDelivered (latency from when the group was first or last seen) or NotificationFailed."""
    env, request, outcome = pending.env, pending.request, pending.outcome
    assert outcome is not None
    group = request.group
    attempts = len(outcome.attempts)
    if outcome.ok:
        since = group.first_seen_at if request.kind == NotificationKind.NEW_GROUP else group.last_seen_at
        return env.caused(NotificationDelivered(
            request_id=env.id, kind=request.kind, group_id=group.group_id, channel=request.channel,
            message_ts=outcome.ts or "", attempts=max(attempts, 1),
            latency_ms=max(0.0, (now - since).total_seconds() * 1000)), occurred_at=now)
    return env.caused(NotificationFailed(
        request_id=env.id, kind=request.kind, group_id=group.group_id, channel=request.channel,
        error=outcome.error or "unknown_error", attempts=attempts), occurred_at=now)
