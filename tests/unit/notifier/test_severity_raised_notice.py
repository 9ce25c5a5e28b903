"""The notice of a severity raised by the bump (issue 10.3): a thread reply in the group's message,
broadcast to the channel, with @here when the router asks for it, and the message itself rewritten to
show the new severity."""

from __future__ import annotations

from signalcraft_notifier.domain.delivery import GroupMessage, Lane, lane_of, plan_post, plan_rewrite, rewrites_message
from signalcraft_notifier.domain.message import build
from signalcraft_schemas import Severity
from signalcraft_schemas.events import NotificationKind

from ..builders import make_group, make_request

ORIGINAL = GroupMessage("#alerts", "1700000000.000100")
REASON = "12 alerts within 5m in prod"


def notice(mention: bool = True, **group: object):
    return make_request(kind=NotificationKind.SEVERITY_RAISED, group=make_group(severity=Severity.HIGH, count=12, **group),
                        mention_here=mention, reason=REASON)


def test_it_is_a_broadcast_thread_reply_in_the_groups_message():
    request = notice()
    assert lane_of(request, ORIGINAL) == Lane.REPLY and rewrites_message(request, Lane.REPLY)
    call = plan_post(request, "ws", ORIGINAL)
    assert (call.channel, call.thread_ts, call.broadcast) == ("#alerts", ORIGINAL.ts, True)
    assert call.text.startswith(f"<!here> Severity raised to high: {REASON}: [HIGH] prod")


def test_without_here_below_high_and_never_for_a_test_notification():
    assert not build(notice(mention=False), "ws")[0].startswith("<!here>")
    assert not build(notice(is_test=True), "ws")[0].startswith("<!here>")


def test_the_message_itself_is_rewritten_with_the_new_severity():
    call = plan_rewrite(notice(), "ws", ORIGINAL)
    assert call.method == "chat.update" and call.ts == ORIGINAL.ts and "[HIGH]" in call.text
    assert "Severity raised" not in call.text  # the message shows the group, the reply says what happened


def test_a_first_message_on_an_added_route_becomes_that_routes_original():
    from uuid import uuid4

    from signalcraft_notifier.domain.delivery import Outcome, Pending, posted_original
    from signalcraft_schemas import Envelope

    from ..builders import T0

    def posted(reason: str | None) -> Pending:
        request = make_request(kind=NotificationKind.NEW_GROUP, channel="#page", reason=reason)
        env = Envelope.wrap(request, workspace_id="ws", key=str(uuid4()), correlation_id="c", occurred_at=T0)
        return Pending(env, request, None, T0, Outcome(ok=True, ts="1.2"), Lane.FIRST)

    # One message per route (keyed by group and channel): it does not replace the first route's.
    assert posted_original(posted("severity_raised")) == GroupMessage("#page", "1.2")
    assert posted_original(posted(None)) == GroupMessage("#page", "1.2")
