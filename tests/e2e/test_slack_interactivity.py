"""Slack buttons, end to end on the real broker and PostgreSQL: an alert's message, a click built
and signed as Slack builds it (form body, v0 signature), the group's lifecycle through grouping,
and the same message rewritten in place. Refused clicks (bad signature, stale, another team's)
change nothing."""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from signalcraft_devstack.admin import sentry_headers, wait_until
from signalcraft_devstack.fake_slack import click_payload, interaction_body, signed_headers
from signalcraft_devstack.stack import Stack

from .conftest import Tenant, make_tenant
from .sentry_payloads import event_alert

pytestmark = pytest.mark.e2e


class SlackTenant:
    """A test workspace whose Slack connection names its team, with the team's signing secret."""

    def __init__(self, stack: Stack) -> None:
        self.tenant: Tenant = make_tenant(stack)
        self.stack = stack
        self.team = f"T{secrets.token_hex(4).upper()}"
        self.signing_secret = secrets.token_hex(16)
        response = httpx.post(f"{stack.url('query-api')}/api/slack/connect", timeout=30,
                              headers={"Authorization": f"Bearer {stack.admin_token}"},
                              json={"workspace_id": self.tenant.workspace_id, "bot_token": f"xoxb-{self.team.lower()}",
                                    "signing_secret": self.signing_secret, "team_id": self.team})
        response.raise_for_status()
        self.clicks = 0

    def top_level(self) -> list[dict[str, Any]]:
        return [m for m in self.tenant.slack_messages() if not m.get("thread_ts")]

    def group(self) -> dict[str, Any] | None:
        groups = self.tenant.groups()
        return groups[0] if groups else None

    def click(self, message: dict[str, Any], action_id: str, *, team: str | None = None, secret: str | None = None,
              timestamp: int | None = None, user: str = "U0CLICKER", value: str | None = None) -> httpx.Response:
        """Press a button of `message` as Slack posts it to the app: form body, signed with `secret`."""
        self.clicks += 1
        team = team or self.team
        if value is None:
            value = next(e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                         if e["action_id"] == action_id)
        payload = click_payload(team_id=team, user_id=user, action_id=action_id, value=value,
                                channel=message["channel"], message_ts=message["ts"],
                                response_url=f"{self.stack.slack_url}/actions/{team}/{self.clicks}/token")
        body = interaction_body(payload)
        return httpx.post(f"{self.stack.url('ingest')}/slack/interactions", content=body, timeout=10,
                          headers=signed_headers(body, secret or self.signing_secret, timestamp))

    def responses(self, click: int) -> list[dict[str, Any]]:
        answers = httpx.get(f"{self.stack.slack_url}/_fake/responses", timeout=10).json()
        return [a for a in answers if a["path"] == f"/actions/{self.team}/{click}/token"]

    def stored_clicks(self) -> int:
        [(count,)] = self.tenant.sql("SELECT count(*) FROM ingest.deliveries WHERE provider = 'slack' AND workspace_id = %s",
                                     self.tenant.workspace_id)
        return int(count)

    def close(self) -> None:
        self.tenant.admin.close()


def alert(slack: SlackTenant, issue_id: str) -> dict[str, Any]:
    """One alert in; its group's one message out."""
    with httpx.Client(timeout=30) as client:
        body = event_alert(issue_id)
        response = client.post(slack.tenant.webhook_url, content=body, headers=sentry_headers(body, slack.tenant.secret))
    assert response.status_code == 202, response.text
    return wait_until(lambda: (m := slack.top_level()) and m[0], 60, what="the group's Slack message")


def button_ids(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def rewritten(slack: SlackTenant, ts: str, starts: str) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        return next((m for m in slack.top_level() if m["ts"] == ts and m["text"].startswith(starts)), None)

    return wait_until(shown, 60, what=f"the message rewritten as {starts!r}")


def timer_state(slack: SlackTenant, group_id: str) -> str | None:
    rows = slack.tenant.sql("SELECT state FROM escalator.timers WHERE kind = 'escalation' AND group_id = %s", group_id)
    return rows[0][0] if rows else None


def test_a_signed_ack_click_acknowledges_rewrites_the_message_with_who_and_cancels_the_escalation(stack: Stack) -> None:
    slack = SlackTenant(stack)
    slack.tenant.admin.add_rule(slack.tenant.workspace_id, "page", slack.tenant.channel, position=1, escalate_after="60s")
    try:
        message = alert(slack, "5500001")
        group = wait_until(slack.group, 60, what="the group")
        assert button_ids(message) == ["signalcraft.ack", "signalcraft.snooze.1h", "signalcraft.snooze.4h",
                                       "signalcraft.snooze.24h", "signalcraft.resolve"]
        wait_until(lambda: timer_state(slack, group["group_id"]) == "pending", 60, what="the escalation armed")

        click = slack.click(message, "signalcraft.ack", user="U0ACKER")
        assert (click.status_code, click.content) == (200, b"")  # answered at once; grouping decides
        acked = wait_until(lambda: (g := slack.group()) and g["status"] == "acknowledged" and g, 60,
                           what="the group acknowledged")
        assert acked["acknowledged_by"] == f"slack:{slack.team}/U0ACKER"
        shown = rewritten(slack, message["ts"], "Acknowledged: ")
        assert "Acknowledged by <@U0ACKER>" in json.dumps(shown["blocks"])
        assert button_ids(shown) == ["signalcraft.unack", "signalcraft.snooze.1h", "signalcraft.snooze.4h",
                                     "signalcraft.snooze.24h", "signalcraft.resolve"]
        wait_until(lambda: timer_state(slack, group["group_id"]) == "cancelled", 60, what="the escalation cancelled")
        assert slack.stored_clicks() == 1

        # The same button again (a double click, an old message): nothing changes, the clicker is told why.
        again = slack.click(message, "signalcraft.ack", user="U0ACKER")
        assert again.status_code == 200
        [answer] = wait_until(lambda: slack.responses(slack.clicks), 60, what="the ephemeral answer")
        assert answer["body"]["response_type"] == "ephemeral" and "already acknowledged" in answer["body"]["text"]
        assert len(slack.top_level()) == 1
        assert [m for m in slack.tenant.slack_messages() if m.get("thread_ts")] == []  # no escalation reply
    finally:
        slack.close()


def test_bad_signature_stale_timestamp_and_another_teams_click_change_nothing(stack: Stack) -> None:
    slack, other = SlackTenant(stack), SlackTenant(stack)
    try:
        message = alert(slack, "5500002")
        refused = {
            "bad signature": slack.click(message, "signalcraft.ack", secret="not-the-signing-secret"),
            "stale timestamp": slack.click(message, "signalcraft.ack", timestamp=int(time.time()) - 301),
            "unsigned team": slack.click(message, "signalcraft.ack", team="T0NOBODY"),
        }
        assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 401)
        # Another team, correctly signed with its own secret, pressing this workspace's button:
        foreign = slack.click(message, "signalcraft.ack", team=other.team, secret=other.signing_secret)
        assert foreign.status_code == 200
        assert foreign.json() == {"response_type": "ephemeral", "replace_original": False,
                                  "text": "this Slack team cannot act on that alert"}
        unknown = slack.click(message, "signalcraft.delete", value=button_value(message, "signalcraft.ack"))
        assert unknown.status_code == 200 and unknown.json()["response_type"] == "ephemeral"
        time.sleep(3.0)  # a command would have reached grouping and the message by now
        group = slack.group()
        assert group is not None and group["status"] == "open" and not group.get("acknowledged_by")
        [shown] = slack.top_level()
        assert shown["ts"] == message["ts"] and not shown["text"].startswith("Acknowledged")
        assert "signalcraft.ack" in button_ids(shown)
        assert slack.stored_clicks() == 0 and other.stored_clicks() == 0
    finally:
        slack.close()
        other.close()


def button_value(message: dict[str, Any], action_id: str) -> str:
    return next(e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == action_id)


def test_snooze_by_button_then_unsnooze(stack: Stack) -> None:
    slack = SlackTenant(stack)
    try:
        message = alert(slack, "5500003")
        clicked_at = datetime.now().astimezone()
        assert slack.click(message, "signalcraft.snooze.1h", user="U0SNOOZER").status_code == 200
        snoozed = wait_until(lambda: (g := slack.group()) and g["status"] == "snoozed" and g, 60,
                             what="the group snoozed")
        until = datetime.fromisoformat(snoozed["snoozed_until"])
        assert abs(until - (clicked_at + timedelta(hours=1))) < timedelta(minutes=2)
        shown = rewritten(slack, message["ts"], "Snoozed: ")
        assert "Snoozed until" in json.dumps(shown["blocks"]) and "<@U0SNOOZER>" in json.dumps(shown["blocks"])
        assert button_ids(shown) == ["signalcraft.ack", "signalcraft.unsnooze", "signalcraft.resolve"]

        assert slack.click(shown, "signalcraft.unsnooze", user="U0SNOOZER").status_code == 200
        wait_until(lambda: (g := slack.group()) and g["status"] == "open", 60, what="the group open again")
        reopened = wait_until(lambda: (m := slack.top_level()) and m[0]["ts"] == message["ts"]
                              and "signalcraft.snooze.1h" in button_ids(m[0]) and m[0], 60, what="the open message")
        assert button_ids(reopened)[0] == "signalcraft.ack" and ":rotating_light: Open" in json.dumps(reopened["blocks"])
        assert len(slack.top_level()) == 1 and slack.stored_clicks() == 2
    finally:
        slack.close()


def test_a_resolve_click_resolves_and_leaves_no_buttons(stack: Stack) -> None:
    slack = SlackTenant(stack)
    try:
        message = alert(slack, "5500004")
        assert slack.click(message, "signalcraft.resolve", user="U0FIXER").status_code == 200
        wait_until(lambda: (g := slack.group()) and g["status"] == "resolved", 60, what="the group resolved")
        shown = rewritten(slack, message["ts"], "Resolved: ")
        assert button_ids(shown) == [] and "Resolved by <@U0FIXER>" in json.dumps(shown["blocks"])
        assert len(slack.top_level()) == 1
    finally:
        slack.close()

