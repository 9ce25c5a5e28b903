"""The rewrite lane's decisions: what to do with a group's queued rewrite, and the results it
owes. A queued rewrite holds the latest state of one group's message in one channel (a later request
replaces an earlier one, so rewrites of one message coalesce while it waits; a group with several
routes has one queued rewrite per route's message) and the requests it answers.

Its message is known (rewrite it), being posted right now by the first lane (wait a moment), or
missing: then it is looked for in the channel by its metadata, as after a crash, and if it is not
there the rewrite fails visibly. Never a new top-level message. Pure: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from signalcraft_schemas import Envelope
from signalcraft_schemas.events import NotificationDelivered, NotificationFailed, NotificationKind, NotificationRequested

from .delivery import ORIGINAL_MISSING, SEARCH_MARGIN, SENDING, GroupMessage, MessageKey, Outcome, message_key
from .pacing import Pacer

WAIT_FOR_FIRST_POST = timedelta(seconds=1)


@dataclass(frozen=True)
class Answered:
    """A request whose result the rewrite lane owes."""

    request_id: UUID
    kind: NotificationKind
    channel: str


@dataclass(frozen=True)
class QueuedRewrite:
    group_id: UUID
    workspace_id: str
    env: Envelope[Any]  # the latest request: the state the message will show
    version: int
    answers: list[Answered]
    original: GroupMessage | None
    first_post: str | None  # the state of the group's new-group delivery in this channel, if any

    @property
    def request(self) -> NotificationRequested:
        data: NotificationRequested = self.env.data
        return data

    @property
    def key(self) -> MessageKey:
        """The message rewritten: the group's in the request's channel."""
        return message_key(self.request)

    @property
    def channel(self) -> str:
        return self.key[1]


class Step(StrEnum):
    REWRITE = "rewrite"
    WAIT = "wait"  # the first lane is posting the group's message right now
    LOOK_UP = "look_up"  # the message is not recorded: look for it in the channel


def next_step(queued: QueuedRewrite) -> Step:
    if queued.original is not None:
        return Step.REWRITE
    return Step.WAIT if queued.first_post == SENDING else Step.LOOK_UP


def schedule(claimed: list[QueuedRewrite], pacer: Pacer, now: float, connected: Callable[[str], bool],
             turns: dict[str, float] | None = None) -> tuple[list[QueuedRewrite], list[tuple[QueuedRewrite, float]]]:
    """Which claimed rewrites go now (each spends its workspace's token), and how many seconds each
    other one waits: a second while its message is being posted, or its turn at its workspace's
    pace, one slot after the other in the order claimed (so every message gets its turn).

    `turns` (workspace -> the first free turn, on the `now` clock) carries the turns given out from one
    claim to the next: without it each claim would hand out the same first turns again, and a
    workspace with a deep queue (thousands of groups updated in a burst) would have it all come due
    within one claim's spread, to be claimed and given back over and over at a fraction of a send each."""
    turns = {} if turns is None else turns
    ready: list[QueuedRewrite] = []
    later: list[tuple[QueuedRewrite, float]] = []
    for queued in claimed:
        workspace = queued.workspace_id
        if not connected(workspace):
            ready.append(queued)  # fails at once, visibly: no Slack to pace
        elif next_step(queued) == Step.WAIT:
            later.append((queued, WAIT_FOR_FIRST_POST.total_seconds()))
        elif (wait := pacer.delay(workspace, now)) == 0:
            pacer.take(workspace, now)
            ready.append(queued)
        else:
            turn = max(now + wait, turns.get(workspace, 0.0))
            turns[workspace] = turn + 1 / pacer.rate_per_s
            later.append((queued, turn - now))
    return ready, later


def search_from(queued: QueuedRewrite) -> datetime:
    """The group's message is no older than the group."""
    return queued.request.group.first_seen_at - SEARCH_MARGIN


def not_found() -> Outcome:
    return Outcome(ok=False, error=ORIGINAL_MISSING)


def first_due(now: datetime, last_rewrite: datetime | None, interval: timedelta) -> datetime:
    """A message rewritten a moment ago waits out its interval; otherwise now."""
    return max(now, last_rewrite + interval) if last_rewrite is not None else now


def next_due(now: datetime, interval: timedelta) -> datetime:
    """When a message may be rewritten again (a newer state arrived while this one was sent)."""
    return now + interval


def results(queued: QueuedRewrite, outcome: Outcome, now: datetime) -> list[Envelope[Any]]:
    """One NotificationDelivered or NotificationFailed per answered request; latency from when the
    group was last seen to when Slack shows it."""
    group, env = queued.request.group, queued.env
    events: list[Envelope[Any]] = []
    for answered in queued.answers:
        data: NotificationDelivered | NotificationFailed
        if outcome.ok:
            data = NotificationDelivered(
                request_id=answered.request_id, kind=answered.kind, group_id=group.group_id, channel=answered.channel,
                message_ts=outcome.ts or "", attempts=max(len(outcome.attempts), 1),
                latency_ms=max(0.0, (now - group.last_seen_at).total_seconds() * 1000))
        else:
            data = NotificationFailed(request_id=answered.request_id, kind=answered.kind, group_id=group.group_id,
                                      channel=answered.channel, error=outcome.error or "unknown_error",
                                      attempts=len(outcome.attempts))
        events.append(Envelope.wrap(data, workspace_id=queued.workspace_id, key=env.key, occurred_at=now,
                                    correlation_id=env.correlation_id, causation_id=answered.request_id))
    return events
