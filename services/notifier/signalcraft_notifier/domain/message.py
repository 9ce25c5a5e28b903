"""Slack messages as plain data (Block Kit dicts), built from event data only."""

from __future__ import annotations

from typing import Any

from signalcraft_schemas import Severity
from signalcraft_schemas.events import GroupSnapshot, NotificationKind, NotificationRequested

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:", Severity.HIGH: ":large_orange_circle:", Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":large_blue_circle:", Severity.INFO: ":white_circle:",
}
ACTION_ACK = "signalcraft.ack"
ACTION_SNOOZE = "signalcraft.snooze_1h"
ACTION_RESOLVE = "signalcraft.resolve"
MAX_TEXT = 2900  # Slack section text limit is 3000


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary_line(group: GroupSnapshot) -> str:
    return f"[{group.severity.upper()}] {group.environment} · {group.project} — {group.title} (×{group.count})"


def group_message(request: NotificationRequested) -> tuple[str, list[dict[str, Any]]]:
    """The message for a new group: what, where, how often, links, and the three buttons."""
    group = request.group
    severity = Severity(group.severity)
    text = summary_line(group)
    if request.mention_here:
        text = f"<!here> {text}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"{severity.upper()} · {group.title}", 150), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{SEVERITY_EMOJI[severity]} {'<!here> ' if request.mention_here else ''}*{_escape(_clip(group.title, 500))}*"},
         "fields": [
             {"type": "mrkdwn", "text": f"*Severity*\n{severity.value}"},
             {"type": "mrkdwn", "text": f"*Environment*\n{_escape(group.environment)}"},
             {"type": "mrkdwn", "text": f"*Project*\n{_escape(group.project)}"},
             {"type": "mrkdwn", "text": f"*Count*\n{group.count}"},
             {"type": "mrkdwn", "text": f"*Source*\n{_escape(group.source)}"},
             {"type": "mrkdwn", "text": f"*First seen*\n<!date^{int(group.first_seen_at.timestamp())}^{{date_short_pretty}} {{time}}|{group.first_seen_at.isoformat()}>"},
         ]},
    ]
    if group.description:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _escape(_clip(group.description, MAX_TEXT))}})
    links = []
    if group.link:
        links.append(f"<{group.link}|Open in {group.source.capitalize()}>")
    if request.runbook_url:
        links.append(f"<{request.runbook_url}|:book: Runbook>")
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "  ·  ".join(links)}]})
    value = str(group.group_id)
    blocks.append({
        "type": "actions", "block_id": f"signalcraft.group.{value}",
        "elements": [
            {"type": "button", "action_id": ACTION_ACK, "text": {"type": "plain_text", "text": "Ack"}, "style": "primary", "value": value},
            {"type": "button", "action_id": ACTION_SNOOZE, "text": {"type": "plain_text", "text": "Snooze 1h"}, "value": value},
            {"type": "button", "action_id": ACTION_RESOLVE, "text": {"type": "plain_text", "text": "Resolve"}, "style": "danger", "value": value},
        ],
    })
    return text, blocks


def resolved_message(request: NotificationRequested) -> tuple[str, list[dict[str, Any]]]:
    """The original message, rewritten once the group is resolved: no buttons left to press."""
    group = request.group
    text = f"Resolved: {summary_line(group)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":white_check_mark: *Resolved* · ~{_escape(_clip(group.title, 500))}~"},
         "fields": [
             {"type": "mrkdwn", "text": f"*Environment*\n{_escape(group.environment)}"},
             {"type": "mrkdwn", "text": f"*Project*\n{_escape(group.project)}"},
             {"type": "mrkdwn", "text": f"*Count*\n{group.count}"},
         ]},
    ]
    if group.link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{group.link}|Open in {group.source.capitalize()}>"}]})
    return text, blocks


def escalation_message(request: NotificationRequested) -> tuple[str, list[dict[str, Any]]]:
    group = request.group
    text = f"<!here> Escalation {request.escalation_level}: nobody acknowledged {summary_line(group)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":rotating_light: <!here> *Not acknowledged* (escalation {request.escalation_level}) · {_escape(_clip(group.title, 500))}"}},
    ]
    if request.runbook_url:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{request.runbook_url}|:book: Runbook>"}]})
    return text, blocks


def build(request: NotificationRequested) -> tuple[str, list[dict[str, Any]]]:
    """NEW_GROUP and UPDATED render the same message (UPDATED rewrites it with the new count)."""
    if request.kind == NotificationKind.RESOLVED:
        return resolved_message(request)
    if request.kind == NotificationKind.ESCALATION:
        return escalation_message(request)
    return group_message(request)
