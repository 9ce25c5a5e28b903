"""A group routed to several channels (fan-out with `continue`, or a route added after a severity
raise) has one message per route: each is found, rewritten and replied under on its own, keyed by
(group id, channel); a request for one route never edits or threads under another route's message.
A group with a single route behaves as before."""

from __future__ import annotations

from uuid import uuid4

from signalcraft_notifier.domain.delivery import (
    DeliveryBatch, GroupMessage, Lane, Outcome, Pending, coalesced_rewrites, lane_of, message_key, original_of,
    plan_post, plan_rewrite, posted_original,
)
from signalcraft_notifier.domain.pacing import Pacer
from signalcraft_notifier.domain.replies import QueuedReply, goes_inline
from signalcraft_notifier.domain.rewrites import QueuedRewrite
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import ADDED_ROUTE_REASON, GroupStatus, NotificationKind as K

from ..builders import GROUP_ID, T0, make_group, make_request

PROD, PAGER = GroupMessage("#prod", "1700000000.000100"), GroupMessage("#pager", "1700000000.000200")
ORIGINALS = {(GROUP_ID, "#prod"): PROD, (GROUP_ID, "#pager"): PAGER}


def pending(kind: K, channel: str, lane: Lane | None = None, outcome: Outcome | None = None, **fields: object) -> Pending:
    request = make_request(kind=kind, channel=channel, **fields)
    env = Envelope.wrap(request, workspace_id="ws-1", key="k", correlation_id="c", occurred_at=T0)
    return Pending(env, request, None, T0, outcome,
                   lane if lane is not None else lane_of(request, original_of(request, ORIGINALS)))


def test_a_message_is_keyed_by_its_group_and_its_routes_channel() -> None:
    assert message_key(make_request(channel="#pager")) == (GROUP_ID, "#pager")
    # An escalation posted in another target channel of its level belongs to the route it names.
    notice = make_request(kind=K.ESCALATION, channel="#leads", group_channel="#pager")
    assert message_key(notice) == (GROUP_ID, "#pager")


def test_each_routes_requests_find_their_own_message() -> None:
    for channel, message in (("#prod", PROD), ("#pager", PAGER)):
        assert original_of(make_request(kind=K.UPDATED, channel=channel), ORIGINALS) == message
    assert original_of(make_request(kind=K.UPDATED, channel="#other"), ORIGINALS) is None


def test_a_new_group_request_for_a_route_without_its_message_is_posted_there() -> None:
    only_prod = {(GROUP_ID, "#prod"): PROD}
    second = make_request(channel="#pager")
    assert original_of(second, only_prod) is None and lane_of(second, None) == Lane.FIRST
    again = make_request(channel="#prod")
    assert lane_of(again, original_of(again, only_prod)) == Lane.REWRITE  # as before: one message per route


def test_each_routes_message_is_rewritten_in_place() -> None:
    acked = make_group(status=GroupStatus.ACKNOWLEDGED, acknowledged_by="slack:T1/U42", acknowledged_at=T0)
    for channel, message in (("#prod", PROD), ("#pager", PAGER)):
        request = make_request(kind=K.STATE_CHANGED, channel=channel, group=acked)
        assert lane_of(request, original_of(request, ORIGINALS)) == Lane.REWRITE
        call = plan_rewrite(request, "ws-1", original_of(request, ORIGINALS))  # type: ignore[arg-type]
        assert (call.method, call.channel, call.ts) == ("chat.update", channel, message.ts)


def test_each_routes_thread_replies_go_in_its_own_thread() -> None:
    for kind in (K.ESCALATION, K.REOPENED, K.SEVERITY_RAISED, K.SNOOZE_EXPIRED):
        for channel, message in (("#prod", PROD), ("#pager", PAGER)):
            request = make_request(kind=kind, channel=channel, escalation_level=1)
            call = plan_post(request, "ws-1", original_of(request, ORIGINALS))
            assert (call.channel, call.thread_ts) == (channel, message.ts), (kind, channel)


def test_an_escalation_in_another_target_channel_still_stands_alone() -> None:
    notice = make_request(kind=K.ESCALATION, channel="#leads", group_channel="#pager", escalation_level=2)
    call = plan_post(notice, "ws-1", original_of(notice, ORIGINALS))
    assert (call.channel, call.thread_ts, call.broadcast) == ("#leads", None, False)


def test_a_batchs_changes_become_one_rewrite_per_routes_message() -> None:
    batch = [pending(K.UPDATED, channel, group=make_group(count=n)) for n in (2, 3) for channel in ("#prod", "#pager")]
    batch.append(pending(K.REOPENED, "#pager", group=make_group(count=3, reopen_count=1)))
    rewrites = {r.key: r for r in coalesced_rewrites(batch)}
    assert set(rewrites) == {(GROUP_ID, "#prod"), (GROUP_ID, "#pager")}
    assert rewrites[(GROUP_ID, "#prod")].env is batch[2].env
    assert rewrites[(GROUP_ID, "#prod")].request_ids == [batch[0].env.id, batch[2].env.id]
    assert rewrites[(GROUP_ID, "#pager")].env is batch[4].env  # the reopen's state, in #pager only
    assert rewrites[(GROUP_ID, "#pager")].request_ids == [batch[1].env.id, batch[3].env.id]


def test_each_routes_first_post_is_that_routes_original_even_on_a_route_added_by_a_raise() -> None:
    for channel, reason in (("#prod", None), ("#pager", None), ("#page", ADDED_ROUTE_REASON)):
        posted = pending(K.NEW_GROUP, channel, lane=Lane.FIRST, outcome=Outcome(ok=True, ts="1.2"), reason=reason)
        assert posted_original(posted) == GroupMessage(channel, "1.2")
        assert message_key(posted.request) == (GROUP_ID, channel)


def test_a_reply_waiting_in_one_routes_thread_does_not_hold_back_the_other_routes() -> None:
    posts = Pacer(rate_per_s=1.0, burst=5)
    batch = DeliveryBatch([], dict(ORIGINALS), queued_threads={(GROUP_ID, "#prod")})
    assert not goes_inline(pending(K.ESCALATION, "#prod", escalation_level=1), batch.queued_threads, posts, 0.0)
    assert goes_inline(pending(K.ESCALATION, "#pager", escalation_level=1), batch.queued_threads, posts, 0.0)
    assert batch.queued_threads == {(GROUP_ID, "#prod")}


def test_the_lanes_work_on_the_message_of_the_requests_route() -> None:
    request = make_request(kind=K.UPDATED, channel="#pager")
    env = Envelope.wrap(request, workspace_id="ws-1", key="k", correlation_id="c", occurred_at=T0)
    rewrite = QueuedRewrite(GROUP_ID, "ws-1", env, 1, [], PAGER, None)
    assert (rewrite.key, rewrite.channel) == ((GROUP_ID, "#pager"), "#pager")
    notice = make_request(kind=K.ESCALATION, channel="#pager", escalation_level=1, group=make_group(group_id=uuid4()))
    reply = QueuedReply(Envelope.wrap(notice, workspace_id="ws-1", key="k", correlation_id="c", occurred_at=T0),
                        T0, False, PAGER, None)
    assert reply.key == (notice.group.group_id, "#pager") and reply.call().thread_ts == PAGER.ts


def test_a_single_route_group_has_one_message_as_before() -> None:
    single = {(GROUP_ID, "#alerts"): GroupMessage("#alerts", "1.1")}
    updated, reopened = make_request(kind=K.UPDATED), make_request(kind=K.REOPENED)
    assert original_of(updated, single) == GroupMessage("#alerts", "1.1")
    assert plan_post(reopened, "ws-1", original_of(reopened, single)).thread_ts == "1.1"
    assert lane_of(make_request(), original_of(make_request(), single)) == Lane.REWRITE
