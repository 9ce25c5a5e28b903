"""Slack messages as data: the whole Block Kit payload for each kind."""

from __future__ import annotations

from signalcraft_schemas import Severity
from signalcraft_schemas.events import NotificationKind
from signalcraft_notifier.domain.message import build, escalation_message, group_message, resolved_message

from ..builders import GROUP_ID, make_group, make_request

GID = str(GROUP_ID)
BUTTONS = {
    "type": "actions", "block_id": f"signalcraft.group.{GID}",
    "elements": [
        {"type": "button", "action_id": "signalcraft.ack", "text": {"type": "plain_text", "text": "Ack"},
         "style": "primary", "value": GID},
        {"type": "button", "action_id": "signalcraft.snooze_1h", "text": {"type": "plain_text", "text": "Snooze 1h"},
         "value": GID},
        {"type": "button", "action_id": "signalcraft.resolve", "text": {"type": "plain_text", "text": "Resolve"},
         "style": "danger", "value": GID},
    ],
}


def fields(environment="prod", project="checkout", count=3, severity="high"):
    return [
        {"type": "mrkdwn", "text": f"*Severity*\n{severity}"},
        {"type": "mrkdwn", "text": f"*Environment*\n{environment}"},
        {"type": "mrkdwn", "text": f"*Project*\n{project}"},
        {"type": "mrkdwn", "text": f"*Count*\n{count}"},
        {"type": "mrkdwn", "text": "*Source*\nsentry"},
        {"type": "mrkdwn", "text": "*First seen*\n<!date^1714564800^{date_short_pretty} {time}|2024-05-01T12:00:00+00:00>"},
    ]


def test_group_message_whole_payload_with_mention_link_and_runbook():
    request = make_request(group=make_group(count=3), mention_here=True, runbook_url="https://runbooks/pay")
    text, blocks = group_message(request)
    assert text == "<!here> [HIGH] prod · checkout — TimeoutError in /pay (×3)"
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "HIGH · TimeoutError in /pay", "emoji": True}},
        {"type": "section",
         "text": {"type": "mrkdwn", "text": ":large_orange_circle: <!here> *TimeoutError in /pay*"},
         "fields": fields()},
        {"type": "section", "text": {"type": "mrkdwn", "text": "upstream timed out"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            "<https://sentry.example/issues/1|Open in Sentry>  ·  <https://runbooks/pay|:book: Runbook>"}]},
        BUTTONS,
    ]


def test_group_message_without_mention_link_runbook_or_description():
    request = make_request(group=make_group(count=1, severity=Severity.LOW, link=None, description=""))
    text, blocks = group_message(request)
    assert "<!here>" not in text
    assert "<!here>" not in str(blocks)
    assert text == "[LOW] prod · checkout — TimeoutError in /pay (×1)"
    assert [b["type"] for b in blocks] == ["header", "section", "actions"]
    assert blocks[1]["text"]["text"] == ":large_blue_circle: *TimeoutError in /pay*"
    assert blocks[1]["fields"] == fields(count=1, severity="low")
    assert blocks[2] == BUTTONS


def test_group_message_runbook_only_context():
    _, blocks = group_message(make_request(group=make_group(link=None), runbook_url="https://rb"))
    assert {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://rb|:book: Runbook>"}]} in blocks


def test_group_message_escapes_mrkdwn_control_characters():
    group = make_group(title="a < b && c > d", description="<script>&", environment="pr<od>", project="x&y")
    _, blocks = group_message(make_request(group=group))
    section = blocks[1]
    assert section["text"]["text"] == ":large_orange_circle: *a &lt; b &amp;&amp; c &gt; d*"
    assert section["fields"][1]["text"] == "*Environment*\npr&lt;od&gt;"
    assert section["fields"][2]["text"] == "*Project*\nx&amp;y"
    assert blocks[2]["text"]["text"] == "&lt;script&gt;&amp;"
    # plain_text header is not mrkdwn: left as written
    assert blocks[0]["text"]["text"] == "HIGH · a < b && c > d"


def test_group_message_clips_long_titles_and_descriptions():
    group = make_group(title="T" * 1000, description="D" * 5000)
    _, blocks = group_message(make_request(group=group))
    header = blocks[0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…") and header.startswith("HIGH · TTT")
    assert blocks[1]["text"]["text"] == ":large_orange_circle: *" + "T" * 499 + "…*"
    assert blocks[2]["text"]["text"] == "D" * 2899 + "…"
    _, blocks = group_message(make_request(group=make_group(title="T" * 500)))
    assert blocks[1]["text"]["text"] == ":large_orange_circle: *" + "T" * 500 + "*"


def test_severity_emoji_per_level():
    emoji = {Severity.CRITICAL: ":red_circle:", Severity.HIGH: ":large_orange_circle:",
             Severity.MEDIUM: ":large_yellow_circle:", Severity.LOW: ":large_blue_circle:", Severity.INFO: ":white_circle:"}
    for severity, expected in emoji.items():
        _, blocks = group_message(make_request(group=make_group(severity=severity)))
        assert blocks[1]["text"]["text"].startswith(expected + " "), severity


def test_resolved_message_whole_payload_has_no_actions():
    request = make_request(kind=NotificationKind.RESOLVED, group=make_group(count=5, title="x<y"),
                           mention_here=True, runbook_url="https://rb")
    text, blocks = resolved_message(request)
    assert text == "Resolved: [HIGH] prod · checkout — x<y (×5)"
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": ":white_check_mark: *Resolved* · ~x&lt;y~"},
         "fields": [
             {"type": "mrkdwn", "text": "*Environment*\nprod"},
             {"type": "mrkdwn", "text": "*Project*\ncheckout"},
             {"type": "mrkdwn", "text": "*Count*\n5"},
         ]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://sentry.example/issues/1|Open in Sentry>"}]},
    ]
    assert all(b["type"] != "actions" for b in blocks)
    _, blocks = resolved_message(make_request(kind=NotificationKind.RESOLVED, group=make_group(link=None)))
    assert [b["type"] for b in blocks] == ["section"]


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


def test_build_dispatches_by_kind():
    for kind, builder in [(NotificationKind.NEW_GROUP, group_message), (NotificationKind.RESOLVED, resolved_message),
                          (NotificationKind.ESCALATION, escalation_message)]:
        request = make_request(kind=kind, escalation_level=1)
        assert build(request) == builder(request), kind
    assert build(make_request(kind=NotificationKind.RESOLVED))[0].startswith("Resolved: ")
    assert build(make_request(kind=NotificationKind.NEW_GROUP))[1][-1]["type"] == "actions"
