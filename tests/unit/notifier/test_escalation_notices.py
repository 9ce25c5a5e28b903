"""Escalation notices of a policy level (issue 10.1): who they mention, and where they go."""

from __future__ import annotations

from signalcraft_notifier.domain.delivery import GroupMessage, plan_post
from signalcraft_notifier.domain.message import escalation_message
from signalcraft_schemas.events import NotificationKind

from ..builders import make_group, make_request

ORIGINAL = GroupMessage("#oncall", "1700000000.000100")


def test_a_level_naming_people_mentions_them_without_here_in_a_broadcast_thread_reply():
    request = make_request(kind=NotificationKind.ESCALATION, channel="#oncall", escalation_level=2,
                           escalation_targets=["<@ULEAD>", "<!subteam^SDBA>", "C0LEADS"], mention_here=False)
    text, blocks = escalation_message(request)
    assert text.startswith("<@ULEAD> <!subteam^SDBA> <#C0LEADS> Escalation 2: nobody acknowledged")
    assert "<!here>" not in text and "<!here>" not in blocks[0]["text"]["text"]
    call = plan_post(request, "ws", ORIGINAL)
    assert (call.channel, call.thread_ts, call.broadcast) == ("#oncall", ORIGINAL.ts, True)


def test_a_level_naming_the_groups_channel_says_here_too():
    request = make_request(kind=NotificationKind.ESCALATION, escalation_level=1, mention_here=True,
                           escalation_targets=["<@ULEAD>"])
    assert escalation_message(request)[0].startswith("<!here> <@ULEAD> Escalation 1")


def test_another_target_channel_gets_a_message_of_its_own_naming_the_groups_channel():
    request = make_request(kind=NotificationKind.ESCALATION, channel="#sre-leads", group_channel="#oncall",
                           escalation_level=2, mention_here=True, escalation_targets=["<@ULEAD>"],
                           group=make_group(link="https://sentry.example/issues/1"))
    call = plan_post(request, "ws", ORIGINAL)
    assert (call.channel, call.thread_ts, call.broadcast) == ("#sre-leads", None, False)
    text, blocks = escalation_message(request)
    assert text.startswith("<!here> <@ULEAD> Escalation 2") and text.endswith("(in #oncall)")
    assert "https://sentry.example/issues/1" in blocks[1]["elements"][0]["text"]


def test_targets_that_are_not_mentions_are_dropped():
    request = make_request(kind=NotificationKind.ESCALATION, escalation_level=1,
                           escalation_targets=["<!channel>", "<@U1|x>", "@everyone"])
    assert escalation_message(request)[0].startswith("<!here> Escalation 1")
