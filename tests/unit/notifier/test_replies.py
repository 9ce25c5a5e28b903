"""The reply lane's decisions: which thread replies of a batch go at once and which queue (the
consumer's batch never waits for a channel's pace), and when each queued reply goes."""

from __future__ import annotations

from uuid import uuid4

from signalcraft_notifier.domain.delivery import SENDING, SENT, GroupMessage, Lane, Outcome, Pending, lane_of
from signalcraft_notifier.domain.pacing import Pacer
from signalcraft_notifier.domain.replies import QueuedReply, goes_inline, schedule_replies
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import NotificationKind as K

from ..builders import T0, make_group, make_request

ORIGINAL = GroupMessage("#alerts", "1700000000.000100")


def pending(kind: K, group_id=None, channel: str = "#alerts") -> Pending:  # type: ignore[no-untyped-def]
    request = make_request(kind=kind, channel=channel, group=make_group(group_id=group_id or uuid4()))
    env = Envelope.wrap(request, workspace_id="ws", key="k", correlation_id="c", occurred_at=T0)
    return Pending(env, request, None, T0, lane=lane_of(request, ORIGINAL if kind != K.NEW_GROUP else None))


def test_replies_go_at_once_while_their_channel_has_a_turn_then_queue_without_waiting() -> None:
    posts, queued_groups = Pacer(rate_per_s=1.0, burst=3), set()
    batch = [pending(K.ESCALATION) for _ in range(5)]
    assert [goes_inline(p, queued_groups, posts, 0.0) for p in batch] == [True, True, True, False, False]
    assert queued_groups == {(p.request.group.group_id, "#alerts") for p in batch[3:]}  # their threads
    assert goes_inline(pending(K.ESCALATION, channel="#other"), queued_groups, posts, 0.0)  # per channel
    assert posts.delay("#alerts", 0.0) == 1.0  # only the replies sent spent a turn


def test_a_first_notification_never_queues_and_still_spends_its_channels_turn() -> None:
    posts, queued_groups = Pacer(rate_per_s=1.0, burst=2), set()
    assert all(goes_inline(pending(K.NEW_GROUP), queued_groups, posts, 0.0) for _ in range(10))
    assert not goes_inline(pending(K.REOPENED), queued_groups, posts, 0.0)  # the replies are the ones slowed
    assert goes_inline(pending(K.UPDATED), queued_groups, posts, 0.0)  # a rewrite: its own lane, not paced here
    assert goes_inline(pending(K.COMMAND_REJECTED), queued_groups, posts, 0.0)  # an answer to a person


def test_a_groups_later_reply_queues_behind_its_waiting_one_even_when_the_channel_has_a_turn() -> None:
    posts = Pacer(rate_per_s=1.0, burst=5)
    waiting, other = uuid4(), uuid4()
    queued_groups = {(waiting, "#alerts")}
    assert not goes_inline(pending(K.ESCALATION, group_id=waiting), queued_groups, posts, 0.0)
    assert goes_inline(pending(K.ESCALATION, group_id=other), queued_groups, posts, 0.0)
    assert queued_groups == {(waiting, "#alerts")}


def queued(channel: str = "#alerts", original: GroupMessage | None = ORIGINAL, first_post: str | None = SENT,
           workspace: str = "ws", may_have_posted: bool = False) -> QueuedReply:
    request = make_request(kind=K.ESCALATION, channel=channel, escalation_level=1, group=make_group(group_id=uuid4()))
    env = Envelope.wrap(request, workspace_id=workspace, key="k", correlation_id="c", occurred_at=T0)
    return QueuedReply(env, T0, may_have_posted, original, first_post)


def test_claimed_replies_go_as_far_as_each_channels_pace_allows_the_rest_wait_their_turn_in_order() -> None:
    posts = Pacer(rate_per_s=1.0, burst=2)
    claimed = [queued() for _ in range(4)] + [queued(channel="#other")]
    claimed.insert(1, queued(original=None, first_post=SENDING))  # its group's message is being posted
    claimed.append(queued(workspace="gone"))
    ready, later = schedule_replies(claimed, posts, 0.0, connected=lambda workspace: workspace != "gone")
    assert [(q.channel, q.env.workspace_id) for q in ready] == [("#alerts", "ws"), ("#alerts", "ws"),
                                                                 ("#other", "ws"), ("#alerts", "gone")]
    assert [(q.channel, wait) for q, wait in later] == [("#alerts", 1.0), ("#alerts", 1.0), ("#alerts", 2.0)]
    assert later[0][0] is claimed[1]
    ready, later = schedule_replies([queued()], posts, 1.0, connected=lambda _: True)  # a turn has come back
    assert len(ready) == 1 and later == []


def test_a_queued_reply_replies_in_its_groups_thread_and_looks_for_an_earlier_post_only_when_one_may_exist() -> None:
    reply = queued()
    call = reply.call()
    assert (call.method, call.channel, call.thread_ts, call.broadcast) == ("chat.postMessage", "#alerts",
                                                                           ORIGINAL.ts, True)
    assert queued(original=None).call().thread_ts is None  # its group never got a message: posted alone
    assert reply.pending().prior is None and reply.pending().lane == Lane.REPLY
    assert queued(may_have_posted=True).pending().prior == SENDING
    done = reply.pending(Outcome(ok=True, ts="2.0"))
    assert done.outcome == Outcome(ok=True, ts="2.0") and reply.search_from() < T0
