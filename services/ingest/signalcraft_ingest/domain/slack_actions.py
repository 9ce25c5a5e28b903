"""Slack interactivity (`block_actions`): reading a click, deciding what it may act on, and the
GroupCommand it becomes. Pure: the HMAC itself is slack-sdk's (adapters/slack_interactions.py);
`now` is passed in.

Slack posts the click as a form body, `payload=<url-encoded JSON>`, signed over the raw bytes with
the Slack app's signing secret (v0, 5-minute window; ../shared/fixtures/SIGNATURES.md). Order of the
checks: the signature headers and their freshness (401), the payload's team (to find the signing
secrets to try), the signature (401), then the click itself. A verified click that may not act, or
that we cannot read, is answered with an ephemeral message (HTTP 200), never an error status: Slack
shows the person nothing useful for those.

The notifier builds the buttons (signalcraft_notifier.domain.message): `action_id`
"signalcraft.<action>" (snooze: "signalcraft.snooze.<label>", as Slack wants action ids unique within
a block) and `value` compact JSON {"w": workspace, "g": group id, "k": group key, "s": seconds}.
The value is trusted only after the signature verified with the secret of a Slack connection of
workspace "w": a team cannot act on another workspace's groups. A rule's quick-action link buttons
("signalcraft.link.<n>", with a `url`) only open their link in the browser, yet Slack sends a
block_actions for them too: such a click is acknowledged (200) and nothing else.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import orjson

from signalcraft_schemas import Envelope
from signalcraft_schemas.events import GroupAction, GroupCommand, SlackReply

from .errors import AuthenticationFailed, MalformedPayload

SIGNATURE_WINDOW = timedelta(minutes=5)  # Slack's, and slack-sdk's SignatureVerifier's
TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_SLACK_ID = re.compile(r"#?[A-Za-z0-9_.:-]{1,128}")  # team, user, channel ids (or #names), timestamps, trigger ids
ACTIONS = {
    "signalcraft.ack": GroupAction.ACK, "signalcraft.unack": GroupAction.UNACK,
    "signalcraft.snooze": GroupAction.SNOOZE, "signalcraft.unsnooze": GroupAction.UNSNOOZE,
    "signalcraft.resolve": GroupAction.RESOLVE,
}
LINK_ACTION_PREFIX = "signalcraft.link."  # a URL button: Slack opens the link, we have nothing to do
MIN_SNOOZE_S, MAX_SNOOZE_S = 60, 30 * 24 * 3600
COMMAND_NAMESPACE = uuid.UUID("0d6f7c8e-5b7a-4f1e-9a43-2f1c6b0e9d21")


class ClickRefused(Exception):
    """A verified click we do not act on; `reason` is shown to the person, ephemerally."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignatureHeaders:
    timestamp: str
    signature: str


@dataclass(frozen=True)
class ButtonValue:
    workspace_id: str
    group_id: uuid.UUID
    group_key: str
    snooze_seconds: int | None = None


@dataclass(frozen=True)
class Click:
    """One button press, as Slack described it (not yet checked against any workspace)."""

    team_id: str
    user_id: str
    action_id: str
    value: str
    action_ts: str
    trigger_id: str | None = None
    response_url: str | None = None
    channel_id: str | None = None
    message_ts: str | None = None

    @property
    def actor(self) -> str:
        return f"slack:{self.team_id}/{self.user_id}"

    @property
    def delivery_key(self) -> str:
        """One key per press: a replayed (still signed, still fresh) body is stored and acted on once."""
        return f"{self.team_id}:{self.trigger_id or ''}:{self.action_id}:{self.action_ts}"


def signature_headers(headers: Mapping[str, str], now: datetime) -> SignatureHeaders:
    """Slack's signature headers, present, well-formed and within the window; else AuthenticationFailed."""
    timestamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise AuthenticationFailed("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise AuthenticationFailed("X-Slack-Request-Timestamp is not a Unix time")
    if abs(now.timestamp() - int(timestamp)) > SIGNATURE_WINDOW.total_seconds():
        raise AuthenticationFailed("X-Slack-Request-Timestamp is outside the 5-minute window")
    if not _SIGNATURE.fullmatch(signature):
        raise AuthenticationFailed("X-Slack-Signature is not a v0 signature")
    return SignatureHeaders(timestamp, signature)


def read_payload(body: bytes) -> dict[str, Any]:
    """The JSON object in the form body's `payload` field; MalformedPayload otherwise."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload(f"not a form body: {exc}") from None
    fields = form.get("payload")
    if not fields or len(fields) != 1:
        raise MalformedPayload("no payload field")
    try:
        payload = orjson.loads(fields[0])
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedPayload("payload is not a JSON object")
    return payload


def team_of(payload: Mapping[str, Any]) -> str:
    """The Slack team the request comes from: whose signing secrets to try."""
    team_id = _slack_id(payload.get("team"), "id")
    if team_id is None:
        raise MalformedPayload("payload has no team.id")
    return team_id


def _field(container: Any, key: str) -> Any:
    return container.get(key) if isinstance(container, dict) else None


def _text(container: Any, key: str) -> str | None:
    value = _field(container, key)
    return value if isinstance(value, str) and value else None


def _slack_id(container: Any, key: str) -> str | None:
    """An id or timestamp as Slack writes them; anything else (control characters...) is not one."""
    value = _text(container, key)
    return value if value is not None and _SLACK_ID.fullmatch(value) else None


def _label(container: Any, key: str) -> str | None:
    """Free text Slack passes back as given (action ids such as "=tU"): printable and short."""
    value = _text(container, key)
    return value if value is not None and len(value) <= 255 and value.isprintable() else None


def read_click(payload: Mapping[str, Any]) -> Click:
    """The (first) button press of a verified block_actions payload."""
    if payload.get("type") != "block_actions":
        raise ClickRefused(f"SignalCraft does not handle {str(payload.get('type'))[:40]!r} interactions")
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    user_id = _slack_id(payload.get("user"), "id")
    action_id, action_ts = _label(action, "action_id"), _slack_id(action, "action_ts")
    if user_id is None or action_id is None or action_ts is None:
        raise ClickRefused("this click could not be read (no user or action)")
    container = payload.get("container")
    return Click(
        team_id=team_of(payload), user_id=user_id, action_id=action_id, action_ts=action_ts,
        value=_text(action, "value") or _text(_field(action, "selected_option"), "value") or "",
        trigger_id=_slack_id(payload, "trigger_id"), response_url=_text(payload, "response_url"),
        channel_id=_slack_id(payload.get("channel"), "id") or _slack_id(container, "channel_id"),
        message_ts=_slack_id(container, "message_ts"))


def opens_a_link(click: Click) -> bool:
    """A quick-action link button: acknowledged silently (no command, no answer to the person)."""
    return click.action_id.startswith(LINK_ACTION_PREFIX)


def action_of(action_id: str) -> GroupAction:
    """signalcraft.<action>, or signalcraft.snooze.<label> for one of the snooze buttons."""
    base = "signalcraft.snooze" if action_id.startswith("signalcraft.snooze.") else action_id
    action = ACTIONS.get(base)
    if action is None:
        raise ClickRefused(f"unknown action {action_id[:60]!r}")
    return action


def button_value(raw: str) -> ButtonValue:
    try:
        value = orjson.loads(raw)
        workspace, group_id, group_key = value["w"], uuid.UUID(str(value["g"])), value["k"]
        seconds = value.get("s")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise ClickRefused("this button is from an older message; use the buttons of the current one") from None
    if not (isinstance(workspace, str) and workspace and isinstance(group_key, str) and group_key):
        raise ClickRefused("this button does not name a group")
    if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool)):
        raise ClickRefused("this snooze button has no duration")
    return ButtonValue(workspace, group_id, group_key, seconds)


def command_for(click: Click, verified_workspaces: frozenset[str], now: datetime) -> Envelope[GroupCommand]:
    """The GroupCommand a verified click asks for, in the workspace its button names, which must be
    one of the workspaces whose Slack signing secret verified the request."""
    action = action_of(click.action_id)
    value = button_value(click.value)
    if value.workspace_id not in verified_workspaces:
        raise ClickRefused("this Slack team cannot act on that alert")
    until = None
    if action is GroupAction.SNOOZE:
        if value.snooze_seconds is None or not MIN_SNOOZE_S <= value.snooze_seconds <= MAX_SNOOZE_S:
            raise ClickRefused("a snooze lasts from a minute to 30 days")
        until = now + timedelta(seconds=value.snooze_seconds)
    reply = SlackReply(response_url=click.response_url, channel=click.channel_id, user=click.user_id) \
        if click.response_url else None
    command = GroupCommand(
        command_id=uuid.uuid5(COMMAND_NAMESPACE, click.delivery_key), group_id=value.group_id,
        group_key=value.group_key, action=action, actor=click.actor, snooze_until=until, reply_to=reply)
    return Envelope.wrap(command, workspace_id=value.workspace_id, key=value.group_key,
                         correlation_id=f"slack:{click.delivery_key}", occurred_at=now)


def ephemeral(text: str) -> dict[str, Any]:
    """An answer only the person who clicked sees; the message they clicked stays as it is."""
    return {"response_type": "ephemeral", "replace_original": False, "text": text}
