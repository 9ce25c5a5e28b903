"""A group routed to several channels (fan-out with `continue`, or a re-route after a severity
raise): its message in one channel is never edited or replied under by a request for another."""

from __future__ import annotations

from signalcraft_notifier.domain.delivery import GroupMessage, Lane, lane_of, original_of, plan_post
from signalcraft_schemas.events import NotificationKind

from ..builders import GROUP_ID, make_request

ORIGINALS = {GROUP_ID: GroupMessage("#prod", "1700000000.000100")}


def test_a_new_group_request_for_another_channel_is_posted_there():
    second = make_request(channel="#pager")
    assert original_of(second, ORIGINALS) is None
    assert lane_of(second, original_of(second, ORIGINALS)) == Lane.FIRST
    first_again = make_request(channel="#prod")
    assert lane_of(first_again, original_of(first_again, ORIGINALS)) == Lane.REWRITE  # as before: one message


def test_a_reply_for_another_channel_stands_alone_in_that_channel():
    reopened = make_request(kind=NotificationKind.REOPENED, channel="#pager")
    call = plan_post(reopened, "ws-1", original_of(reopened, ORIGINALS))
    assert (call.channel, call.thread_ts) == ("#pager", None)
    in_thread = make_request(kind=NotificationKind.REOPENED, channel="#prod")
    call = plan_post(in_thread, "ws-1", original_of(in_thread, ORIGINALS))
    assert (call.channel, call.thread_ts) == ("#prod", "1700000000.000100")
