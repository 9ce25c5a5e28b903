"""The reply lane's decisions: which thread replies of a batch go at once and which wait in the
durable reply queue, and when each queued reply may go. Pure: times are passed in.

A thread reply (escalation, reopen, snooze expiry) goes inline, in the consumer's batch, only when
its channel's pacer has a token for it now and its thread (the group's message in that channel) has
no reply waiting (a later reply never overtakes an earlier one). Otherwise it is queued and the batch
goes on: the consumer never sleeps for pacing, so no first notification waits behind replies. Replies
are distinct messages: never coalesced. The lane sends a thread's replies one after the other in the
order queued (only the head of each thread's queue is claimed), each at its channel's pace, at most
once (lease; a reply claimed before and not given back may have been posted: it is looked for in the
thread before posting). A group with several routes has a thread per route's message, each in order
on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from signalcraft_schemas import Envelope
from signalcraft_schemas.events import NotificationRequested

from .delivery import (
    SENDING, GroupMessage, Lane, MessageKey, Outcome, Pending, SlackCall, message_key, plan_post, search_posted_since,
)
from .pacing import Pacer
from .rewrites import WAIT_FOR_FIRST_POST


def goes_inline(pending: Pending, queued_threads: set[MessageKey], pacer: Pacer, now: float) -> bool:
    """Decides, and spends the pace: a first notification goes at once (its token may run into debt,
    slowing the replies); a reply goes at once only if its turn is now and none of its thread waits
    (else it and its thread's later replies of the batch queue). Everything else goes at once."""
    channel = pending.request.channel
    if pending.lane == Lane.FIRST:
        pacer.take(channel, now)
        return True
    if pending.lane != Lane.REPLY:
        return True
    thread = message_key(pending.request)
    if thread in queued_threads or pacer.delay(channel, now) > 0:
        queued_threads.add(thread)
        return False
    pacer.take(channel, now)
    return True


@dataclass(frozen=True)
class QueuedReply:
    """The head of one thread's reply queue (a group's message in one channel), as claimed by the reply lane."""

    env: Envelope[Any]
    started_at: datetime  # when its delivery started: an earlier post is looked for from a bit before
    may_have_posted: bool  # a previous attempt may have reached Slack (a crash, a lost lease)
    original: GroupMessage | None  # the group's message in the reply's route channel
    first_post: str | None  # the state of the group's new-group delivery in that channel, if any

    @property
    def request(self) -> NotificationRequested:
        data: NotificationRequested = self.env.data
        return data

    @property
    def key(self) -> MessageKey:
        """The thread (the group's message in its route's channel) the reply belongs to."""
        return message_key(self.request)

    @property
    def channel(self) -> str:
        return self.request.channel

    def pending(self, outcome: Outcome | None = None) -> Pending:
        """The request as the consumer's result event knows it."""
        return Pending(self.env, self.request, SENDING if self.may_have_posted else None, self.started_at, outcome,
                       Lane.REPLY)

    def call(self) -> SlackCall:
        return plan_post(self.request, self.env.workspace_id, self.original)

    def search_from(self) -> datetime:
        return search_posted_since(self.started_at)


def schedule_replies(claimed: list[QueuedReply], pacer: Pacer, now: float, connected: Callable[[str], bool]
                     ) -> tuple[list[QueuedReply], list[tuple[QueuedReply, float]]]:
    """Which claimed replies go now (each spends its channel's token), and how many seconds each other
    waits: a second while its group's message is being posted, or its turn at its channel's pace, one
    slot after the other in the order claimed."""
    ready: list[QueuedReply] = []
    later: list[tuple[QueuedReply, float]] = []
    behind: dict[str, int] = {}
    for queued in claimed:
        channel = queued.channel
        if not connected(queued.env.workspace_id):
            ready.append(queued)  # fails at once, visibly: no Slack to pace
        elif queued.original is None and queued.first_post == SENDING:
            later.append((queued, WAIT_FOR_FIRST_POST.total_seconds()))
        elif (wait := pacer.delay(channel, now)) == 0:
            pacer.take(channel, now)
            ready.append(queued)
        else:
            later.append((queued, wait + behind.get(channel, 0) / pacer.rate_per_s))
            behind[channel] = behind.get(channel, 0) + 1
    return ready, later
