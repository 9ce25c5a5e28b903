"""Delivering a notification request, as decisions: which Slack call it becomes, whether to look for
a message posted before a crash, and which event records its outcome. Pure: `now` is passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from signalcraft_schemas import Envelope
from signalcraft_schemas.events import NotificationDelivered, NotificationFailed, NotificationKind, NotificationRequested

from .message import build

SENDING, SENT, FAILED = "sending", "sent", "failed"  # a delivery's state
ORIGINAL_MISSING = "original_message_missing"
NOT_CONNECTED = "slack_not_connected"
# Slack's clock and ours differ a little: look for an earlier post from a bit before we started.
SEARCH_MARGIN = timedelta(seconds=5)


@dataclass(frozen=True)
class GroupMessage:
    """Where a group's original Slack message is: updates rewrite it, escalations reply in its thread."""

    channel: str
    ts: str


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


@dataclass
class DeliveryBatch:
    """The pending requests of one polled batch, with the original messages of their groups."""

    pending: list[Pending]
    originals: dict[UUID, GroupMessage]

    def __len__(self) -> int:
        return len(self.pending)


@dataclass(frozen=True)
class SlackCall:
    method: Literal["chat.update", "chat.postMessage"]
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    ts: str | None = None  # chat.update: the message rewritten
    thread_ts: str | None = None  # chat.postMessage: the thread replied in


def is_finished(state: str | None) -> bool:
    return state in (SENT, FAILED)


def needs_original(request: NotificationRequested) -> bool:
    return bool(request.kind != NotificationKind.NEW_GROUP)


def original_of(request: NotificationRequested, originals: dict[UUID, GroupMessage]) -> GroupMessage | None:
    return originals.get(request.group.group_id) if needs_original(request) else None


def plan_call(request: NotificationRequested, original: GroupMessage | None) -> SlackCall | None:
    """Updates and resolutions rewrite the original message, escalations reply in its thread, the
    rest is posted; None: an update without an original has nothing to rewrite (never post anew)."""
    text, blocks = build(request)
    if request.kind == NotificationKind.UPDATED and original is None:
        return None
    if request.kind in (NotificationKind.RESOLVED, NotificationKind.UPDATED) and original is not None:
        return SlackCall("chat.update", original.channel, text, blocks, ts=original.ts)
    thread = original.ts if request.kind == NotificationKind.ESCALATION and original else None
    return SlackCall("chat.postMessage", request.channel, text, blocks, thread_ts=thread)


def may_have_posted_before(pending: Pending) -> bool:
    """A crash after Slack accepted a post and before its outcome was committed leaves `sending`:
    a post (not an update, which is safe to repeat) may already be in the channel."""
    return pending.prior == SENDING and pending.request.kind in (NotificationKind.NEW_GROUP, NotificationKind.ESCALATION)


def search_posted_since(started_at: datetime) -> datetime:
    return started_at - SEARCH_MARGIN


def settled(outcome: Outcome, original: GroupMessage | None) -> Outcome:
    """A success without a ts of its own is about the original message."""
    if outcome.ok and not outcome.ts and original is not None:
        return Outcome(ok=True, ts=original.ts, attempts=outcome.attempts)
    return outcome


def posted_original(pending: Pending) -> GroupMessage | None:
    """The group's original message, if this request just posted it."""
    outcome = pending.outcome
    if outcome and outcome.ok and outcome.ts and pending.request.kind == NotificationKind.NEW_GROUP:
        return GroupMessage(pending.request.channel, outcome.ts)
    return None


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
