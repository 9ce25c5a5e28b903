"""Slack messages as plain data (Block Kit dicts), built from event data only.

A group has one top-level message while it lives. Every change rewrites it in place, rendered from
the group's snapshot alone: its state (who, when), count, last seen, flaps, a TEST label for a
provider's test notification, and the buttons of that state. Reopens, snooze expiries and
escalations are thread replies; a refused click is answered to its clicker only (ephemeral).

Whatever a payload controls (titles, descriptions, names, links) is escaped for mrkdwn (`&`, `<`,
`>`, as Slack's formatting rules ask), and a link is kept only for an http(s) URL, percent-encoding
`|`, so an alert cannot mention @channel, open a link of its own, or hide one behind other text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from signalcraft_schemas import Severity
from signalcraft_schemas.events import GroupSnapshot, GroupStatus, NotificationKind, NotificationRequested

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:", Severity.HIGH: ":large_orange_circle:", Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":large_blue_circle:", Severity.INFO: ":white_circle:",
}
ACTION_ACK = "signalcraft.ack"
ACTION_UNACK = "signalcraft.unack"
ACTION_SNOOZE = "signalcraft.snooze"  # one button per duration: signalcraft.snooze.<label> (ids unique per block)
ACTION_UNSNOOZE = "signalcraft.unsnooze"
ACTION_RESOLVE = "signalcraft.resolve"
SNOOZE_CHOICES = (("1h", 3600), ("4h", 4 * 3600), ("24h", 24 * 3600))
MAX_TEXT = 2900  # Slack section text limit is 3000
MAX_URL = 2000
TEST_LABEL = "[TEST]"
REJECTION_REASONS = {
    "already_resolved": "it is already resolved", "already_acknowledged": "it is already acknowledged",
    "not_acknowledged": "it is not acknowledged", "not_snoozed": "it is not snoozed",
    "already_snoozed": "it is already snoozed", "unknown_group": "SignalCraft does not know this alert (any more)",
}
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{1,20}")

Blocks = list[dict[str, Any]]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's mrkdwn control characters, as its formatting rules ask: &, <, > only."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_url(url: str | None) -> str | None:
    """An http(s) URL ready to put between < and >, or None: other schemes (javascript:, slack:,
    mailto:...), relative links, spaces and control characters are dropped, `|` (which would end
    the URL and start the label) is percent-encoded, and &, <, > are escaped."""
    if not url or len(url) > MAX_URL or any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return escape(url).replace("|", "%7C")


def link(url: str | None, label: str) -> str | None:
    """<url|label> for a safe URL, else None; the label is escaped."""
    safe = safe_url(url)
    return f"<{safe}|{escape(label)}>" if safe else None


def slack_date(at: datetime) -> str:
    """Shown in each reader's own time zone; the ISO time is the fallback."""
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{at.isoformat()}>"


def who(actor: str | None) -> str:
    """A person or a system, readable and inert: "slack:T1/U42" is <@U42> (a rewrite notifies nobody)."""
    if not actor:
        return "someone"
    kind, _, name = actor.partition(":")
    if kind == "slack":
        user = name.rpartition("/")[2]
        return f"<@{user}>" if _SLACK_USER.fullmatch(user) else escape(user)
    if kind == "api":
        return f"{escape(name)} (API)"
    if kind == "provider":
        return escape(name.capitalize())
    if kind == "system":
        return "SignalCraft"
    return escape(actor)


def status_of(request: NotificationRequested) -> GroupStatus:
    """A RESOLVED request is about a resolved group, whatever an older snapshot says."""
    return GroupStatus.RESOLVED if request.kind == NotificationKind.RESOLVED else GroupStatus(request.group.status)


def summary_line(group: GroupSnapshot) -> str:
    test = f"{TEST_LABEL} " if group.is_test else ""
    return (f"{test}[{group.severity.upper()}] {escape(group.environment)} · {escape(group.project)} — "
            f"{escape(group.title)} (×{group.count})")


def status_text(request: NotificationRequested) -> str:
    """Who put the group in its state, and when (or until when)."""
    group, status = request.group, status_of(request)
    if status == GroupStatus.ACKNOWLEDGED:
        when = f" {slack_date(group.acknowledged_at)}" if group.acknowledged_at else ""
        return f":eyes: Acknowledged by {who(group.acknowledged_by or request.actor)}{when}"
    if status == GroupStatus.SNOOZED:
        until = f"until {slack_date(group.snoozed_until)}" if group.snoozed_until else "until unsnoozed"
        by = f" by {who(request.actor)}" if request.actor and request.kind == NotificationKind.STATE_CHANGED else ""
        return f":zzz: Snoozed {until}{by}"
    if status == GroupStatus.RESOLVED:
        when = f" {slack_date(group.resolved_at)}" if group.resolved_at else ""
        by = f" by {who(group.resolved_by or request.actor)}" if (group.resolved_by or request.actor) else ""
        return f":white_check_mark: Resolved{by}{when}"
    return ":rotating_light: Open"


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id,
                              "text": {"type": "plain_text", "text": label}, "value": value}
    if style:
        button["style"] = style
    return button


def button_value(workspace_id: str, group: GroupSnapshot, seconds: int | None = None) -> str:
    """What ingest reads back from a click: the workspace, group id and key (and a snooze's length)."""
    value: dict[str, Any] = {"w": workspace_id, "g": str(group.group_id), "k": group.group_key}
    if seconds is not None:
        value["s"] = seconds
    return orjson.dumps(value).decode()


def actions(workspace_id: str, group: GroupSnapshot, status: GroupStatus) -> dict[str, Any] | None:
    """The buttons of a state: Ack (Unack once acked, or while snoozed Ack), Snooze 1h/4h/24h
    (Unsnooze once snoozed), Resolve; none once resolved."""
    if status == GroupStatus.RESOLVED:
        return None
    plain = button_value(workspace_id, group)
    first = (_button(ACTION_UNACK, "Unack", plain) if status == GroupStatus.ACKNOWLEDGED
             else _button(ACTION_ACK, "Ack", plain, "primary"))
    snooze = ([_button(ACTION_UNSNOOZE, "Unsnooze", plain)] if status == GroupStatus.SNOOZED
              else [_button(f"{ACTION_SNOOZE}.{label}", f"Snooze {label}", button_value(workspace_id, group, seconds))
                    for label, seconds in SNOOZE_CHOICES])
    return {"type": "actions", "block_id": f"signalcraft.group.{group.group_id}",
            "elements": [first, *snooze, _button(ACTION_RESOLVE, "Resolve", plain, "danger")]}


def _links(request: NotificationRequested) -> list[str]:
    group = request.group
    found = [link(group.link, f"Open in {group.source.capitalize()}"), link(request.runbook_url, ":book: Runbook")]
    return [f for f in found if f]


def group_fields(request: NotificationRequested) -> Blocks:
    group, severity = request.group, Severity(request.group.severity)
    fields = [
        {"type": "mrkdwn", "text": f"*Severity*\n{severity.value}"},
        {"type": "mrkdwn", "text": f"*Environment*\n{escape(group.environment)}"},
        {"type": "mrkdwn", "text": f"*Project*\n{escape(group.project)}"},
        {"type": "mrkdwn", "text": f"*Count*\n{group.count}"},
        {"type": "mrkdwn", "text": f"*Source*\n{escape(group.source)}"},
        {"type": "mrkdwn", "text": f"*First seen*\n{slack_date(group.first_seen_at)}"},
        {"type": "mrkdwn", "text": f"*Last seen*\n{slack_date(group.last_seen_at)}"},
        {"type": "mrkdwn", "text": f"*Status*\n{status_text(request)}"},
    ]
    if group.reopen_count:
        flapping = " · flapping" if group.flapping else ""
        fields.append({"type": "mrkdwn", "text": f"*Reopened*\n{group.reopen_count}×{flapping}"})
    if group.assignee:
        fields.append({"type": "mrkdwn", "text": f"*Assignee*\n{escape(_clip(group.assignee, 200))}"})
    return fields


def group_message(request: NotificationRequested, workspace_id: str) -> tuple[str, Blocks]:
    """The group's one top-level message, as its state stands: what, where, how often, who did
    what, links, and the buttons of the state (none once resolved)."""
    group, status = request.group, status_of(request)
    severity = Severity(group.severity)
    mention = mentions(request, status == GroupStatus.OPEN and not group.is_test)
    prefix = "" if status == GroupStatus.OPEN else f"{status.value.capitalize()}: "
    text = f"{mention}{prefix}{summary_line(group)}"
    test = f"{TEST_LABEL} " if group.is_test else ""
    title = _clip(group.title, 500)
    shown = f"~{escape(title)}~" if status == GroupStatus.RESOLVED else f"*{escape(title)}*"
    emoji = ":white_check_mark:" if status == GroupStatus.RESOLVED else SEVERITY_EMOJI[severity]
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"{test}{severity.upper()} · {group.title}", 150),
                                    "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} {mention}{test}{shown}"},
         "fields": group_fields(request)},
    ]
    if group.description and status != GroupStatus.RESOLVED:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": escape(_clip(group.description, MAX_TEXT))}})
    if links := _links(request):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "  ·  ".join(links)}]})
    if (buttons := actions(workspace_id, group, status)) is not None:
        blocks.append(buttons)
    if (quick := quick_actions(request)) is not None:
        blocks.append(quick)
    return text, blocks


_USERGROUP = re.compile(r"S[A-Z0-9]{2,20}")
MAX_BUTTON_URL = 3000  # Slack's limit for a button's url
MAX_LINK_BUTTONS = 5


def mentions(request: NotificationRequested, allowed: bool) -> str:
    """"<!here> " and/or the rule's user group ("<!subteam^S…> ") when the request mentions and `allowed`."""
    if not allowed:
        return ""
    group = request.mention_usergroup
    usergroup = f"<!subteam^{group}> " if group and _USERGROUP.fullmatch(group) else ""
    return ("<!here> " if request.mention_here else "") + usergroup


def quick_actions(request: NotificationRequested) -> dict[str, Any] | None:
    """The rule's quick actions as URL buttons (their URLs filled from the group by the router);
    a URL that is not a plain http(s) URL is left out."""
    buttons = [{"type": "button", "action_id": f"signalcraft.link.{n}", "url": b.url,
                "text": {"type": "plain_text", "text": _clip(b.label, 75), "emoji": True}}
               for n, b in enumerate(request.link_buttons[:MAX_LINK_BUTTONS]) if _button_url(b.url)]
    if not buttons:
        return None
    return {"type": "actions", "block_id": f"signalcraft.links.{request.group.group_id}", "elements": buttons}


def _button_url(url: str) -> bool:
    if len(url) > MAX_BUTTON_URL or any(c.isspace() or not c.isprintable() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


_ESCALATION_TARGET = re.compile(r"<@[UW][A-Z0-9]{2,20}>|<!subteam\^S[A-Z0-9]{2,20}>|#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{2,20}")


def _target(target: str) -> str | None:
    """A target as mrkdwn: people and user groups mention, a channel id links; anything else is dropped
    (the escalator sends only validated targets; this keeps a message from mentioning more)."""
    if not _ESCALATION_TARGET.fullmatch(target):
        return None
    return f"<#{target}>" if target[0] in "CG" else target


def escalation_message(request: NotificationRequested) -> tuple[str, Blocks]:
    """An escalation step: a thread reply broadcast to the group's channel, or (`group_channel` set) a
    message of its own in another target channel that names where the group is. It mentions the step's
    people and user groups; @here when the step names the channel itself, or nobody (one-level escalation)."""
    group = request.group
    targets = [shown for t in request.escalation_targets if (shown := _target(t))]
    here = "<!here> " if request.mention_here or not targets else ""
    who = here + "".join(f"{t} " for t in targets)
    where = f" (in {_target(request.group_channel) or escape(request.group_channel)})" if request.group_channel else ""
    text = f"{who}Escalation {request.escalation_level}: nobody acknowledged {summary_line(group)}{where}"
    line = (f":rotating_light: {who}*Not acknowledged* (escalation {request.escalation_level}) · "
            f"{escape(_clip(group.title, 500))}{where}")
    blocks: Blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": line}}]
    if request.group_channel and (source := link(group.link, "Open the alert")):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": source}]})
    if runbook := link(request.runbook_url, ":book: Runbook"):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": runbook}]})
    return text, blocks


def reopened_message(request: NotificationRequested) -> tuple[str, Blocks]:
    """The thread reply of a reopen: which flap; no @here once it flaps (or for a test)."""
    group = request.group
    flaps = request.flap_count or group.reopen_count or 1
    mention = mentions(request, not group.flapping and not group.is_test)
    damped = " — flapping: no more @here or escalation until it settles" if group.flapping else ""
    line = f":repeat: {mention}*Reopened*, flap {flaps}{damped} · {escape(_clip(group.title, 500))}"
    return f"{mention}Reopened, flap {flaps}: {summary_line(group)}", [
        {"type": "section", "text": {"type": "mrkdwn", "text": line}}]


def snooze_expired_message(request: NotificationRequested) -> tuple[str, Blocks]:
    """The thread reply when a snooze ends on a group that kept firing meanwhile."""
    group = request.group
    fired = request.fired_during_snooze or 0
    mention = mentions(request, not group.is_test)
    line = (f":alarm_clock: {mention}*Snooze ended*: fired {fired}× while snoozed · "
            f"{escape(_clip(group.title, 500))}")
    return f"{mention}Snooze ended, fired {fired}× meanwhile: {summary_line(group)}", [
        {"type": "section", "text": {"type": "mrkdwn", "text": line}}]


def severity_raised_message(request: NotificationRequested) -> tuple[str, Blocks]:
    """The thread reply (broadcast to the channel) when the severity bump raised the group: to what,
    and why (`reason`, e.g. "12 alerts within 5m in prod"); @here when it reaches high or critical."""
    group = request.group
    severity = Severity(group.severity)
    mention = "<!here> " if request.mention_here and not group.is_test else ""
    why = f": {escape(_clip(request.reason, 300))}" if request.reason else ""
    line = (f":arrow_double_up: {mention}*Severity raised to {severity.value}*{why} · "
            f"{escape(_clip(group.title, 500))}")
    return f"{mention}Severity raised to {severity.value}{why}: {summary_line(group)}", [
        {"type": "section", "text": {"type": "mrkdwn", "text": line}}]


def rejection_text(request: NotificationRequested) -> str:
    """The ephemeral answer to a click that changed nothing."""
    reason = request.reason or "nothing to change"
    why = REJECTION_REASONS.get(reason, escape(reason.replace("_", " ")))
    return f"Nothing changed on “{escape(_clip(request.group.title, 200))}”: {why}."


def build(request: NotificationRequested, workspace_id: str) -> tuple[str, Blocks]:
    """What a request posts: a reply for an escalation, reopen or snooze expiry; the group's message
    (as its state stands) for everything else."""
    if request.kind == NotificationKind.ESCALATION:
        return escalation_message(request)
    if request.kind == NotificationKind.REOPENED:
        return reopened_message(request)
    if request.kind == NotificationKind.SNOOZE_EXPIRED:
        return snooze_expired_message(request)
    if request.kind == NotificationKind.SEVERITY_RAISED:
        return severity_raised_message(request)
    return group_message(request, workspace_id)
