"""Slack messages as data: the whole Block Kit payload of a group's message in each state, its
buttons and their values, thread replies, ephemeral answers, and what a hostile payload can
(not) do to mrkdwn."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from signalcraft_notifier.domain.message import (
    actions, build, escalation_message, escape, group_message, link, rejection_text, reopened_message, safe_url,
    snooze_expired_message, who,
)
from signalcraft_schemas import Severity
from signalcraft_schemas.events import GroupStatus, LinkButton, NotificationKind, SlackReply

from ..builders import GROUP_ID, GROUP_KEY, T0, make_group, make_request

GID = str(GROUP_ID)
WS = "ws-1"
DATE = "<!date^1714564800^{date_short_pretty} {time}|2024-05-01T12:00:00+00:00>"


def value(seconds: int | None = None) -> str:
    raw = {"w": WS, "g": GID, "k": GROUP_KEY} | ({"s": seconds} if seconds else {})
    return json.dumps(raw, separators=(",", ":"))


def button(action_id: str, label: str, seconds: int | None = None, style: str | None = None) -> dict:
    made = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": label}, "value": value(seconds)}
    return made | ({"style": style} if style else {})


SNOOZES = [button("signalcraft.snooze.1h", "Snooze 1h", 3600), button("signalcraft.snooze.4h", "Snooze 4h", 14400),
           button("signalcraft.snooze.24h", "Snooze 24h", 86400)]
OPEN_BUTTONS = {"type": "actions", "block_id": f"signalcraft.group.{GID}", "elements": [
    button("signalcraft.ack", "Ack", style="primary"), *SNOOZES, button("signalcraft.resolve", "Resolve", style="danger")]}


def fields(environment="prod", project="checkout", count=3, severity="high", status=":rotating_light: Open"):
    return [
        {"type": "mrkdwn", "text": f"*Severity*\n{severity}"},
        {"type": "mrkdwn", "text": f"*Environment*\n{environment}"},
        {"type": "mrkdwn", "text": f"*Project*\n{project}"},
        {"type": "mrkdwn", "text": f"*Count*\n{count}"},
        {"type": "mrkdwn", "text": "*Source*\nsentry"},
        {"type": "mrkdwn", "text": f"*First seen*\n{DATE}"},
        {"type": "mrkdwn", "text": f"*Last seen*\n{DATE}"},
        {"type": "mrkdwn", "text": f"*Status*\n{status}"},
    ]


def test_group_message_whole_payload_with_mention_link_and_runbook():
    request = make_request(group=make_group(count=3), mention_here=True, runbook_url="https://runbooks/pay")
    text, blocks = group_message(request, WS)
    assert text == "<!here> [HIGH] prod · checkout — TimeoutError in /pay (×3)"
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "HIGH · TimeoutError in /pay", "emoji": True}},
        {"type": "section",
         "text": {"type": "mrkdwn", "text": ":large_orange_circle: <!here> *TimeoutError in /pay*"},
         "fields": fields()},
        {"type": "section", "text": {"type": "mrkdwn", "text": "upstream timed out"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            "<https://sentry.example/issues/1|Open in Sentry>  ·  <https://runbooks/pay|:book: Runbook>"}]},
        OPEN_BUTTONS,
    ]


def test_group_message_without_mention_link_runbook_or_description():
    request = make_request(group=make_group(count=1, severity=Severity.LOW, link=None, description=""))
    text, blocks = group_message(request, WS)
    assert "<!here>" not in text
    assert "<!here>" not in str(blocks)
    assert text == "[LOW] prod · checkout — TimeoutError in /pay (×1)"
    assert [b["type"] for b in blocks] == ["header", "section", "actions"]
    assert blocks[1]["text"]["text"] == ":large_blue_circle: *TimeoutError in /pay*"
    assert blocks[1]["fields"] == fields(count=1, severity="low")
    assert blocks[2] == OPEN_BUTTONS


def test_group_message_runbook_only_context():
    _, blocks = group_message(make_request(group=make_group(link=None), runbook_url="https://rb"), WS)
    assert {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://rb|:book: Runbook>"}]} in blocks


def test_group_message_escapes_mrkdwn_control_characters():
    group = make_group(title="a < b && c > d", description="<script>&", environment="pr<od>", project="x&y")
    text, blocks = group_message(make_request(group=group), WS)
    section = blocks[1]
    assert section["text"]["text"] == ":large_orange_circle: *a &lt; b &amp;&amp; c &gt; d*"
    assert section["fields"][1]["text"] == "*Environment*\npr&lt;od&gt;"
    assert section["fields"][2]["text"] == "*Project*\nx&amp;y"
    assert blocks[2]["text"]["text"] == "&lt;script&gt;&amp;"
    assert text == "[HIGH] pr&lt;od&gt; · x&amp;y — a &lt; b &amp;&amp; c &gt; d (×1)"  # the fallback text is mrkdwn too
    # plain_text header is not mrkdwn: left as written
    assert blocks[0]["text"]["text"] == "HIGH · a < b && c > d"


def test_group_message_clips_long_titles_and_descriptions():
    group = make_group(title="T" * 1000, description="D" * 5000)
    _, blocks = group_message(make_request(group=group), WS)
    header = blocks[0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…") and header.startswith("HIGH · TTT")
    assert blocks[1]["text"]["text"] == ":large_orange_circle: *" + "T" * 499 + "…*"
    assert blocks[2]["text"]["text"] == "D" * 2899 + "…"
    _, blocks = group_message(make_request(group=make_group(title="T" * 500)), WS)
    assert blocks[1]["text"]["text"] == ":large_orange_circle: *" + "T" * 500 + "*"


def test_severity_emoji_per_level():
    emoji = {Severity.CRITICAL: ":red_circle:", Severity.HIGH: ":large_orange_circle:",
             Severity.MEDIUM: ":large_yellow_circle:", Severity.LOW: ":large_blue_circle:", Severity.INFO: ":white_circle:"}
    for severity, expected in emoji.items():
        _, blocks = group_message(make_request(group=make_group(severity=severity)), WS)
        assert blocks[1]["text"]["text"].startswith(expected + " "), severity


def test_an_acknowledged_group_shows_who_and_when_and_offers_unack():
    group = make_group(status=GroupStatus.ACKNOWLEDGED, acknowledged_by="slack:T1/U42", acknowledged_at=T0, count=4)
    text, blocks = group_message(make_request(kind=NotificationKind.STATE_CHANGED, group=group, mention_here=True), WS)
    assert text == "Acknowledged: [HIGH] prod · checkout — TimeoutError in /pay (×4)"  # no @here once someone is on it
    assert blocks[1]["fields"] == fields(count=4, status=f":eyes: Acknowledged by <@U42> {DATE}")
    assert blocks[-1]["elements"] == [button("signalcraft.unack", "Unack"), *SNOOZES,
                                      button("signalcraft.resolve", "Resolve", style="danger")]


def test_a_snoozed_group_shows_until_when_and_by_whom_and_offers_unsnooze():
    until = T0 + timedelta(hours=4)
    group = make_group(status=GroupStatus.SNOOZED, snoozed_until=until)
    request = make_request(kind=NotificationKind.STATE_CHANGED, group=group, actor="api:oncall-bot")
    text, blocks = group_message(request, WS)
    assert text.startswith("Snoozed: [HIGH] prod")
    shown = "<!date^1714579200^{date_short_pretty} {time}|2024-05-01T16:00:00+00:00>"
    assert blocks[1]["fields"][-1]["text"] == f"*Status*\n:zzz: Snoozed until {shown} by oncall-bot (API)"
    assert blocks[-1]["elements"] == [button("signalcraft.ack", "Ack", style="primary"),
                                      button("signalcraft.unsnooze", "Unsnooze"),
                                      button("signalcraft.resolve", "Resolve", style="danger")]
    _, blocks = group_message(make_request(group=make_group(status=GroupStatus.SNOOZED)), WS)
    assert blocks[1]["fields"][-1]["text"] == "*Status*\n:zzz: Snoozed until unsnoozed"


def test_a_resolved_group_shows_who_resolved_it_and_has_no_buttons():
    group = make_group(status=GroupStatus.RESOLVED, resolved_by="slack:T1/U7", resolved_at=T0, count=5, title="x<y")
    text, blocks = group_message(make_request(kind=NotificationKind.STATE_CHANGED, group=group,
                                              runbook_url="https://rb", mention_here=True), WS)
    assert text == "Resolved: [HIGH] prod · checkout — x&lt;y (×5)"
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "HIGH · x<y", "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": ":white_check_mark: ~x&lt;y~"},
         "fields": fields(count=5, status=f":white_check_mark: Resolved by <@U7> {DATE}")},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            "<https://sentry.example/issues/1|Open in Sentry>  ·  <https://rb|:book: Runbook>"}]},
    ]
    # A RESOLVED request is about a resolved group even with an older snapshot (source resolved).
    text, blocks = group_message(make_request(kind=NotificationKind.RESOLVED, group=make_group(link=None)), WS)
    assert text.startswith("Resolved: ") and all(b["type"] != "actions" for b in blocks)
    assert blocks[1]["fields"][-1]["text"] == "*Status*\n:white_check_mark: Resolved"


def test_flaps_and_the_assignee_are_shown_and_a_test_notification_is_labelled_and_never_mentions():
    group = make_group(reopen_count=3, flapping=True, assignee="jane <@U1>", is_test=True, severity=Severity.CRITICAL)
    text, blocks = group_message(make_request(group=group, mention_here=True), WS)
    assert text == "[TEST] [CRITICAL] prod · checkout — TimeoutError in /pay (×1)"
    assert blocks[0]["text"]["text"] == "[TEST] CRITICAL · TimeoutError in /pay"
    assert blocks[1]["text"]["text"] == ":red_circle: [TEST] *TimeoutError in /pay*"
    assert blocks[1]["fields"][-2:] == [{"type": "mrkdwn", "text": "*Reopened*\n3× · flapping"},
                                        {"type": "mrkdwn", "text": "*Assignee*\njane &lt;@U1&gt;"}]


def test_no_buttons_once_resolved_and_the_right_ones_otherwise():
    group = make_group()
    assert actions(WS, group, GroupStatus.RESOLVED) is None
    ids = {status: [e["action_id"] for e in actions(WS, group, status)["elements"]]
           for status in (GroupStatus.OPEN, GroupStatus.ACKNOWLEDGED, GroupStatus.SNOOZED)}
    assert ids == {
        GroupStatus.OPEN: ["signalcraft.ack", "signalcraft.snooze.1h", "signalcraft.snooze.4h", "signalcraft.snooze.24h",
                           "signalcraft.resolve"],
        GroupStatus.ACKNOWLEDGED: ["signalcraft.unack", "signalcraft.snooze.1h", "signalcraft.snooze.4h",
                                   "signalcraft.snooze.24h", "signalcraft.resolve"],
        GroupStatus.SNOOZED: ["signalcraft.ack", "signalcraft.unsnooze", "signalcraft.resolve"],
    }
    for ids_of_state in ids.values():  # Slack wants action ids unique within a block
        assert len(set(ids_of_state)) == len(ids_of_state)


def test_escalation_message_mentions_here_with_level_and_runbook():
    request = make_request(kind=NotificationKind.ESCALATION, group=make_group(count=9, severity=Severity.LOW),
                           mention_here=False, escalation_level=2, runbook_url="https://rb")
    text, blocks = escalation_message(request)
    assert text == "<!here> Escalation 2: nobody acknowledged [LOW] prod · checkout — TimeoutError in /pay (×9)"
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text":
            ":rotating_light: <!here> *Not acknowledged* (escalation 2) · TimeoutError in /pay"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://rb|:book: Runbook>"}]},
    ]
    _, blocks = escalation_message(make_request(kind=NotificationKind.ESCALATION, escalation_level=1))
    assert len(blocks) == 1


def test_a_reopen_reply_names_its_flap_and_mentions_here_only_while_not_flapping():
    request = make_request(kind=NotificationKind.REOPENED, flap_count=2, mention_here=True,
                           group=make_group(reopen_count=2))
    text, blocks = reopened_message(request)
    assert text == "<!here> Reopened, flap 2: [HIGH] prod · checkout — TimeoutError in /pay (×1)"
    assert blocks == [{"type": "section", "text": {"type": "mrkdwn", "text":
                       ":repeat: <!here> *Reopened*, flap 2 · TimeoutError in /pay"}}]
    flapping = request.model_copy(update={"flap_count": 5, "group": make_group(reopen_count=5, flapping=True)})
    text, blocks = reopened_message(flapping)
    assert "<!here>" not in text + str(blocks)
    assert blocks[0]["text"]["text"].startswith(":repeat: *Reopened*, flap 5 — flapping")


def test_a_snooze_expiry_reply_says_how_often_it_fired_meanwhile():
    request = make_request(kind=NotificationKind.SNOOZE_EXPIRED, fired_during_snooze=7, mention_here=True)
    text, blocks = snooze_expired_message(request)
    assert text == "<!here> Snooze ended, fired 7× meanwhile: [HIGH] prod · checkout — TimeoutError in /pay (×1)"
    assert blocks[0]["text"]["text"] == ":alarm_clock: <!here> *Snooze ended*: fired 7× while snoozed · TimeoutError in /pay"


def test_a_rejection_explains_why_nothing_changed():
    request = make_request(kind=NotificationKind.COMMAND_REJECTED, reason="already_resolved",
                           reply_to=SlackReply(response_url="https://hooks.slack.com/actions/x"),
                           group=make_group(title="<!channel>"))
    assert rejection_text(request) == "Nothing changed on “&lt;!channel&gt;”: it is already resolved."
    assert rejection_text(request.model_copy(update={"reason": "something_new"})).endswith(": something new.")


def test_build_dispatches_by_kind():
    for kind, builder in [(NotificationKind.ESCALATION, escalation_message), (NotificationKind.REOPENED, reopened_message),
                          (NotificationKind.SNOOZE_EXPIRED, snooze_expired_message)]:
        request = make_request(kind=kind, escalation_level=1)
        assert build(request, WS) == builder(request), kind
    for kind in (NotificationKind.NEW_GROUP, NotificationKind.UPDATED, NotificationKind.STATE_CHANGED,
                 NotificationKind.RESOLVED):
        request = make_request(kind=kind)
        assert build(request, WS) == group_message(request, WS), kind
    assert build(make_request(kind=NotificationKind.RESOLVED), WS)[0].startswith("Resolved: ")
    assert build(make_request(kind=NotificationKind.NEW_GROUP), WS)[1][-1]["type"] == "actions"


@pytest.mark.parametrize("hostile", [
    "x|y> <!channel> <https://evil.example.com|click here>", "<!here|here>", "<@U123>", "<#C123>", "&lt;!channel&gt;",
    "<!subteam^S123>", "a > b < c & d",
])
def test_hostile_titles_cannot_mention_anyone_or_open_links(hostile: str):
    group = make_group(title=hostile, description=hostile, project=hostile, environment=hostile, assignee=hostile)
    text, blocks = group_message(make_request(group=group), WS)
    rendered = text + json.dumps([b for b in blocks if b["type"] != "header"], ensure_ascii=False)
    theirs = re.sub(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^>]*>", "", rendered)  # ours: dates, our link
    theirs = theirs.replace("<https://sentry.example/issues/1|Open in Sentry>", "")
    assert "<" not in theirs and ">" not in theirs
    assert escape(hostile) in rendered
    for reply in (escalation_message, reopened_message, snooze_expired_message):
        shown = json.dumps(reply(make_request(group=group, escalation_level=1)))
        assert "<!channel" not in shown and "<https://evil" not in shown


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "slack://open", "mailto:a@b.c", "?orgId=1",
    "/relative", "//evil.example.com/x", "https://", "http:///path", "https://ex ample.com", "https://a.com/\u0000",
    "https://a.com/\n<!channel>", "ftp://files.example.com", "https://" + "a" * 2001, "",
])
def test_links_are_kept_only_for_http_and_https(url: str):
    assert safe_url(url) is None
    assert link(url, "Open") is None
    _, blocks = group_message(make_request(group=make_group(link=url), runbook_url=url), WS)
    assert all(b["type"] != "context" for b in blocks)


def test_a_kept_link_cannot_break_out_of_its_brackets_or_relabel_itself():
    hostile = "https://grafana.example.com/d?x=1&y=2|Click me> <!channel> <https://evil.example.com"
    assert safe_url(hostile) is None  # a URL has no spaces
    squeezed = "https://grafana.example.com/d?x=1&y=2|Click>&<!channel>"
    assert safe_url(squeezed) == "https://grafana.example.com/d?x=1&amp;y=2%7CClick&gt;&amp;&lt;!channel&gt;"
    assert link(squeezed, "Open <b>|") == (
        "<https://grafana.example.com/d?x=1&amp;y=2%7CClick&gt;&amp;&lt;!channel&gt;|Open &lt;b&gt;|>")
    assert link("HTTPS://Example.com/a", "A") == "<HTTPS://Example.com/a|A>"


def test_who_did_it_is_readable_and_inert():
    assert who("slack:T1/U42") == "<@U42>"
    assert who("slack:T1/<!channel>") == "&lt;!channel&gt;"
    assert who("api:ops <bot>") == "ops &lt;bot&gt; (API)"
    assert who("provider:pagerduty") == "Pagerduty"
    assert who("system:snooze_expired") == "SignalCraft"
    assert who(None) == "someone" and who("<!here>") == "&lt;!here&gt;"


# --- routing rules: user-group mentions and quick actions (issue 10.4) -----------------------------

def test_a_rules_user_group_is_mentioned_where_here_would_be():
    request = make_request(mention_usergroup="S0ONCALL")
    text, blocks = group_message(request, WS)
    assert text.startswith("<!subteam^S0ONCALL> ")
    assert "<!subteam^S0ONCALL> " in blocks[1]["text"]["text"]
    both = make_request(mention_here=True, mention_usergroup="S0ONCALL")
    assert group_message(both, WS)[0].startswith("<!here> <!subteam^S0ONCALL> ")
    acked = make_request(group=make_group(status=GroupStatus.ACKNOWLEDGED), mention_usergroup="S0ONCALL")
    assert "subteam" not in group_message(acked, WS)[0]  # a rewrite after an ack mentions nobody
    flapping = make_request(kind=NotificationKind.REOPENED, group=make_group(flapping=True, reopen_count=5),
                            mention_usergroup="S0ONCALL")
    assert "subteam" not in reopened_message(flapping)[0]
    assert reopened_message(make_request(kind=NotificationKind.REOPENED, mention_usergroup="S0ONCALL"))[0].startswith(
        "<!subteam^S0ONCALL> ")
    forged = make_request(mention_usergroup="S1> <!channel")
    assert "subteam" not in group_message(forged, WS)[0] and "<!channel" not in group_message(forged, WS)[0]


def test_quick_actions_are_url_buttons_in_a_block_of_their_own():
    request = make_request(link_buttons=[
        LinkButton(label="Open dashboard", url="https://grafana.example/d/x?var-project=checkout"),
        LinkButton(label="Rollback", url="https://deploy.example/rollback?g=" + GID),
        LinkButton(label="Sneaky", url="javascript:alert(1)")])
    _, blocks = group_message(request, WS)
    [links] = [b for b in blocks if b.get("block_id") == f"signalcraft.links.{GID}"]
    assert links == {"type": "actions", "block_id": f"signalcraft.links.{GID}", "elements": [
        {"type": "button", "action_id": "signalcraft.link.0", "url": "https://grafana.example/d/x?var-project=checkout",
         "text": {"type": "plain_text", "text": "Open dashboard", "emoji": True}},
        {"type": "button", "action_id": "signalcraft.link.1", "url": f"https://deploy.example/rollback?g={GID}",
         "text": {"type": "plain_text", "text": "Rollback", "emoji": True}}]}
    assert blocks[-2] == OPEN_BUTTONS  # the group's own buttons stay as they were, before the links
    assert not [b for b in group_message(make_request(), WS)[1] if b.get("block_id", "").startswith("signalcraft.links")]
